"""Deep filter visualisation (Theorem 1): the frozen network is exactly affine and reproduces the network.

Float64 checks run a tiny network (4 features) with random biases; the float32 check runs the
full-size architecture on a small crop of a Set5 image. References: the ordinary forward pass,
central finite differences of it (the Jacobian), MATLAB bicubic ``imresize``.
"""
import numpy as np
import pytest

from mgbp_classic.deepfilter import LUMA_WEIGHTS, DeepFilter, FrozenNetwork, bicubic_filter, support_radius
from mgbp_classic.plotting import filter_window, mass_radius, plot_filters
from mgbp_classic.inference import upscale_rgb
from mgbp_classic.net import MGBPNet, NetConfig
from mgbp_classic.nn import Engine, Graph
from mgbp_classic.resize import imresize

TINY = NetConfig(features=4, growth=2, bottleneck=4, seed=3)


@pytest.fixture(scope="module")
def tiny():
    """A tiny float64 network with non-zero biases (so the residual is not trivially zero)."""
    net = MGBPNet(TINY, dtype=np.float64)
    net.store.params[...] += 0.05 * np.random.default_rng(0).standard_normal(net.store.size)
    return net


def rand_image(shape, seed=1):
    return np.random.default_rng(seed).random(shape)


def plain_forward(net, image, levels, mu):
    """The ordinary network (real ReLUs) on an (H, W, 3) image → (sH, sW, 3)."""
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
    return net.forward(x, levels=levels, mu=mu)[-1][0].transpose(1, 2, 0)


# ----------------------------------------------------------------------------------------------
# Theorem 1
# ----------------------------------------------------------------------------------------------
def test_frozen_network_reproduces_the_network_float64(tiny):
    x = rand_image((7, 6, 3))
    fz = FrozenNetwork(tiny, x, levels=2, mu=2)
    net_x = plain_forward(tiny, x, 2, 2)
    np.testing.assert_array_equal(fz.output, net_x)                 # recording does not change the pass
    assert fz.output.shape == (28, 24, 3) and fz.scale == 4
    np.testing.assert_allclose(fz.apply(x), net_x, rtol=0, atol=1e-13)   # G(z) z = relu(z)
    fx, r = fz.linear_part(), fz.residual                            # two separate passes
    assert np.max(np.abs(fx + r - net_x)) <= 1e-10
    assert np.max(np.abs(r)) > 1e-3 and np.max(np.abs(fx)) > 1e-1    # both parts matter
    # the gains really are those of X: on another input the frozen map is not the network
    x2 = rand_image((7, 6, 3), seed=5)
    assert np.max(np.abs(fz.apply(x2) - plain_forward(tiny, x2, 2, 2))) > 1e-4


def test_frozen_map_is_exactly_linear(tiny):
    x, x1, x2 = rand_image((6, 5, 3), 1), rand_image((6, 5, 3), 2) - 0.5, rand_image((6, 5, 3), 3) * 3
    fz = FrozenNetwork(tiny, x, levels=2, mu=1)
    a, b = 0.7, -2.3
    lin = fz.apply(a * x1 + b * x2, bias=False)
    np.testing.assert_allclose(lin, a * fz.apply(x1, bias=False) + b * fz.apply(x2, bias=False), rtol=0, atol=1e-12)
    aff = fz.apply(a * x1 + b * x2) - fz.residual                     # the affine map minus R is the same
    np.testing.assert_allclose(aff, lin, rtol=0, atol=1e-12)
    assert np.all(tiny.store["synthesis.conv.bias"] != 0)           # the biases were restored


def test_row_equals_finite_difference_jacobian_row(tiny):
    x = rand_image((5, 4, 3), 4)
    levels, mu, pixel, eps = 2, 2, (9, 6), 1e-6
    w = np.array([0.2, -0.5, 0.9])
    row = FrozenNetwork(tiny, x, levels=levels, mu=mu).rows([pixel], weights=w)[0]      # one backward pass
    fd = np.empty_like(x)
    for idx in np.ndindex(*x.shape):                                 # central differences of the real network
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (plain_forward(tiny, xp, levels, mu)[pixel] - plain_forward(tiny, xm, levels, mu)[pixel]) @ w / (2 * eps)
    np.testing.assert_allclose(row, fd, rtol=0, atol=1e-8)
    assert np.count_nonzero(np.abs(row) > 1e-6) == x.size            # the whole (small) input is in the field


def test_column_is_the_transpose_of_rows(tiny):
    x = rand_image((6, 6, 3), 6)
    fz = FrozenNetwork(tiny, x, levels=1, mu=2)
    col = fz.column(2, 3, 1)                                         # response to δ at input (2, 3), green
    rows = fz.rows([(5, 7), (0, 11), (4, 6)], weights=np.eye(3)[[0, 2, 1]])
    np.testing.assert_allclose([col[5, 7, 0], col[0, 11, 2], col[4, 6, 1]], rows[:, 2, 3, 1], rtol=0, atol=1e-13)
    # and F X + R at one pixel from its rows (all three output channels)
    rgb = fz.rows([(5, 7)] * 3, weights=np.eye(3))
    np.testing.assert_allclose(np.einsum("kyxc,yxc->k", rgb, x) + fz.residual[5, 7], fz.output[5, 7], atol=1e-12)


def test_rows_far_apart_share_one_backward_pass(tiny):
    before, after = support_radius(1, 1, TINY.dense_layers)
    x = rand_image((6, before + after + 40, 3), 7)
    fz = FrozenNetwork(tiny, x, levels=1, mu=1)
    pixels = [(3, 1), (10, 2 * (before + after) + 60), (11, 5), (0, 2 * x.shape[1] - 1)]
    passes = []
    batched = fz.rows(pixels, weights=LUMA_WEIGHTS, method="full",
                      progress=lambda done, total: passes.append(total))
    single = fz.rows(pixels, weights=LUMA_WEIGHTS, method="full", batch=False)
    assert passes[-1] == 2 and len(passes) == 2                       # {0, 1} and {2, 3}: two passes for four rows
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-15)
    for k, (y, xx) in enumerate(pixels):
        assert (batched[k] * x).sum() + fz.residual[y, xx] @ LUMA_WEIGHTS == pytest.approx(fz.output[y, xx] @ LUMA_WEIGHTS, abs=1e-12)


@pytest.mark.parametrize("levels, mu, size", [(1, 1, (70, 61)), (1, 2, (75, 80)), (2, 1, (101, 96)),
                                               (2, 2, (70, 73)), (3, 1, (60, 59))])
def test_windowed_rows_equal_the_full_backward_pass(tiny, levels, mu, size):
    # images wider than a row's support, pixels at corners, edges and inside: the windowed pass
    # (every layer on the window where its gradient can be non-zero) must give the plain
    # backward pass of the whole frozen network, and leave the parameter gradients alone
    x = rand_image(size + (3,), levels + 10 * mu)
    fz = FrozenNetwork(tiny, x, levels=levels, mu=mu)
    h, w = fz.output_shape[:2]
    pixels = [(0, 0), (h - 1, w - 1), (h // 2, w // 2), (1, w - 2), (h - 2, 3), (h // 3, w // 5)]
    weights = np.random.default_rng(levels).random((len(pixels), 3))
    tiny.store.zero_grad()
    window = fz.rows(pixels, weights=weights)
    assert not tiny.store.grads.any()
    full = fz.rows(pixels, weights=weights, method="full", batch=False)
    reach = sum(support_radius(levels, mu, TINY.dense_layers)) + 1
    if min(size) > reach:                                             # some rows are local
        assert 0 < (np.abs(full).sum(axis=3) > 0).sum(axis=(1, 2)).min() < 0.8 * size[0] * size[1]
    np.testing.assert_allclose(window, full, rtol=0, atol=1e-14 * np.abs(full).max())
    with pytest.raises(ValueError, match="method must be 'window' or 'full', got 'fast'"):
        fz.rows(pixels, weights=weights, method="fast")


def test_support_radius_is_the_exact_reach_of_a_block():
    before, after = support_radius(1, 1)
    assert (before, after) == support_radius(1, 1, 3)
    assert before < after + 2 and after < before + 2                 # nearly symmetric
    assert support_radius(1, 2)[0] > before and support_radius(2, 1)[0] > before   # deeper → wider
    # a 2-D frozen network with all gains 1: the block's outputs reach exactly that range
    net = MGBPNet(NetConfig(features=2, growth=1, bottleneck=2, seed=4), dtype=np.float64)
    n, c = 2 * (before + after) + 8, before + 4
    x = np.ones((1, 3, n, n))
    engine = Engine()
    with engine.record() as tape:
        net.forward(x, levels=1, mu=1, engine=engine)
    with engine.frozen([np.ones_like(g) for g in tape]):
        graph = Graph(engine=engine)
        xn = graph.input(x, requires_grad=True)
        out = net.run(graph, xn, levels=1, mu=1)[-1]
        seed = np.zeros_like(out.data)
        seed[0, :, 2 * c:2 * c + 2, 2 * c:2 * c + 2] = 1.0
        out.accumulate(seed)
        graph.backward()
    ys, xs = np.nonzero(np.abs(xn.grad[0]).sum(0))
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (c - before, c + after, c - before, c + after)


# ----------------------------------------------------------------------------------------------
# the network as inference runs it: reflection padding, colour, luma
# ----------------------------------------------------------------------------------------------
def padded_network(net, image, levels, mu, margin):
    s = 2 ** levels
    h, w = image.shape[:2]
    y = plain_forward(net, np.pad(image, ((margin, margin), (margin, margin), (0, 0)), mode="symmetric"), levels, mu)
    return y[margin * s:(margin + h) * s, margin * s:(margin + w) * s]


def test_padded_filters_are_the_jacobian_of_the_padded_pipeline(tiny):
    x = rand_image((4, 5, 3), 8)
    levels, mu, m = 1, 2, 3
    df = DeepFilter(tiny, x, levels=levels, mu=mu, margin=m)
    np.testing.assert_allclose(df.output, padded_network(tiny, x, levels, mu, m), rtol=0, atol=0)
    assert df.max_error() <= 1e-10
    pixels = [(0, 0), (7, 4)]                                        # a corner: reflected pixels fold back
    luma = df.filters(pixels)
    assert luma.shape == (2, 4, 5, 3)
    assert np.all(df.pixel_errors(pixels, luma) <= 1e-12)
    eps, fd = 1e-6, np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd[idx] = (padded_network(tiny, xp, levels, mu, m)[0, 0] - padded_network(tiny, xm, levels, mu, m)[0, 0]) @ LUMA_WEIGHTS / (2 * eps)
    np.testing.assert_allclose(luma[0], fd, rtol=0, atol=1e-8)
    color = df.filters(pixels, color=True)                            # (K, out, H, W, in)
    assert color.shape == (2, 3, 4, 5, 3)
    np.testing.assert_allclose(np.einsum("o,koyxc->kyxc", LUMA_WEIGHTS, color), luma, rtol=0, atol=1e-14)
    assert np.all(df.pixel_errors(pixels, color) <= 1e-12)


def test_output_is_what_inference_computes(tiny):
    x = rand_image((5, 6, 3), 11).astype(np.float32).astype(np.float64)   # inference feeds float32
    df = DeepFilter(tiny, x, levels=2, mu=1, margin=3)
    np.testing.assert_allclose(np.clip(df.output, 0, 1), upscale_rgb(tiny, x, levels=2, mu=1, tile=None, margin=3)[-1],
                               rtol=0, atol=1e-15)


def test_greyscale_image_is_replicated(tiny):
    g = rand_image((4, 4), 9)
    df = DeepFilter(tiny, g, levels=1, mu=1, margin=2)
    np.testing.assert_array_equal(df.image, np.repeat(g[:, :, None], 3, axis=2))


def test_float32_theorem_on_a_set5_crop(data_dir):
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.metrics import make_lr
    lr = make_lr(read_image(data_dir / "test" / "Set5" / "butterfly.png"), 4)[20:29, 24:33]
    net = MGBPNet()                                                   # full-size architecture, float32
    df = DeepFilter(net, lr, levels=2, mu=2, margin=2)
    assert df.output.dtype == np.float32
    assert df.max_error() <= 1e-4
    pixels = [(21, 30)]
    assert np.all(df.pixel_errors(pixels, df.filters(pixels)) <= 1e-4)


# ----------------------------------------------------------------------------------------------
# the classic comparison and drawing
# ----------------------------------------------------------------------------------------------
def test_bicubic_filter_is_a_row_of_matlab_imresize():
    x = rand_image((9, 7), 10)
    pixels = [(0, 0), (17, 13), (35, 27)]
    rows = bicubic_filter(x.shape, pixels, scale=4)
    up = imresize(x, 4)
    np.testing.assert_allclose((rows * x).sum(axis=(1, 2)), [up[p] for p in pixels], rtol=0, atol=1e-13)
    np.testing.assert_allclose(rows.sum(axis=(1, 2)), 1.0, atol=1e-13)


def test_filter_window_and_mass_radius():
    f = np.zeros((6, 8))
    f[2, 3], f[0, 0] = 1.0, 0.01
    win, off = filter_window(f, (9, 13), scale=4, radius=3)           # LR pixel (2, 3)
    assert win.shape == (7, 7) and win[3, 3] == 1.0 and win[1, 0] == 0.01
    assert np.isnan(win[0, 0]) and not np.isnan(win[1, 0])           # row -1 lies outside the image
    assert off == pytest.approx((9.5 / 4 - 0.5 - 2, 13.5 / 4 - 0.5 - 3))
    assert mass_radius(f, (9, 13), scale=4, mass=0.99) == 0
    assert mass_radius(f, (9, 13), scale=4, mass=0.999) == 3


def test_plot_filters_draws_image_residual_and_panels(tmp_path):
    rng = np.random.default_rng(0)
    out, res = rng.random((24, 32, 3)), 0.01 * rng.standard_normal((24, 32, 3))
    filt = rng.standard_normal((3, 6, 8))
    pixels = [(1, 2), (20, 30), (12, 12)]
    fig = plot_filters(out, pixels, filt, scale=4, residual=res, bicubic=bicubic_filter((6, 8), pixels, scale=4),
                       radius=2, title="t", columns=2)
    assert sum(1 for a in fig.axes if a.images) == 2 + 2 * 3          # image, residual, two panels per pixel
    fig.savefig(tmp_path / "f.png", dpi=40)
    assert (tmp_path / "f.png").stat().st_size > 1000


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
def test_errors(tiny):
    x = rand_image((4, 4, 3))
    with pytest.raises(TypeError, match="net must be an MGBPNet"):
        FrozenNetwork("net", x, levels=1, mu=1)
    with pytest.raises(ValueError, match=r"image must be an \(H, W, 3\) array, got shape \(4, 4\)"):
        FrozenNetwork(tiny, x[..., 0], levels=1, mu=1)
    with pytest.raises(ValueError, match="levels must be an integer >= 1, got 0"):
        FrozenNetwork(tiny, x, levels=0, mu=1)
    with pytest.raises(ValueError, match="image must contain finite values only"):
        DeepFilter(tiny, np.full((4, 4, 3), np.nan), levels=1, mu=1)
    with pytest.raises(ValueError, match="margin must be an integer >= 0, got -1"):
        DeepFilter(tiny, x, levels=1, mu=1, margin=-1)
    fz = FrozenNetwork(tiny, x, levels=1, mu=1)
    with pytest.raises(ValueError, match=r"pixels must lie in the 8×8 output \(y in 0..7, x in 0..7\), got \(y=8, x=0\)"):
        fz.rows([(8, 0)], weights=LUMA_WEIGHTS)
    with pytest.raises(ValueError, match="pixels must be a .y, x. pair"):
        fz.rows([(1.5, 0)], weights=LUMA_WEIGHTS)
    with pytest.raises(ValueError, match=r"weights must be finite, of shape \(3,\) or \(1, 3\), got shape \(2,\)"):
        fz.rows([(1, 1)], weights=[1, 0])
    with pytest.raises(ValueError, match=r"image must have the recorded shape \(4, 4, 3\), got \(4, 5, 3\)"):
        fz.apply(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="channel must be an integer in 0..2, got 3"):
        fz.column(0, 0, 3)
    with pytest.raises(ValueError, match="scale must be an integer >= 1, got 0"):
        bicubic_filter((4, 4), [(0, 0)], scale=0)


# ----------------------------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from mgbp_classic.imaging.io import write_image
    d = tmp_path_factory.mktemp("visualize")
    net = MGBPNet(TINY)
    net.store.params[...] += 0.05 * np.random.default_rng(0).standard_normal(net.store.size).astype(np.float32)
    net.save(d / "tiny.npz")
    write_image(d / "img.png", rand_image((6, 8, 3), 12))
    return d


def visualize(*args):
    from click.testing import CliRunner
    from mgbp_classic_cli.main import cli
    return CliRunner().invoke(cli, ["visualize", *[str(a) for a in args]])


def test_cli_visualize_writes_figure_and_residual(cli_files):
    d = cli_files
    res = visualize("--levels", 2, "--mu", 1, "--pixel", "3,2", "--pixel", "31,23", "--margin", 2, "--model",
                    d / "tiny.npz", d / "img.png", "-o", d / "fig.png", "--residual", d / "r.npy")
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "2 pixels, x4, mu=1" in res.output
    err = float(res.output.split("<= ")[1].split()[0])
    assert err <= 1e-5                                                 # F X + R = net(X) at the pixels
    assert (d / "fig.png").stat().st_size > 5000
    from mgbp_classic.imaging.io import read_image
    df = DeepFilter(MGBPNet.load(d / "tiny.npz")[0], read_image(d / "img.png"), levels=2, mu=1, margin=2)
    np.testing.assert_allclose(np.load(d / "r.npy"), df.residual, rtol=0, atol=1e-6)
    res = visualize("--levels", 1, "--pixel", "0,0", "--difference", "--model", d / "tiny.npz", d / "img.png",
                    "-o", d / "fig.svg", "--residual", d / "r.png")
    assert res.exit_code == 0, res.output
    assert read_image(d / "r.png").shape == (12, 16, 3)


@pytest.mark.parametrize("args, words", [
    (["--pixel", "32,0"], "'--pixel': 32,0 lies outside the 32x24 output (x in 0..31, y in 0..23)"),
    (["--pixel", "1;2"], "'--pixel': must be two integers X,Y (column, row of the output), got '1;2'"),
    (["--pixel", "-1,2"], "'--pixel': must be non-negative X,Y, got '-1,2'"),
    (["--pixel", "1,2", "--levels", "0"], "'--levels'"),
    (["--pixel", "1,2", "--levels", "12"], "'--levels': must be between 1 and 10 for a 6×8 image, got 12"),
    (["--pixel", "1,2", "--mu", "0"], "'--mu'"),
    ([], "Missing option '--pixel'"),
])
def test_cli_visualize_bad_options(cli_files, args, words):
    d = cli_files
    res = visualize(*args, "--model", d / "tiny.npz", d / "img.png", "-o", d / "bad.png")
    assert res.exit_code == 2 and words in res.output, res.output
    assert "Traceback" not in res.output and not (d / "bad.png").exists()


def test_cli_visualize_bad_files(cli_files, tmp_path):
    d = cli_files
    res = visualize("--pixel", "1,1", "--model", d / "tiny.npz", tmp_path / "missing.png", "-o", tmp_path / "f.png")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = visualize("--pixel", "1,1", "--model", tmp_path / "nope.npz", d / "img.png", "-o", tmp_path / "f.png")
    assert res.exit_code == 1 and "model file not found" in res.output and len(res.output.strip().splitlines()) == 1
    (tmp_path / "junk.png").write_bytes(b"not an image")
    res = visualize("--pixel", "1,1", "--model", d / "tiny.npz", tmp_path / "junk.png", "-o", tmp_path / "f.png")
    assert res.exit_code == 1 and "Traceback" not in res.output
    res = visualize("--pixel", "1,1", "--model", d / "tiny.npz", d / "img.png", "-o", tmp_path / "f.jpg2")
    assert res.exit_code == 2 and "'-o' / '--output': must end in one of .pdf, .png, .svg" in res.output
    res = visualize("--pixel", "1,1", "--model", d / "tiny.npz", d / "img.png", "-o", tmp_path / "f.png",
                    "--residual", tmp_path / "r.txt")
    assert res.exit_code == 2 and "'--residual': must end in one of .npy, .png" in res.output
    assert not (tmp_path / "f.png").exists()
