"""Resampling: MATLAB imresize, kernels, the operators D and P and their adjoints."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from mgbp_classic.resize import (
    BOUNDARY_MODES, KERNELS, Downscale, Upscale, _apply_axis, _Csr, _resize_matrix, _separable,
    box, cubic, imresize, lanczos2, lanczos3, linear,
)

RNG = np.random.default_rng(20190127)


# ----------------------------------------------------------------------------------------------
# A literal, loop-by-loop transcription of MATLAB imresize.m (1-based indices as in MATLAB)
# ----------------------------------------------------------------------------------------------
def matlab_cubic(x):
    absx = abs(x)
    absx2, absx3 = absx ** 2, absx ** 3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((1 < absx) and (absx <= 2)))


def matlab_triangle(x):
    return (x + 1) * ((-1 <= x) and (x < 0)) + (1 - x) * ((0 <= x) and (x <= 1))


def matlab_lanczos3(x):
    eps = 2.220446049250313e-16
    f = ((math.sin(math.pi * x) * math.sin(math.pi * x / 3) + eps)
         / ((math.pi ** 2 * x ** 2 / 3) + eps))
    return f * (abs(x) < 3)


MATLAB_KERNELS = {"cubic": (matlab_cubic, 4.0), "linear": (matlab_triangle, 2.0),
                  "lanczos3": (matlab_lanczos3, 6.0)}


def matlab_contributions(in_length, out_length, scale, kernel, kernel_width, antialiasing):
    """contributions() of imresize.m; returns per output pixel a list of (1-based index, weight)."""
    if scale < 1 and antialiasing:
        def h(x):
            return scale * kernel(scale * x)
        kernel_width = kernel_width / scale
    else:
        h = kernel
    aux = list(range(1, in_length + 1)) + list(range(in_length, 0, -1))
    rows = []
    for x in range(1, out_length + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - kernel_width / 2)
        p = math.ceil(kernel_width) + 2
        ind = [left + k for k in range(p)]
        w = [h(u - j) for j in ind]
        total = sum(w)
        w = [wj / total for wj in w]
        ind = [aux[(j - 1) % len(aux)] for j in ind]
        rows.append(list(zip(ind, w)))
    return rows


def matlab_imresize(a, scale=None, output_shape=None, kernel="cubic", antialiasing=True):
    """imresize.m on a float array, one output pixel at a time."""
    kernel_fn, width = MATLAB_KERNELS[kernel]
    a = np.array(a, dtype=np.float64)
    if scale is not None:
        scales = [scale, scale] if np.isscalar(scale) else list(scale)
        sizes = [math.ceil(scales[0] * a.shape[0]), math.ceil(scales[1] * a.shape[1])]
    else:
        sizes = list(output_shape)
        scales = [sizes[0] / a.shape[0], sizes[1] / a.shape[1]]
    order = sorted([0, 1], key=lambda d: scales[d])          # [~, order] = sort(scale)
    for dim in order:
        rows = matlab_contributions(a.shape[dim], sizes[dim], scales[dim], kernel_fn, width,
                                    antialiasing)
        shape = list(a.shape)
        shape[dim] = sizes[dim]
        out = np.zeros(shape)
        for i, taps in enumerate(rows):
            for j, w in taps:
                if dim == 0:
                    out[i] += w * a[j - 1]
                else:
                    out[:, i] += w * a[:, j - 1]
        a = out
    return a


@pytest.mark.parametrize("shape, kwargs", [
    ((7, 9), dict(scale=2)),
    ((7, 9, 3), dict(scale=3)),
    ((12, 10, 2), dict(scale=0.5)),                                   # anti-aliased downscale
    ((13, 11), dict(scale=1 / 3)),
    ((16, 15, 3), dict(scale=0.37)),                                  # non-integer scales
    ((6, 7), dict(scale=1.7)),
    ((9, 12, 3), dict(output_shape=(5, 17))),                         # mixed down/up, rows first
    ((9, 12), dict(output_shape=(20, 4))),                            # cols (smaller scale) first
    ((12, 12), dict(scale=0.5, antialiasing=False)),
    ((10, 8), dict(scale=0.6, kernel="lanczos3")),
    ((5, 6), dict(scale=2.5, kernel="linear")),
    ((14, 9, 3), dict(scale=0.25, kernel="linear")),
])
def test_imresize_matches_matlab_transcription(shape, kwargs):
    img = RNG.random(shape)
    expected = matlab_imresize(img, **kwargs)
    got = imresize(img, **kwargs)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape, scale", [((9, 12, 3), (0.5, 3.0)), ((16, 16), 4), ((16, 16), 0.25),
                                          ((11, 8, 5), (2.0, 1 / 3))])
def test_both_axis_orders_match_matlab(shape, scale):
    """imresize picks the cheaper pass order; MATLAB's order (smaller scale first) agrees."""
    img = RNG.random(shape)
    scales = (scale, scale) if np.isscalar(scale) else scale
    sizes = [math.ceil(s * n) for s, n in zip(scales, shape)]
    m0, m1 = (_resize_matrix(shape[a], sizes[a], scales[a], cubic, 2.0, True) for a in (0, 1))
    expected = matlab_imresize(img, scale=scale)
    for first in (0, 1):
        fused = _separable(m0, m1, img, first=first)
        np.testing.assert_allclose(fused, expected, atol=1e-13)
        # the fused kernels do the two-pass arithmetic without the intermediate array
        np.testing.assert_array_equal(fused, _separable(m0, m1, img, first=first,
                                                        backend="twopass"))
    np.testing.assert_allclose(imresize(img, scale), expected, atol=1e-13)


def test_imresize_hand_computed_values():
    # imresize([1 2], 2) in MATLAB: every row is [116 154 230 268] / 128
    # (bicubic x2 taps -3/128, -9/128, 29/128, 111/128; symmetric padding 2 1 | 1 2 | 2 1)
    got = imresize(np.array([[1.0, 2.0]]), 2)
    np.testing.assert_allclose(got, np.tile([0.90625, 1.203125, 1.796875, 2.09375], (2, 1)),
                               atol=1e-15)
    # the bicubic x2 filter pair itself
    taps = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 128
    np.testing.assert_array_equal(Upscale(2).taps, taps)
    np.testing.assert_array_equal(Downscale(2).taps, taps / 2)
    # a constant stays constant, scale 1 is the identity
    np.testing.assert_allclose(imresize(np.full((5, 7, 3), 0.3), 0.43), 0.3, atol=1e-15)
    img = RNG.random((6, 5))
    np.testing.assert_allclose(imresize(img, 1), img, atol=1e-15)


def test_imresize_shapes_dtypes_and_aspect():
    img = RNG.random((10, 15, 3))
    assert imresize(img, 1 / 3).shape == (4, 5, 3)                  # ceil(scale * size)
    assert imresize(img, output_shape=(None, 30)).shape == (20, 30, 3)
    assert imresize(img, output_shape=(5, None)).shape == (5, 8, 3)
    f32 = imresize(img.astype(np.float32), 0.5)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, imresize(img, 0.5), atol=1e-6)
    assert imresize(np.arange(12, dtype=np.uint8).reshape(3, 4), 2).dtype == np.float64
    np.testing.assert_allclose(imresize(img, (0.5, 2)), matlab_imresize(img, output_shape=(5, 30)),
                               atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one of"),
    (dict(scale=2, output_shape=(3, 3)), "exactly one of"),
    (dict(scale=-1), "scale must be"),
    (dict(scale=float("nan")), "scale must be"),
    (dict(output_shape=(0, 3)), "output_shape must be"),
    (dict(output_shape=(None, None)), "output_shape must be"),
    (dict(scale=2, kernel="spline"), "kernel must be one of"),
])
def test_imresize_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imresize(np.zeros((4, 4)), **kwargs)


def test_imresize_rejects_bad_images():
    for bad in (np.zeros(5), np.zeros((0, 4)), np.zeros((2, 2, 2, 2))):
        with pytest.raises(ValueError, match="image must be"):
            imresize(bad, 2)


# ----------------------------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------------------------
def test_kernel_values_and_supports():
    x = np.array([0.0, 0.25, 0.75, 1.25, 1.75, 2.0, -0.5, 3.0])
    np.testing.assert_allclose(cubic(x), [1, 111 / 128, 29 / 128, -9 / 128, -3 / 128, 0, 0.5625, 0])
    # Keys with a = -0.75 (another common choice) at 0.5: (a+2)/8 - (a+3)/4 + 1
    assert cubic(0.5, a=-0.75) == pytest.approx(1.25 / 8 - 2.25 / 4 + 1)
    np.testing.assert_allclose(linear([-1, -0.5, 0, 0.25, 1, 1.5]), [0, 0.5, 1, 0.75, 0, 0])
    np.testing.assert_array_equal(box([-0.5, 0.0, 0.49, 0.5]), [1, 1, 1, 0])  # MATLAB: [-0.5, 0.5)
    assert lanczos2(0.0) == pytest.approx(1) and lanczos3(0.0) == pytest.approx(1)
    assert lanczos2(1.0) == pytest.approx(0, abs=1e-15) and lanczos3(2.5) == pytest.approx(
        math.sin(2.5 * math.pi) * math.sin(2.5 * math.pi / 3) / (math.pi ** 2 * 2.5 ** 2 / 3))
    assert lanczos2(2.0) == 0 and lanczos3(3.0) == 0
    for name, support in [("cubic", 2), ("bicubic", 2), ("linear", 1), ("bilinear", 1),
                          ("lanczos2", 2), ("lanczos3", 3), ("box", 0.5)]:
        assert KERNELS[name].support == support
    # cubic is a partition of unity
    t = RNG.random(5)
    np.testing.assert_allclose(sum(cubic(t - k) for k in range(-3, 4)), 1.0, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# D and P: equal to imresize, their documented conventions, adjoints
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_default_operators_equal_imresize(s):
    y = RNG.random((5 * s, 3 * s, 3))
    x = RNG.random((5, 4, 3))
    if s == 3:   # x/scale is not exact in floating point for s = 3: equal to rounding
        np.testing.assert_allclose(Downscale(s)(y), imresize(y, 1 / s), atol=1e-14, rtol=0)
        np.testing.assert_allclose(Upscale(s)(x), imresize(x, s), atol=1e-14, rtol=0)
    else:
        np.testing.assert_array_equal(Downscale(s)(y), imresize(y, 1 / s))
        np.testing.assert_array_equal(Upscale(s)(x), imresize(x, s))
    # D also matches imresize when the size is not a multiple of s (output ceil(N/s))
    y_odd = RNG.random((5 * s + 1, 3 * s - 1))
    np.testing.assert_allclose(Downscale(s)(y_odd), imresize(y_odd, 1 / s), atol=1e-14)


_NP_PAD = {"reflect": "symmetric", "mirror": "reflect", "wrap": "wrap", "nearest": "edge",
           "constant": "constant"}


def reference_down(y, g, s, origin, mode):
    """x[i, j] = sum_ab g[a, b] y[ext(s i + o0 + a), ext(s j + o1 + b)] by loops; np.pad extends."""
    pad = 4 * (g.shape[0] + g.shape[1] + s) + max(y.shape)
    yp = np.pad(y, ((pad, pad), (pad, pad)), mode=_NP_PAD[mode])
    n0, n1 = -(-y.shape[0] // s), -(-y.shape[1] // s)
    x = np.zeros((n0, n1))
    for i in range(n0):
        for j in range(n1):
            for a in range(g.shape[0]):
                for b in range(g.shape[1]):
                    x[i, j] += g[a, b] * yp[pad + s * i + origin[0] + a,
                                            pad + s * j + origin[1] + b]
    return x


def reference_up(x, p, s, origin, mode):
    """y[s i0 + o0 + a, s i1 + o1 + b] += p[a, b] x[ext(i0), ext(i1)] over all i, by loops."""
    pad = 2 * (p.shape[0] + p.shape[1]) // s + 4 + max(x.shape)
    xp = np.pad(x, ((pad, pad), (pad, pad)), mode=_NP_PAD[mode])
    y = np.zeros((s * x.shape[0], s * x.shape[1]))
    for i0 in range(-pad, x.shape[0] + pad):
        for i1 in range(-pad, x.shape[1] + pad):
            for a in range(p.shape[0]):
                for b in range(p.shape[1]):
                    j0, j1 = s * i0 + origin[0] + a, s * i1 + origin[1] + b
                    if 0 <= j0 < y.shape[0] and 0 <= j1 < y.shape[1]:
                        y[j0, j1] += p[a, b] * xp[pad + i0, pad + i1]
    return y


@pytest.mark.parametrize("mode", BOUNDARY_MODES)
@pytest.mark.parametrize("kind", ["named", "taps_even", "taps_odd", "nonseparable"])
def test_operators_follow_documented_convention(mode, kind):
    s = 2 if kind != "taps_odd" else 3
    kernel = {"named": "cubic", "taps_even": RNG.random(6), "taps_odd": RNG.random(5),
              "nonseparable": RNG.random((5, 4))}[kind]
    D = Downscale(s, kernel=kernel, mode=mode)
    P = Upscale(s, kernel=kernel, mode=mode)
    assert (D.taps is None) == (kind == "nonseparable")
    y = RNG.random((3 * s + 1, 2 * s + 1))
    np.testing.assert_allclose(D(y), reference_down(y, D.filter2d, s, D.origin, mode), atol=1e-13)
    x = RNG.random((4, 3))
    np.testing.assert_allclose(P(x), reference_up(x, P.filter2d, s, P.origin, mode), atol=1e-13)


@pytest.mark.parametrize("mode", BOUNDARY_MODES)
@pytest.mark.parametrize("kernel", ["cubic", "lanczos3", "box", "taps", "nonseparable"])
@pytest.mark.parametrize("s", [2, 3])
def test_adjoint_identities(mode, kernel, s):
    k = {"taps": RNG.standard_normal(7),
         "nonseparable": RNG.standard_normal((6, 5))}.get(kernel, kernel)
    D = Downscale(s, kernel=k, mode=mode)
    P = Upscale(s, kernel=k, mode=mode)
    for shape in [(4 * s, 3 * s, 3), (4 * s + 1, 3 * s - 1)]:   # also sizes not divisible by s
        y = RNG.standard_normal(shape)
        x = RNG.standard_normal(D(y).shape)
        lhs, rhs = np.vdot(D(y), x), np.vdot(y, D.adjoint(x, shape=shape[:2]))
        assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))
    x = RNG.standard_normal((4, 5, 2))
    y = RNG.standard_normal((4 * s, 5 * s, 2))
    lhs, rhs = np.vdot(P(x), y), np.vdot(x, P.adjoint(y))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


def test_separable_and_outer_product_filters_agree():
    t = RNG.random(7)
    for mode in BOUNDARY_MODES:
        y, x = RNG.random((13, 10, 3)), RNG.random((5, 6, 3))
        np.testing.assert_allclose(Downscale(2, kernel=t, mode=mode)(y),
                                   Downscale(2, kernel=np.outer(t, t), mode=mode)(y), atol=1e-13)
        np.testing.assert_allclose(Upscale(2, kernel=t, mode=mode)(x),
                                   Upscale(2, kernel=np.outer(t, t), mode=mode)(x), atol=1e-13)


@pytest.mark.parametrize("s", [2, 3])
def test_wrap_mode_fourier_symbols(s):
    """The DFT formulas of the Downscale/Upscale docstrings hold exactly in wrap mode (1-D rows)."""
    n = 8 * s
    D, P = Downscale(s, mode="wrap"), Upscale(s, mode="wrap")
    y = RNG.standard_normal((1, n))
    k = np.arange(n)
    t = np.arange(D.taps.size)[:, None]
    g_hat = np.sum(D.taps[:, None] * np.exp(-2j * np.pi * k * (t + D.origin[1]) / n), axis=0)
    c_hat = np.conj(g_hat) * np.fft.fft(y[0])
    x_hat = np.mean([c_hat[np.arange(n // s) + r * n // s] for r in range(s)], axis=0)
    np.testing.assert_allclose(np.fft.fft(D(y)[0]), x_hat, atol=1e-12)
    x = RNG.standard_normal((1, n))
    m = s * n
    k = np.arange(m)
    t = np.arange(P.taps.size)[:, None]
    p_hat = np.sum(P.taps[:, None] * np.exp(-2j * np.pi * k * (t + P.origin[1]) / m), axis=0)
    np.testing.assert_allclose(np.fft.fft(P(x)[0]), p_hat * np.fft.fft(x[0])[k % n], atol=1e-12)


def test_operators_float32_and_shapes():
    D, P = Downscale(2), Upscale(2)
    y = RNG.random((8, 6, 3))
    for op, arr in [(D, y), (P, y), (D.adjoint, y), (P.adjoint, y)]:
        out32 = op(arr.astype(np.float32))
        assert out32.dtype == np.float32
        np.testing.assert_allclose(out32, op(arr), atol=1e-6)
    assert D(y).shape == (4, 3, 3) and P(y).shape == (16, 12, 3)
    assert D.adjoint(np.zeros((4, 3))).shape == (8, 6)
    assert D.adjoint(np.zeros((4, 3)), shape=(7, 5)).shape == (7, 5)
    Dn = Downscale(2, kernel=np.ones((2, 3)) / 6)
    assert Dn(y.astype(np.float32)).dtype == np.float32 and Dn.origin == (0, -1)
    assert Downscale(2).taps.sum() == pytest.approx(1) and Upscale(3).taps.sum() == pytest.approx(3)
    assert Downscale(2, origin=(-3, -2)).origin == (-3, -2)
    with pytest.raises(ValueError, match="read-only"):     # cached matrices depend on the taps
        Downscale(2).taps[0] = 1.0


@pytest.mark.parametrize("factory, kwargs, match", [
    (Downscale, dict(scale=2.5), "scale must be an integer"),
    (Upscale, dict(scale=0), "scale must be an integer"),
    (Downscale, dict(scale=2, mode="symmetric"), "mode must be one of"),
    (Upscale, dict(scale=2, kernel="spline"), "kernel must be one of"),
    (Upscale, dict(scale=2, kernel=np.zeros((2, 2, 2))), "kernel must be"),
    (Downscale, dict(scale=2, kernel=[1.0, np.nan]), "kernel must be"),
    (Downscale, dict(scale=2, kernel={"taps": 1}), "kernel must be"),
    (Downscale, dict(scale=2, kernel=[1.0, 1.0], origin=0.5), "origin must be"),
])
def test_operator_errors(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_operator_call_errors():
    with pytest.raises(ValueError, match="divisible by scale=2"):
        Upscale(2).adjoint(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="shape must be"):
        Downscale(2).adjoint(np.zeros((4, 3)), shape=(12, 6))
    with pytest.raises(ValueError, match="y must be"):
        Downscale(2)(np.zeros(4))


def test_parallel_and_serial_paths_agree(monkeypatch):
    import mgbp_classic.resize as rz
    img = RNG.random((40, 30, 3))
    serial = [imresize(img, 2.5), imresize(img, 0.3), Upscale(2).adjoint(img[:, :, :2])]
    monkeypatch.setattr(rz, "_PARALLEL_MIN_WORK", 0)
    parallel = [imresize(img, 2.5), imresize(img, 0.3), Upscale(2).adjoint(img[:, :, :2])]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 1), (9, 7, 2), (9, 7, 3), (9, 7, 5)])
@pytest.mark.parametrize("axis", [0, 1])
def test_numba_kernels_match_numpy_reference(shape, axis):
    mat = sp.random(11, shape[axis], density=0.4, random_state=3, format="csr")
    x = RNG.random(shape)
    for dtype, tol in [(np.float64, 1e-13), (np.float32, 1e-5)]:
        xx = np.ascontiguousarray(x, dtype=dtype)
        fast = _apply_axis(mat, xx, axis)
        ref = _apply_axis(mat, xx, axis, backend="numpy")
        dense = np.moveaxis(np.tensordot(mat.toarray(), np.moveaxis(x, axis, 0), axes=1), 0, axis)
        assert fast.dtype == dtype and ref.dtype == dtype
        np.testing.assert_allclose(fast, dense, atol=tol)
        np.testing.assert_allclose(ref, dense, atol=tol)


def test_sparse_builder_sums_repeats_and_transposes():
    rows = np.array([2, 0, 2, 1, 0, 2])
    cols = np.array([1, 3, 1, 0, 3, 0])
    vals = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    mat = _Csr.from_coo(rows, cols, vals, (4, 5))
    dense = np.zeros((4, 5))
    np.add.at(dense, (rows, cols), vals)
    np.testing.assert_array_equal(mat.toarray(), dense)
    np.testing.assert_array_equal(mat.T.toarray(), dense.T)
    np.testing.assert_array_equal(mat.indptr, [0, 1, 2, 4, 4])         # row 3 is empty
    np.testing.assert_array_equal(mat.indices, [3, 0, 0, 1])            # sorted within rows
    with pytest.raises(ValueError, match="cannot act on axis 0"):
        _apply_axis(mat, np.zeros((4, 2)), 0)
