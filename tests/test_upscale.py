"""``mgbp_classic.pipeline.upscale.upscale``: methods, colour/alpha handling, the registry, validation."""
import numpy as np
import pytest

import mgbp_classic
from mgbp_classic.pipeline import upscale as up
from mgbp_classic.imaging.io import read_image
from mgbp_classic.resize import imresize
from mgbp_classic.pipeline.upscale import upscale


@pytest.fixture(scope="module")
def rgb():
    return read_image(mgbp_classic.sample_image_path())[:20, :28]        # (20, 28, 3)


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, restored after the test."""
    monkeypatch.setattr(up, "_REGISTRY", dict(up._REGISTRY))
    return up._REGISTRY


def test_builtin_methods_are_registered():
    assert up.available_methods()[:3] == ["bicubic", "ibp", "mgbp"]
    assert up.DEFAULT_METHOD in up.available_methods()
    assert up.default_iterations("bicubic") is None
    assert up.default_iterations("ibp") == up.IBP_DEFAULT_ITERATIONS >= 1
    assert up.default_iterations("mgbp") == up.MGBP_DEFAULT_ITERATIONS >= 1


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_bicubic_is_one_matlab_imresize(rgb, levels):
    out = upscale(rgb, levels=levels, method="bicubic")
    np.testing.assert_array_equal(out, np.clip(imresize(rgb, 2 ** levels), 0, 1))


@pytest.mark.parametrize("method", ["bicubic", "ibp", "mgbp"])
def test_levels_shapes_and_final_level(rgb, method):
    levels = upscale(rgb, levels=3, method=method, mu=1, return_levels=True)
    assert [lv.shape for lv in levels] == [(40, 56, 3), (80, 112, 3), (160, 224, 3)]
    for lv in levels:
        assert lv.dtype == np.float64 and lv.min() >= 0 and lv.max() <= 1
    np.testing.assert_array_equal(levels[-1], upscale(rgb, levels=3, method=method, mu=1))


def test_ibp_levels_are_ibp_at_each_factor(rgb):
    levels = upscale(rgb, levels=2, method="ibp", iterations=4, return_levels=True)
    np.testing.assert_array_equal(levels[0], upscale(rgb, levels=1, method="ibp", iterations=4))


@pytest.mark.parametrize("mu", [1, 2, 3])
def test_mgbp_one_level_is_ibp_with_mu_iterations(rgb, mu):
    # Algorithm 1 with L = 2 is classic IBP (eqs. 2-3) with µ steps from the bicubic start
    mg = upscale(rgb, levels=1, method="mgbp", mu=mu, iterations=1)
    ib = upscale(rgb, levels=1, method="ibp", iterations=mu)
    np.testing.assert_allclose(mg, ib, rtol=0, atol=1e-12)


def test_zero_iterations_is_the_bicubic_start(rgb):
    np.testing.assert_allclose(upscale(rgb, levels=2, method="ibp", iterations=0),
                               upscale(rgb, levels=2, method="bicubic"), atol=1e-12)


def test_back_projection_enforces_the_downscaling_model(rgb):
    """IBP drives the LR residual ‖X − D(Y)‖ well below that of the bicubic start."""
    def lr_residual(y):
        return np.sqrt(np.mean((imresize(y, 0.25) - rgb) ** 2))
    bicubic = lr_residual(upscale(rgb, levels=2, method="bicubic"))
    assert lr_residual(upscale(rgb, levels=2, method="ibp", iterations=20)) < 0.2 * bicubic


def test_classic_methods_beat_bicubic_on_set5(data_dir):
    """Mean PSNR and SSIM over Set5 at ×4 under the standard protocol (the benchmark's claim, small)."""
    images = [read_image(p) for p in sorted((data_dir / "test" / "Set5").glob("*.png"))]
    scores = {}
    for method, mu in (("bicubic", 2), ("ibp", 2), ("mgbp", 1), ("mgbp", 2)):
        runs = [up.evaluate_image(hr, scale=4, method=method, mu=mu) for hr in images]
        scores[method, mu] = (np.mean([r["psnr"] for r in runs]), np.mean([r["ssim"] for r in runs]))
    base_psnr, base_ssim = scores["bicubic", 2]
    assert base_psnr == pytest.approx(28.42, abs=0.015)       # ../shared/data/README.md
    for key, (psnr, ssim) in scores.items():
        if key[0] != "bicubic":
            assert psnr > base_psnr + 0.3 and ssim > base_ssim + 0.005, (key, psnr, ssim, base_psnr, base_ssim)


# ------------------------------------------------------------------------------------------------
# colour, alpha, dtype

@pytest.mark.parametrize("method", ["bicubic", "ibp", "mgbp"])
def test_greyscale_is_each_channel(rgb, method):
    grey = rgb[..., 1]
    out = upscale(grey, levels=2, method=method)
    assert out.shape == (80, 112)
    np.testing.assert_allclose(out, upscale(rgb, levels=2, method=method)[..., 1], atol=1e-12)
    out1 = upscale(grey[..., None], levels=2, method=method)
    assert out1.shape == (80, 112, 1)
    np.testing.assert_array_equal(out1[..., 0], out)


@pytest.mark.parametrize("method", ["bicubic", "mgbp"])
def test_alpha_by_the_linear_method_and_colour_premultiplied(rgb, method):
    alpha = np.linspace(0, 1, rgb.shape[1])[None, :].repeat(rgb.shape[0], axis=0)
    alpha[5:9, 5:9] = 0.0                                       # a hole: bicubic overshoots around it
    out = upscale(np.dstack([rgb, alpha]), levels=2, method=method, return_levels=True)
    alone = upscale(alpha, levels=2, method=method, return_levels=True)
    for k, level in enumerate(out, start=1):
        assert level.shape[2] == 4
        np.testing.assert_array_equal(level[..., 3], alone[k - 1])          # alpha: the method, clipped
    assert imresize(alpha, 4).min() < 0 and out[-1][..., 3].min() == 0      # the clip did something
    # the method saw colour x alpha: the result times the upscaled alpha is the method's output on it
    premult = upscale(rgb * alpha[..., None], levels=2, method=method)
    a = out[-1][..., 3:]
    visible = (a[..., 0] > 0.1) & (out[-1][..., :3] < 1).all(axis=2) & (premult > 0).all(axis=2)
    np.testing.assert_allclose((out[-1][..., :3] * a)[visible], premult[visible], atol=1e-12)
    opaque = upscale(np.dstack([rgb, np.ones(rgb.shape[:2])]), levels=2, method=method)
    np.testing.assert_array_equal(opaque[..., :3], upscale(rgb, levels=2, method=method))
    grey_alpha = upscale(np.dstack([rgb[..., 0], np.ones(rgb.shape[:2])]), levels=1, method=method)
    assert grey_alpha.shape == (40, 56, 2)
    np.testing.assert_array_equal(grey_alpha[..., 0], upscale(rgb[..., 0], levels=1, method=method))


def test_float32_stays_float32_and_output_is_clipped(rgb):
    out = upscale(rgb.astype(np.float32), levels=1, method="ibp")
    assert out.dtype == np.float32
    edge = np.zeros((16, 16))
    edge[:, 8:] = 1.0                                           # a step: IBP overshoots it
    assert imresize(edge, 4).max() > 1
    out = upscale(edge, levels=2, method="ibp")
    assert out.min() == 0.0 and out.max() == 1.0


# ------------------------------------------------------------------------------------------------
# registry

def test_register_method(rgb, registry):
    calls = []

    def half(image, *, levels, mu, strength=0):               # its options: its keyword parameters
        calls.append((levels, mu, {"strength": strength}))
        return [np.full((image.shape[0] << k, image.shape[1] << k) + image.shape[2:], 0.5)
                for k in range(1, levels + 1)]

    entry = up.register_method("half", half, description="constant grey")
    assert entry.name == "half" and "half" in up.available_methods() and entry.options == ("strength",)
    out = upscale(np.dstack([rgb, np.ones(rgb.shape[:2])]), levels=2, method="half", mu=3, strength=1)
    assert out.shape == (80, 112, 4) and np.all(out[..., :3] == 0.5) and np.all(out[..., 3] == 1)
    assert calls == [(2, 3, {"strength": 1})]
    with pytest.raises(ValueError, match=r"^color is not an option of method 'half' \(it takes strength\), got color=True"):
        upscale(rgb, levels=1, method="half", color=True)
    with pytest.raises(ValueError, match="must not be registered already"):
        up.register_method("half", half)
    up.register_method("half", half, replace=True)
    with pytest.raises(ValueError, match="^name must be"):
        up.register_method("Bad Name", half)
    with pytest.raises(ValueError, match="^function must be callable"):
        up.register_method("nothing", None)
    with pytest.raises(ValueError, match="^default_iterations must be"):
        up.register_method("zero", half, default_iterations=0)


def test_method_returning_wrong_levels_is_reported(rgb, registry):
    up.register_method("short", lambda image, *, levels, mu: [image])
    with pytest.raises(ValueError, match="must return 2 level images, got 1"):
        upscale(rgb, levels=2, method="short")
    up.register_method("small", lambda image, *, levels, mu: [image] * levels)
    with pytest.raises(ValueError, match=r"must return a \(40, 56, 3\) image at level 1, got \(20, 28, 3\)"):
        upscale(rgb, levels=1, method="small")


# ------------------------------------------------------------------------------------------------
# validation: one line, naming the argument, the allowed values and the received value

@pytest.mark.parametrize("kwargs,message", [
    (dict(levels=0), r"^levels must be an integer >= 1, got 0$"),
    (dict(levels=1.0), r"^levels must be an integer >= 1, got 1.0$"),
    (dict(levels=True), r"^levels must be an integer >= 1, got True$"),
    (dict(levels=9), r"^levels must be between 1 and 8 for a 20×28 image, got 9$"),
    (dict(levels=1, mu=0), r"^mu must be an integer >= 1, got 0$"),
    (dict(levels=1, mu=2.5), r"^mu must be an integer >= 1, got 2.5$"),
    (dict(levels=1, method="lanczos"), r"^method must be one of bicubic, ibp, mgbp.*, got 'lanczos'$"),
    (dict(levels=1, method="bicubic", iterations=2),
     r"^iterations is not an option of method 'bicubic' \(it does not iterate; methods that do: ibp, mgbp\), got 2$"),
    (dict(levels=1, method="bicubic", tile=8), r"^tile is not an option of method 'bicubic' \(it takes none; "
                                               r"tile is an option of: net\), got tile=8$"),
    (dict(levels=1, method="ibp", iterations=-1), r"^iterations must be an integer >= 0, got -1$"),
])
def test_bad_arguments(rgb, kwargs, message):
    with pytest.raises(ValueError, match=message):
        upscale(rgb, **kwargs)


@pytest.mark.parametrize("image,message", [
    (np.zeros((4, 4), np.uint8), r"^image must be a float array with values in \[0, 1\], got dtype uint8$"),
    (np.zeros((4, 4, 5)), r"^image must be shaped \(H, W\) or \(H, W, C\) with C in 1, 2, 3, 4, got shape"),
    (np.zeros(4), r"^image must be shaped"),
    (np.zeros((0, 4)), r"^image must have at least one pixel, got shape \(0, 4\)$"),
    (np.full((4, 4), np.nan), r"^image must contain finite values only"),
])
def test_bad_images(image, message):
    with pytest.raises(ValueError, match=message):
        upscale(image, levels=1, method="bicubic")


def test_max_levels(monkeypatch):
    assert up.max_levels((72, 96, 3)) == 6          # 72·96·4^6 ≤ 2^26 < 72·96·4^7
    assert up.max_levels((1, 1)) == 13
    assert up.max_levels((8192, 8192)) == 0
    monkeypatch.setattr(up, "MAX_OUTPUT_PIXELS", 1024)
    assert upscale(np.zeros((16, 16)), levels=1, method="bicubic").shape == (32, 32)
    with pytest.raises(ValueError, match=r"^image must have at most 256 pixels to be upscaled, got a 32×32 image$"):
        upscale(np.zeros((32, 32)), levels=1, method="bicubic")
