"""The register-tiled kernels (mgbp_classic.nn.tiles) against a plain NumPy convolution in float64.

Every tile shape is built and run here (AVX-512, AVX2, generic: any shape is correct on any
machine), on sizes that leave partial tiles in every direction: rows shorter and longer than a
tile, output channels not a multiple of the tile's rows, input channels not a multiple of the
channel block, one-pixel images.
"""
import numpy as np
import pytest

from mgbp_classic.nn import Engine
from mgbp_classic.nn import layers as L
from mgbp_classic.nn import tiles

SIZES = [  # (Ci, Co, N, H, W)
    (3, 5, 1, 1, 1),
    (7, 9, 2, 5, 3),
    (17, 6, 1, 4, 33),
    (16, 16, 3, 8, 16),
    (33, 8, 2, 3, 47),
    (5, 7, 2, 3, 64),      # rows every tile width divides: the row driver (the others: the flat one)
]


def reference_conv3x3(x, w):
    """Stride 1, zero padding 1, in float64: y[o] = sum_{c, a, b} w[o, c, a, b] x[c, i + a - 1, j + b - 1]."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    _, n, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((w.shape[0], n, h, wd))
    for a in range(3):
        for b in range(3):
            y += np.einsum("oc,cnhw->onhw", w[:, :, a, b], xp[:, :, a:a + h, b:b + wd])
    return y


def close(got, want, rtol=1e-5):
    scale = max(np.abs(want).max(), 1e-30)
    return np.abs(got - want).max() / scale <= rtol


@pytest.fixture(scope="module", params=sorted(tiles.TILE_SHAPES))
def shape_and_driver(request):
    shape = tiles.TILE_SHAPES[request.param]
    return shape, tiles.build_conv3x3(shape)


@pytest.mark.parametrize("ci, co, n, h, w", SIZES)
def test_every_tile_shape_equals_the_reference(shape_and_driver, ci, co, n, h, w):
    shape, driver = shape_and_driver
    rng = np.random.default_rng(ci * 1000 + co)
    x = rng.standard_normal((ci, n, h, w)).astype(np.float32)
    wt = rng.standard_normal((co, ci, 3, 3)).astype(np.float32)
    want = reference_conv3x3(x, wt)
    got = tiles.conv3x3(x, wt, Engine(), tag="conv.xb", driver=driver, shape=shape)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert close(got, want)
    # accumulate: adds to what is there, and only inside the output (the buffer around it is untouched)
    base = rng.standard_normal((co + 2, n, h, w)).astype(np.float32)
    out = base.copy()
    tiles.conv3x3(x, wt, Engine(), tag="conv.xb", out=out[1:co + 1], accumulate=True, driver=driver, shape=shape)
    assert close(out[1:co + 1], want + base[1:co + 1])
    assert np.array_equal(out[0], base[0]) and np.array_equal(out[co + 1], base[co + 1])


def reference_wgrad(dy, x):
    """dW[o, c, a, b] = sum_{n, i, j} dy[o, n, i, j] x[c, n, i + a - 1, j + b - 1] (zero outside), float64."""
    dy = dy.astype(np.float64)
    x = x.astype(np.float64)
    _, n, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dw = np.zeros((dy.shape[0], x.shape[0], 3, 3))
    for a in range(3):
        for b in range(3):
            dw[:, :, a, b] = np.einsum("onhw,cnhw->oc", dy, xp[:, :, a:a + h, b:b + wd])
    return dw


@pytest.mark.parametrize("ci, co, n, h, w", SIZES + [(5, 17, 2, 40, 70)])
def test_every_weight_gradient_tile_equals_the_reference(ci, co, n, h, w):
    rng = np.random.default_rng(ci * 100 + co)
    x = rng.standard_normal((ci, n, h, w)).astype(np.float32)
    dy = rng.standard_normal((co, n, h, w)).astype(np.float32)
    want = reference_wgrad(dy, x)
    for name, shape in tiles.TILE_SHAPES.items():
        engine = Engine()
        if not tiles.wgrad_fits(w, shape):
            with pytest.raises(ValueError, match="too short"):
                tiles.conv3x3_wgrad(tiles.bordered_scratch(engine, "conv.dyb", dy, shape),
                                    tiles.bordered_scratch(engine, "conv.xw", x, shape), shape=shape)
            continue
        got = tiles.conv3x3_wgrad(tiles.bordered_scratch(engine, "conv.dyb", dy, shape),
                                  tiles.bordered_scratch(engine, "conv.xw", x, shape),
                                  driver=tiles.build_conv3x3_wgrad(shape), shape=shape)
        assert got.shape == want.shape and got.dtype == np.float32
        assert close(got, want), name


# ------------------------------------------------------------------ stride 2: the four phase planes
S2_SIZES = [  # (Ci, Co, N, H, W) of the fine side, H and W even
    (3, 5, 1, 2, 2),
    (7, 9, 2, 6, 10),
    (17, 6, 1, 4, 66),
    (16, 16, 3, 16, 64),   # 32-pixel coarse rows: the row driver on AVX-512 and AVX2
    (33, 8, 2, 6, 94),
]


def reference_conv3x3_s2(x, w):
    """Stride 2, zero padding 1, float64: y[o, n, i, j] = sum w[o, c, a, b] x[c, n, 2i + a - 1, 2j + b - 1]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    _, n, h, wd = x.shape
    ho, wo = h // 2, wd // 2
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((w.shape[0], n, ho, wo))
    for a in range(3):
        for b in range(3):
            y += np.einsum("oc,cnhw->onhw", w[:, :, a, b], xp[:, :, a:a + 2 * ho:2, b:b + 2 * wo:2])
    return y


def reference_conv_transpose3x3(x, w):
    """Stride 2, padding 1, output padding 1, float64, from its definition:
    y[o, n, 2i + a - 1, 2j + b - 1] += w[o, c, a, b] x[c, n, i, j]."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    _, n, h, wd = x.shape
    yp = np.zeros((w.shape[0], n, 2 * h + 2, 2 * wd + 2))
    for a in range(3):
        for b in range(3):
            yp[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("oc,cnhw->onhw", w[:, :, a, b], x)
    return yp[:, :, 1:2 * h + 1, 1:2 * wd + 1]


def reference_wgrad_s2(dy, x):
    """dW[o, c, a, b] = sum_{n, i, j} dy[o, n, i, j] x[c, n, 2i + a - 1, 2j + b - 1] (zero outside), float64."""
    dy, x = dy.astype(np.float64), x.astype(np.float64)
    _, _, ho, wo = dy.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dw = np.zeros((dy.shape[0], x.shape[0], 3, 3))
    for a in range(3):
        for b in range(3):
            dw[:, :, a, b] = np.einsum("onhw,cnhw->oc", dy, xp[:, :, a:a + 2 * ho:2, b:b + 2 * wo:2])
    return dw


def test_phase_planes_hold_the_pixels_of_each_phase_and_a_zero_border():
    engine = Engine()
    x = np.arange(2 * 1 * 4 * 6, dtype=np.float32).reshape(2, 1, 4, 6) + 1
    engine.scratch("conv.xp", (10_000,), np.float32)[:] = np.nan
    xp = tiles.phase_scratch(engine, "conv.xp", x)
    assert xp.shape == (4, 2, 1, 4, 5)
    for p in range(2):
        for q in range(2):
            assert np.array_equal(xp[2 * p + q, :, :, 1:-1, 1:-1], x[:, :, p::2, q::2])
            border = xp[2 * p + q].copy()
            border[:, :, 1:-1, 1:-1] = 0
            assert not border.any()
    with pytest.raises(ValueError, match="even height and width"):
        tiles.phase_scratch(engine, "conv.xp", x[:, :, :3])


@pytest.mark.parametrize("ci, co, n, h, w", S2_SIZES)
def test_every_tile_shape_strided_and_transposed(shape_and_driver, ci, co, n, h, w):
    shape, driver = shape_and_driver
    rng = np.random.default_rng(ci * 1000 + co + 7)
    x = rng.standard_normal((ci, n, h, w)).astype(np.float32)
    wt = rng.standard_normal((co, ci, 3, 3)).astype(np.float32)
    got = tiles.conv3x3(x, wt, Engine(), tag="conv.xp", stride=2, driver=driver, shape=shape)
    assert got.shape == (co, n, h // 2, w // 2) and close(got, reference_conv3x3_s2(x, wt))
    # the transposed convolution, from the coarse side (Ci, N, H / 2, W / 2) to (Co, N, H, W)
    xs = rng.standard_normal((ci, n, h // 2, w // 2)).astype(np.float32)
    engine = Engine()
    want = reference_conv_transpose3x3(xs, wt)
    got = tiles.conv_transpose3x3(tiles.bordered_scratch(engine, "conv.xb", xs, shape), wt, engine,
                                  driver=driver, shape=shape)
    assert got.shape == want.shape and close(got, want)
    base = rng.standard_normal(want.shape).astype(np.float32)
    out = base.copy()
    tiles.conv_transpose3x3(tiles.bordered_scratch(engine, "conv.xb", xs, shape), wt, engine, out=out,
                            accumulate=True, driver=driver, shape=shape)
    assert close(out, want + base)


@pytest.mark.parametrize("ci, co, n, h, w", S2_SIZES[2:] + [(5, 17, 2, 40, 140)])
def test_every_strided_weight_gradient_tile_equals_the_reference(ci, co, n, h, w):
    rng = np.random.default_rng(ci * 100 + co + 3)
    x = rng.standard_normal((ci, n, h, w)).astype(np.float32)
    dy = rng.standard_normal((co, n, h // 2, w // 2)).astype(np.float32)
    want = reference_wgrad_s2(dy, x)
    for name, shape in tiles.TILE_SHAPES.items():
        if not tiles.wgrad_fits(w // 2, shape):
            continue
        engine = Engine()
        got = tiles.conv3x3_wgrad(tiles.bordered_scratch(engine, "conv.dyb", dy, shape),
                                  tiles.phase_scratch(engine, "conv.xw", x, shape), stride=2,
                                  driver=tiles.build_conv3x3_wgrad(shape), shape=shape)
        assert got.shape == want.shape and close(got, want), name


@pytest.mark.parametrize("ci, co, h, w", [(12, 5, 6, 22), (5, 12, 16, 64), (6, 4, 2, 2), (4, 3, 5, 7)])
def test_strided_layers_float32_agree_with_float64(ci, co, h, w):
    # the down-projection (stride-2 convolution) and the up-projection (transposed convolution):
    # float32 on the tiles (odd sizes and rows too short for the weight-gradient tile: the BLAS path,
    # whose scratch must not overwrite the tiles'), float64 on the BLAS path
    rng = np.random.default_rng(5)
    e32, e64 = Engine(), Engine()
    x = rng.standard_normal((ci, 2, h, w))
    wt = rng.standard_normal((co, ci, 3, 3))
    y64 = L.conv_c_forward(x, wt, 2, e64)
    y32 = L.conv_c_forward(x.astype(np.float32), wt.astype(np.float32), 2, e32)
    assert close(y32, y64)
    dy = rng.standard_normal(y64.shape)
    dw64, dw32 = np.zeros_like(wt), np.zeros_like(wt, dtype=np.float32)
    dx64 = L.conv_c_backward(dy, x, wt, 2, dw64, True, e64)
    dx32 = L.conv_c_backward(dy.astype(np.float32), x.astype(np.float32), wt.astype(np.float32), 2, dw32, True, e32)
    assert close(dx32, dx64) and close(dw32, dw64)
    assert np.isclose(np.vdot(y64, dy), np.vdot(x, dx64), rtol=1e-12)
    wtt = rng.standard_normal((ci, co, 3, 3))                      # (Ci, Co): PyTorch's transposed layout
    t64 = L.conv_transpose_c_forward(x, wtt, e64)
    t32 = L.conv_transpose_c_forward(x.astype(np.float32), wtt.astype(np.float32), e32)
    assert t32.shape == (co, 2, 2 * h, 2 * w) and close(t32, t64)
    dyt = rng.standard_normal(t64.shape)
    dwt64, dwt32 = np.zeros_like(wtt), np.zeros_like(wtt, dtype=np.float32)
    dxt64 = L.conv_transpose_c_backward(dyt, x, wtt, dwt64, True, e64)
    dxt32 = L.conv_transpose_c_backward(dyt.astype(np.float32), x.astype(np.float32), wtt.astype(np.float32),
                                        dwt32, True, e32)
    assert close(dxt32, dxt64) and close(dwt32, dwt64)
    assert np.isclose(np.vdot(t64, dyt), np.vdot(x, dxt64), rtol=1e-12)


# ------------------------------------------------------------- 1×1 with the ReLUs around it fused
@pytest.mark.parametrize("ci, co, p", [(3, 5, 7), (17, 9, 100), (64, 48, 33), (130, 20, 96), (48, 64, 4096)])
def test_every_pointwise_tile_equals_the_reference(ci, co, p):
    # y = W max(x + b_in, 0), then + b_out, then its ReLU: every epilogue, every tile shape, pixel
    # counts with and without a partial last tile (those pixels are NumPy's)
    rng = np.random.default_rng(ci + co + p)
    x = rng.standard_normal((ci, p)).astype(np.float32)
    w = rng.standard_normal((co, ci)).astype(np.float32)
    b_in, b_out = rng.standard_normal(ci).astype(np.float32), rng.standard_normal(co).astype(np.float32)
    z = w.astype(np.float64) @ np.maximum(x.astype(np.float64) + b_in[:, None], 0)
    for name, shape in tiles.TILE_SHAPES.items():
        driver = tiles.build_pointwise(shape)
        got = tiles.pointwise(x, w, b_in, driver=driver, shape=shape)
        assert got.shape == (co, p) and close(got, z), name
        assert close(tiles.pointwise(x, w, b_in, b_out, driver=driver, shape=shape), z + b_out[:, None]), name
        want = np.maximum(z + b_out[:, None], 0)
        out = np.full((co, p), np.nan, np.float32)
        tiles.pointwise(x, w, b_in, b_out, relu_out=True, out=out, driver=driver, shape=shape)
        assert close(out, want), name


def test_pointwise_propagates_nan_through_both_relus():
    # as the separate bias + ReLU passes do: max(NaN, 0) is NaN, not 0
    x = np.ones((2, 64), np.float32)
    x[1, 5] = np.nan
    w = np.ones((3, 2), np.float32)
    y = tiles.pointwise(x, w, np.zeros(2, np.float32), np.zeros(3, np.float32), relu_out=True)
    assert np.isnan(y[:, 5]).all() and np.isfinite(np.delete(y, 5, axis=1)).all()


def test_fused_and_separate_relus_give_the_same_filter_block():
    # normal mode fuses the ReLUs into the 1×1 products; recording the gains takes the separate
    # passes: the same outputs (the gains recorded on the way)
    from mgbp_classic.nn import FilterBlock, ParamStore
    store = ParamStore(seed=3, dtype=np.float32)
    block = FilterBlock(store, "fb", c=12)
    store.finalize()
    rng = np.random.default_rng(4)
    for name in store.names:
        store[name][...] = rng.standard_normal(store[name].shape) * 0.3
    x = rng.standard_normal((2, 12, 9, 40)).astype(np.float32)
    fused, _ = block.forward(x, engine=Engine())
    engine = Engine()
    with engine.record():
        separate, _ = block.forward(x, engine=engine)
    assert close(fused, separate.astype(np.float64), 1e-6)


def test_the_border_is_zero_whatever_the_scratch_held():
    engine = Engine()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 6, 7)).astype(np.float32)
    wt = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    engine.scratch("conv.xb", (10_000,), np.float32)[:] = np.nan      # a previous temporary's leftovers
    got = tiles.conv3x3(x, wt, engine, tag="conv.xb")
    assert close(got, reference_conv3x3(x, wt))


def test_tile_shape_follows_the_isa():
    assert tiles.choose_tile_shape({"avx512f": True, "avx2": True, "fma": True}).name == "avx512"
    assert tiles.choose_tile_shape({"avx512f": False, "avx2": True, "fma": True}).name == "avx2"
    assert tiles.choose_tile_shape({"sse2": True}).name == "generic"
    assert tiles.choose_tile_shape({}).name == "generic"
    for shape in tiles.TILE_SHAPES.values():     # accumulators + loads + one broadcast fit the registers
        registers = 32 if shape.name == "avx512" else 16
        assert shape.rows * shape.vectors + shape.vectors + 1 <= registers


@pytest.mark.parametrize("ci, co, width", [(12, 5, 21), (5, 12, 21), (6, 4, 5)])
def test_layers_use_the_tiles_for_float32_and_agree_with_float64(ci, co, width):
    # conv_c_forward / conv_c_backward at stride 1: float32 runs the tiles (the weight gradient of
    # rows too short for its tile takes the BLAS path), float64 the BLAS path
    rng = np.random.default_rng(2)
    x = rng.standard_normal((ci, 2, 9, width))
    wt = rng.standard_normal((co, ci, 3, 3))
    dy = rng.standard_normal((co, 2, 9, width))
    y64 = L.conv_c_forward(x, wt, 1, Engine())
    y32 = L.conv_c_forward(x.astype(np.float32), wt.astype(np.float32), 1, Engine())
    assert y32.dtype == np.float32 and close(y32, y64) and close(y64, reference_conv3x3(x, wt), 1e-12)
    dw64, dw32 = np.zeros_like(wt), np.zeros_like(wt, dtype=np.float32)
    dx64 = L.conv_c_backward(dy, x, wt, 1, dw64, True, Engine())
    dx32 = L.conv_c_backward(dy.astype(np.float32), x.astype(np.float32), wt.astype(np.float32), 1, dw32,
                             True, Engine())
    assert close(dx32, dx64) and close(dw32, dw64)
    # dx is the adjoint: <conv(x), dy> = <x, dx>
    assert np.isclose(np.vdot(y64, dy), np.vdot(x, dx64), rtol=1e-12)
    # input gradients only: the same dx, no weight gradient
    engine = Engine(param_grads=False)
    dw_untouched = np.zeros_like(wt, dtype=np.float32)
    dx_only = L.conv_c_backward(dy.astype(np.float32), x.astype(np.float32), wt.astype(np.float32), 1,
                                dw_untouched, True, engine)
    assert np.array_equal(dx_only, dx32) and not dw_untouched.any()


@pytest.mark.parametrize("w", [19, 4])
def test_dense_layer_float32_agrees_with_float64(w):
    rng = np.random.default_rng(3)
    c, bn, gr, n, h = 10, 12, 4, 2, 7
    b1, w1 = rng.standard_normal(c), rng.standard_normal((bn, c, 1, 1))
    b2, w3 = rng.standard_normal(bn), rng.standard_normal((gr, bn, 3, 3))
    hbuf64 = np.zeros((c + gr, n, h, w))
    hbuf64[:c] = rng.standard_normal((c, n, h, w))
    hbuf32 = hbuf64.astype(np.float32)
    cache64 = L.dense_c_forward(hbuf64, c, b1, w1, b2, w3, Engine())
    cache32 = L.dense_c_forward(hbuf32, c, *(a.astype(np.float32) for a in (b1, w1, b2, w3)), Engine())
    assert close(hbuf32[c:], hbuf64[c:])
    dh = rng.standard_normal((c + gr, n, h, w))
    grads64 = [np.zeros_like(a) for a in (b1, w1, b2, w3)]
    grads32 = [np.zeros_like(a, dtype=np.float32) for a in (b1, w1, b2, w3)]
    d64, d32 = dh.copy(), dh.astype(np.float32)
    L.dense_c_backward(d64, hbuf64, c, b1, w1, b2, w3, cache64, *grads64, Engine())
    L.dense_c_backward(d32, hbuf32, c, *(a.astype(np.float32) for a in (b1, w1, b2, w3)), cache32, *grads32,
                       Engine())
    assert close(d32[:c], d64[:c])
    for g32, g64 in zip(grads32, grads64):
        assert close(g32, g64)
