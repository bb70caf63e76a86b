"""Network inference on whole images: tiles, margins, colour handling, the `net` method."""
import numpy as np
import pytest

from mgbp_classic.inference import upscale_rgb
from mgbp_classic.net import MGBPNet


@pytest.fixture(scope="module")
def net():
    return MGBPNet()


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:28, 0:24] / 6.0
    base = 0.5 + 0.4 * np.sin(x + np.cos(y))[..., None] * np.array([1.0, 0.7, 0.4])
    return np.clip(base + 0.05 * rng.standard_normal((28, 24, 3)), 0, 1)


def test_tiled_equals_untiled_within_one_level(net, image):
    whole = upscale_rgb(net, image, levels=2, mu=2)
    tiled = upscale_rgb(net, image, levels=2, mu=2, tile=11)        # 3×3 tiles, the last ones partial
    for a, b in zip(whole, tiled):
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1 / 255


def test_output_shapes_and_range(net, image):
    outs = upscale_rgb(net, image[:5, :7], levels=2, mu=1, tile=4, margin=2)
    assert [o.shape for o in outs] == [(5 << k, 7 << k, 3) for k in (1, 2)]
    assert all(o.min() >= 0 and o.max() <= 1 for o in outs)


def test_bad_arguments(net, image):
    with pytest.raises(ValueError, match="image must be \\(H, W, 3\\)"):
        upscale_rgb(net, image[..., 0], levels=1, mu=1)
    with pytest.raises(ValueError, match="margin must be an integer >= 0, got -1"):
        upscale_rgb(net, image, levels=1, mu=1, margin=-1)
    with pytest.raises(ValueError, match=r"tile must be None or an integer >= 1, got 0"):
        upscale_rgb(net, image, levels=1, mu=1, tile=0)
    with pytest.raises(ValueError, match="levels must be"):
        upscale_rgb(net, image, levels=0, mu=1)


# measured with the shipped model (850 + 655 + 80 steps), standard protocol:
# net − classic MGBP (µ = 2) in dB (remeasure these three images with evaluate_image when a new
# model is exported)
SHIPPED_GAIN = {("butterfly", 4): 3.77, ("bird", 2): 2.91, ("head", 8): 0.50}


@pytest.mark.parametrize("name, scale", list(SHIPPED_GAIN))
def test_the_shipped_model_beats_bicubic_and_classic_mgbp(data_dir, name, scale):
    # the pretrained weights under the standard protocol (../shared/data/README.md) on Set5 images
    # at x2, x4 and x8: better than MATLAB bicubic and than classic MGBP, by most of the margin
    # measured when the model was exported (a regression in the weights, the network or the
    # inference path shows here)
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.pipeline.upscale import evaluate_image
    hr = read_image(data_dir / "test" / "Set5" / f"{name}.png")
    psnr = {m: evaluate_image(hr, scale=scale, method=m)["psnr"] for m in ("bicubic", "mgbp", "net")}
    assert psnr["bicubic"] < psnr["mgbp"] < psnr["net"]
    assert psnr["net"] - psnr["mgbp"] > 0.75 * SHIPPED_GAIN[(name, scale)]
