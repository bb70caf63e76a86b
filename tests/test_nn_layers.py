"""Every layer of mgbp_classic.nn: forward against a plain NumPy/SciPy reference, backward against
central finite differences in float64 (small odd shapes, every input and every parameter)."""
import math

import numpy as np
import pytest
from scipy.signal import correlate2d

from mgbp_classic import nn
from mgbp_classic.nn import layers as L

RNG = np.random.default_rng(1234)


def finite_diff_check(forward, arrays, backward, *, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Check ``backward`` against central differences of ``sum(R * forward())`` for every element.

    ``forward()`` reads the (float64) ``arrays`` (modified in place); ``backward(R)`` returns the
    list of analytic gradients, one per array.
    """
    out = forward()
    r = np.random.default_rng(7).standard_normal(out.shape)
    grads = backward(r)
    for k, (a, g) in enumerate(zip(arrays, grads)):
        flat = a.reshape(-1)
        num = np.empty(flat.size)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            fp = np.sum(r * forward())
            flat[i] = old - eps
            fm = np.sum(r * forward())
            flat[i] = old
            num[i] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(np.asarray(g).reshape(-1), num, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of array {k} (shape {a.shape})")


# ------------------------------------------------------------------------------ references
def ref_conv2d(x, w, b, stride):
    """y[n, o] = sum_c correlate2d(x[n, c], w[o, c], 'same', zero fill), then every stride-th pixel."""
    n, ci, h, wd = x.shape
    co = w.shape[0]
    full = np.zeros((n, co, h, wd))
    for i in range(n):
        for o in range(co):
            for c in range(ci):
                full[i, o] += correlate2d(x[i, c], w[o, c], mode="same", boundary="fill")
    y = full[:, :, ::stride, ::stride]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def ref_conv_transpose2d(x, w):
    """Scatter: every input pixel (i, j) adds x[:, c, i, j] w[c, o, a, b] at (2i + a - 1, 2j + b - 1)."""
    n, ci, h, wd = x.shape
    co, k = w.shape[1], w.shape[2]
    big = np.zeros((n, co, 2 * h + k, 2 * wd + k))        # index = output position + 1
    for a in range(k):
        for b in range(k):
            big[:, :, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("nchw,co->nohw", x, w[:, :, a, b])
    return big[:, :, 1:1 + 2 * h, 1:1 + 2 * wd]


def cubic(t):
    """Keys' cubic, a = -0.5 (MATLAB imresize 'bicubic')."""
    t = np.abs(t)
    return np.where(t <= 1, 1.5 * t**3 - 2.5 * t**2 + 1, np.where(t < 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, 0.0))


def matlab_bicubic_matrix(n_in, scale=2):
    """MATLAB imresize's contributions() for magnification: the (scale n, n) resampling matrix."""
    n_out = scale * n_in
    a = np.zeros((n_out, n_in))
    aux = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])        # symmetric extension
    for j in range(1, n_out + 1):
        u = j / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - 2)
        idx = left + np.arange(6)                                        # P = ceil(4) + 2 taps
        wts = cubic(u - idx)
        wts = wts / wts.sum()
        for i, wt in zip(idx, wts):
            a[j - 1, aux[(i - 1) % (2 * n_in)]] += wt
    return a


def ref_imresize2x(x):
    ah, aw = matlab_bicubic_matrix(x.shape[2]), matlab_bicubic_matrix(x.shape[3])
    return np.einsum("ph,nchw,qw->ncpq", ah, x.astype(np.float64), aw)


# ------------------------------------------------------------------------------ convolution
@pytest.mark.parametrize("k,stride,bias,shape,co", [(3, 1, False, (2, 3, 5, 7), 4), (3, 1, True, (1, 2, 6, 5), 4),
                                                    (3, 1, False, (2, 6, 5, 7), 4), (3, 1, True, (1, 5, 4, 3), 2),
                                                    (1, 1, True, (2, 3, 5, 3), 4), (3, 2, False, (2, 3, 7, 6), 4),
                                                    (3, 2, True, (1, 2, 6, 9), 4)])
def test_conv2d_forward_matches_scipy(k, stride, bias, shape, co):
    """Both 3×3 paths: im2col (Co > Ci or stride 2) and multiply-then-shift (Co <= Ci)."""
    x = RNG.standard_normal(shape)
    w = RNG.standard_normal((co, shape[1], k, k))
    b = RNG.standard_normal(co) if bias else None
    y, _ = L.conv2d_forward(x, w, b, stride=stride)
    np.testing.assert_allclose(y, ref_conv2d(x, w, b, stride), rtol=1e-12, atol=1e-12)
    y32, _ = L.conv2d_forward(x.astype(np.float32), w.astype(np.float32),
                              None if b is None else b.astype(np.float32), stride=stride)
    assert y32.dtype == np.float32 and y32.flags.c_contiguous
    np.testing.assert_allclose(y32, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k,stride,bias,shape", [(3, 1, True, (2, 3, 5, 7)), (3, 1, False, (1, 2, 5, 3)),
                                                 (1, 1, True, (2, 3, 3, 5)),
                                                 (3, 2, True, (2, 2, 7, 6)), (3, 2, False, (1, 3, 5, 5))])
def test_conv2d_backward_finite_differences(k, stride, bias, shape):
    x = RNG.standard_normal(shape)
    w = RNG.standard_normal((3, shape[1], k, k))      # Co = 3: multiply-then-shift for Ci = 3, im2col for Ci = 2
    b = RNG.standard_normal(3) if bias else None
    arrays = [x, w] + ([b] if bias else [])

    def backward(r):
        _, cache = L.conv2d_forward(x, w, b, stride=stride)
        dw = np.zeros_like(w)
        db = np.zeros(3) if bias else None
        dx = L.conv2d_backward(r, cache, dw, db)
        return [dx, dw] + ([db] if bias else [])

    finite_diff_check(lambda: L.conv2d_forward(x, w, b, stride=stride)[0], arrays, backward)


def test_conv_transpose2d_forward_matches_scatter_reference():
    x = RNG.standard_normal((2, 3, 5, 4))
    w = RNG.standard_normal((3, 4, 3, 3))
    y, _ = L.conv_transpose2d_forward(x, w)
    assert y.shape == (2, 4, 10, 8)
    np.testing.assert_allclose(y, ref_conv_transpose2d(x, w), rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_backward_finite_differences():
    x = RNG.standard_normal((2, 3, 3, 5))
    w = RNG.standard_normal((3, 2, 3, 3))

    def backward(r):
        _, cache = L.conv_transpose2d_forward(x, w)
        dw = np.zeros_like(w)
        dx = L.conv_transpose2d_backward(r, cache, dw)
        return [dx, dw]

    finite_diff_check(lambda: L.conv_transpose2d_forward(x, w)[0], [x, w], backward)


# ------------------------------------------------------------------------------ bias + relu, concat, mae
def test_bias_relu_forward_and_backward():
    x = RNG.standard_normal((2, 3, 5, 7))
    b = RNG.standard_normal(3)
    y, _ = L.bias_relu_forward(x, b)
    np.testing.assert_array_equal(y, np.maximum(x + b[None, :, None, None], 0))

    def backward(r):
        _, cache = L.bias_relu_forward(x, b)
        db = np.zeros(3)
        return [L.bias_relu_backward(r, cache, db), db]

    finite_diff_check(lambda: L.bias_relu_forward(x, b)[0], [x, b], backward)


def test_concat_roundtrip():
    a, b = RNG.standard_normal((2, 3, 4, 5)), RNG.standard_normal((2, 2, 4, 5))
    y = nn.concat_forward([a, b])
    np.testing.assert_array_equal(y[:, :3], a)
    np.testing.assert_array_equal(y[:, 3:], b)
    da, db = nn.concat_backward(y, [3, 2])
    assert da.flags.c_contiguous and db.flags.c_contiguous
    np.testing.assert_array_equal(da, a)
    with pytest.raises(ValueError, match="sizes"):
        nn.concat_backward(y, [3, 3])


def test_mae_forward_and_backward():
    p, t = RNG.standard_normal((2, 3, 5, 7)), RNG.standard_normal((2, 3, 5, 7))
    loss, cache = nn.mae_forward(p, t)
    assert isinstance(loss, float)
    assert loss == pytest.approx(np.mean(np.abs(p - t)), rel=1e-14)
    finite_diff_check(lambda: np.array(nn.mae_forward(p, t)[0]), [p],
                      lambda r: [nn.mae_backward(nn.mae_forward(p, t)[1], scale=float(r))])
    p32 = p.astype(np.float32)
    g = nn.mae_backward(nn.mae_forward(p32, t)[1], scale=2.0)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * np.sign(p - t) / p.size, rtol=1e-6)


# ------------------------------------------------------------------------------ learnable 2x upscaler
def test_bicubic_phases_from_the_formula():
    np.testing.assert_allclose(cubic(np.array([1.75, 0.75, 0.25, 1.25])), L.BICUBIC_PHASE, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(1, 3, 7, 5), (2, 2, 1, 4), (1, 1, 2, 3)])
def test_upsample2x_initial_equals_matlab_bicubic(shape):
    x = RNG.random(shape)
    y, _ = L.upsample2x_forward(x, L.bicubic_upsample_kernel(shape[1]))
    np.testing.assert_allclose(y, ref_imresize2x(x), rtol=0, atol=1e-14)
    store = nn.ParamStore(seed=0)
    up = nn.Upsample2x(store, "up", channels=shape[1])
    store.finalize()
    y32, _ = up.forward(x.astype(np.float32))
    assert y32.dtype == np.float32 and y32.shape == (shape[0], shape[1], 2 * shape[2], 2 * shape[3])
    np.testing.assert_allclose(y32, ref_imresize2x(x), rtol=0, atol=2e-6)


def test_upsample2x_matches_package_imresize():
    resize = pytest.importorskip("mgbp_classic.resize")
    x = RNG.random((9, 6, 3))
    ref = np.asarray(resize.imresize(x, 2))          # (H, W, C), MATLAB imresize(x, 2, 'bicubic')
    y, _ = L.upsample2x_forward(x.transpose(2, 0, 1)[None], L.bicubic_upsample_kernel(3))
    np.testing.assert_allclose(y[0].transpose(1, 2, 0), ref, rtol=0, atol=1e-12)


def test_upsample2x_backward_finite_differences():
    x = RNG.standard_normal((2, 2, 3, 5))
    h = RNG.standard_normal((2, 8, 8))

    def backward(r):
        _, cache = L.upsample2x_forward(x, h)
        dh = np.zeros_like(h)
        return [L.upsample2x_backward(r, cache, dh), dh]

    finite_diff_check(lambda: L.upsample2x_forward(x, h)[0], [x, h], backward)


# ------------------------------------------------------------------------------ modules
def _module_check(make, xshape, seed=3):
    store = nn.ParamStore(seed=seed, dtype=np.float64)
    mod = make(store)
    store.finalize()
    store.params[...] += 0.1 * np.random.default_rng(seed).standard_normal(store.size)   # non-zero biases
    x = np.random.default_rng(seed + 1).standard_normal(xshape)

    def backward(r):
        store.zero_grad()
        _, cache = mod.forward(x)
        dx = mod.backward(r, cache)
        return [dx, store.grads.copy()]

    finite_diff_check(lambda: mod.forward(x)[0], [x, store.params], backward)
    return store, mod


def ref_dense(s, name, x):
    """DESIGN.md: h = conv3x3(relu(conv1x1(relu(x + b1)) + b2)), out = [x, h]."""
    a1 = np.maximum(x + s[name + ".bias1"][None, :, None, None], 0)
    z = np.einsum("oc,nchw->nohw", s[name + ".conv1.weight"][:, :, 0, 0], a1)
    a2 = np.maximum(z + s[name + ".bias2"][None, :, None, None], 0)
    h = ref_conv2d(a2, s[name + ".conv3.weight"], None, 1)
    return np.concatenate([x, h], axis=1)


def test_dense_layer_forward_reference_and_gradients():
    store, mod = _module_check(lambda s: nn.DenseLayer(s, "d", 3, growth=2, bottleneck=4), (2, 3, 5, 7))
    x = RNG.standard_normal((2, 3, 5, 7))
    y, _ = mod.forward(x)
    np.testing.assert_allclose(y, ref_dense(store, "d", x), rtol=1e-12, atol=1e-12)


def test_filter_block_gradients_and_reference():
    store, mod = _module_check(lambda s: nn.FilterBlock(s, "fb", 3, growth=2, bottleneck=4, layers=3),
                               (2, 3, 5, 3))
    x = RNG.standard_normal((2, 3, 5, 3))
    h = x
    for i in range(3):
        h = ref_dense(store, f"fb.dense{i}", h)
    a = np.maximum(h + store["fb.bias"][None, :, None, None], 0)
    ref = np.einsum("oc,nchw->nohw", store["fb.conv.weight"][:, :, 0, 0], a)
    np.testing.assert_allclose(mod.forward(x)[0], ref, rtol=1e-12, atol=1e-12)
    assert mod.forward(x)[0].shape == (2, 3, 5, 3)


def test_filter_block_wider_than_its_bottleneck():
    """c > bottleneck (as FilterBlock(96) with B = 64): forward against the formulas, gradients by FD."""
    store, mod = _module_check(lambda s: nn.FilterBlock(s, "fb", 5, growth=2, bottleneck=3, layers=2),
                               (1, 5, 3, 4))
    x = RNG.standard_normal((2, 5, 4, 3))
    h = ref_dense(store, "fb.dense1", ref_dense(store, "fb.dense0", x))
    a = np.maximum(h + store["fb.bias"][None, :, None, None], 0)
    ref = np.einsum("oc,nchw->nohw", store["fb.conv.weight"][:, :, 0, 0], a)
    np.testing.assert_allclose(mod.forward(x)[0], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("serial_below", [0, 1 << 40])
def test_parallel_and_serial_kernels_agree(serial_below, monkeypatch):
    """Kernels forced onto the thread pool (threshold 0) or onto one thread give the reference numbers."""
    from mgbp_classic.nn import _numba
    monkeypatch.setattr(_numba, "SERIAL_BELOW", serial_below)
    x = RNG.standard_normal((4, 8, 33, 35))
    w = RNG.standard_normal((6, 8, 3, 3))
    y, cache = L.conv2d_forward(x, w)
    np.testing.assert_allclose(y, ref_conv2d(x, w, None, 1), rtol=1e-11, atol=1e-11)
    wt = RNG.standard_normal((8, 5, 3, 3))
    yt, _ = L.conv_transpose2d_forward(x, wt)
    np.testing.assert_allclose(yt, ref_conv_transpose2d(x, wt), rtol=1e-11, atol=1e-11)
    b = RNG.standard_normal(8)
    np.testing.assert_array_equal(L.bias_relu_forward(x, b)[0], np.maximum(x + b[None, :, None, None], 0))
    store = nn.ParamStore(seed=3, dtype=np.float64)
    mod = nn.FilterBlock(store, "fb", 3, growth=2, bottleneck=4)
    store.finalize()
    store.params[...] += 0.1 * RNG.standard_normal(store.size)
    xb = RNG.standard_normal((2, 3, 6, 5))
    h = xb
    for i in range(3):
        h = ref_dense(store, f"fb.dense{i}", h)
    a = np.maximum(h + store["fb.bias"][None, :, None, None], 0)
    np.testing.assert_allclose(mod.forward(xb)[0], np.einsum("oc,nchw->nohw", store["fb.conv.weight"][:, :, 0, 0], a),
                               rtol=1e-12, atol=1e-12)


def test_conv_modules_gradients():
    _module_check(lambda s: nn.Conv2d(s, "c", 2, 3, 3, stride=2, bias=True), (1, 2, 5, 6))
    _module_check(lambda s: nn.ConvTranspose2d(s, "t", 3, 2, 3), (1, 3, 3, 2))
    _module_check(lambda s: nn.BiasReLU(s, "r", 3), (2, 3, 3, 5))
    _module_check(lambda s: nn.Upsample2x(s, "u", 2), (1, 2, 3, 4))


def test_filter_block_applied_twice_sums_gradients():
    store = nn.ParamStore(seed=5, dtype=np.float64)
    fb = nn.FilterBlock(store, "fb", 4, growth=3, bottleneck=5)
    store.finalize()
    store.params[...] += 0.1 * RNG.standard_normal(store.size)   # non-zero biases: no ReLU sits at a kink
    x1 = RNG.standard_normal((2, 4, 6, 5))
    d1, d2 = RNG.standard_normal((2, 4, 6, 5)), RNG.standard_normal((2, 4, 6, 5))
    y1, c1 = fb.forward(x1)
    y2, c2 = fb.forward(y1)                        # the same weights twice: y2 = fb(fb(x1))
    store.zero_grad()
    fb.backward(d1, c1)
    g1 = store.grads.copy()
    store.zero_grad()
    fb.backward(d2, c2)
    g2 = store.grads.copy()
    store.zero_grad()
    fb.backward(d2, c2)
    fb.backward(d1, c1)                            # accumulate both
    np.testing.assert_allclose(store.grads, g1 + g2, rtol=1e-13, atol=1e-13)
    # and the chained gradient of loss = <d2, fb(fb(x))> is the finite difference of the composition

    def forward():
        return fb.forward(fb.forward(x1)[0])[0]

    def backward(r):
        store.zero_grad()
        a, ca = fb.forward(x1)
        _, cb = fb.forward(a)
        dx = fb.backward(fb.backward(r, cb), ca)
        return [dx, store.grads.copy()]

    x1 = x1[:1, :, :3, :3].copy()
    finite_diff_check(forward, [x1, store.params], backward)


def test_float32_modules_stay_float32():
    store = nn.ParamStore(seed=0)
    fb = nn.FilterBlock(store, "fb", 8)
    store.finalize()
    x = RNG.standard_normal((2, 8, 9, 7)).astype(np.float32)
    y, c = fb.forward(x)
    dx = fb.backward(np.ones_like(y), c)
    assert y.dtype == dx.dtype == store.grads.dtype == np.float32
    assert y.flags.c_contiguous and dx.flags.c_contiguous
