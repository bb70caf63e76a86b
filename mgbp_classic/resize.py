"""Resampling: interpolation kernels, MATLAB-compatible ``imresize`` and the operators D and P.

Everything here is *separable sparse linear algebra along one axis at a time*: a resampling
along an axis of length ``n_in`` to ``n_out`` is a sparse ``(n_out, n_in)`` matrix (CSR) that
a Numba kernel applies to axis 0 or axis 1 of an ``(H, W)`` or ``(H, W, C)`` array. The matrix
is built once from a list of *raw* sample positions (which may fall outside ``[0, n_in)``)
and weights; the boundary mode maps raw positions back inside. Adjoints are the transposed
matrices, so ``<A x, y> = <x, A^T y>`` holds to rounding error for every mode.

Boundary modes (named as in :mod:`scipy.ndimage`; the input ``a b c d``):

=============  ===========================  =============================================
mode           extension                    note
=============  ===========================  =============================================
``reflect``    ``d c b a | a b c d | d c``  MATLAB ``symmetric`` (what ``imresize`` uses)
``mirror``     ``d c b | a b c d | c b a``  reflection about the edge sample
``wrap``       ``a b c d | a b c d | a b``  periodic; makes Fourier analysis exact
``nearest``    ``a a a a | a b c d | d d``  edge replication
``constant``   ``0 0 0 0 | a b c d | 0 0``  zero padding (``cval`` = 0)
=============  ===========================  =============================================

References
----------
MATLAB ``imresize`` (``contributions``, ``cubic``, ``lanczos2``/``3``, ``box``, ``triangle``);
R. Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP 29(6), 1981;
P. Navarrete Michelini, H. Liu, D. Zhu, "Multigrid Backprojection Super-Resolution and Deep
Filter Visualization", AAAI 2019 (operators ``D(Y) = (Y * g) ↓ s`` and ``P(X) = (X ↑ s) * p``).
"""
import functools
import math
import numbers

import numba
import numpy as np
from numba import njit, prange

from ._parallel import run
from ._validate import ParamError, check_array, check_choice, check_int, is_int

__all__ = [
    "cubic", "linear", "lanczos2", "lanczos3", "box", "KERNELS", "BOUNDARY_MODES",
    "imresize", "Downscale", "Upscale",
]

_EPS = np.finfo(np.float64).eps  # MATLAB's eps, used by its Lanczos kernels

BOUNDARY_MODES = ("reflect", "mirror", "wrap", "nearest", "constant")


# ----------------------------------------------------------------------------------------------
# Kernels (MATLAB imresize.m formulas, vectorised; ``.support`` is the half-width)
# ----------------------------------------------------------------------------------------------
def cubic(x, a=-0.5):
    """Keys cubic convolution kernel (MATLAB ``cubic`` for ``a = -0.5``).

    Parameters
    ----------
    x : array_like
        Distances (in samples of the grid being interpolated).
    a : float, optional
        Keys' free parameter; ``-0.5`` (default) is MATLAB's bicubic and the only third-order
        accurate choice.

    Returns
    -------
    numpy.ndarray
        ``(a+2)|x|³ − (a+3)|x|² + 1`` for ``|x| ≤ 1``, ``a|x|³ − 5a|x|² + 8a|x| − 4a`` for
        ``1 < |x| ≤ 2``, else 0. Support (half-width): 2.
    """
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (((a + 2.0) * ax3 - (a + 3.0) * ax2 + 1.0) * (ax <= 1)
            + (a * ax3 - 5.0 * a * ax2 + 8.0 * a * ax - 4.0 * a) * ((1 < ax) & (ax <= 2)))


def linear(x):
    """Triangle (linear interpolation) kernel, MATLAB ``triangle``. Support: 1."""
    x = np.asarray(x, dtype=np.float64)
    return (x + 1) * ((-1 <= x) & (x < 0)) + (1 - x) * ((0 <= x) & (x <= 1))


def lanczos2(x):
    """Lanczos-2 kernel exactly as MATLAB ``lanczos2`` (with its ``eps`` guard). Support: 2."""
    x = np.asarray(x, dtype=np.float64)
    f = (np.sin(np.pi * x) * np.sin(np.pi * x / 2) + _EPS) / ((np.pi ** 2 * x ** 2 / 2) + _EPS)
    return f * (np.abs(x) < 2)


def lanczos3(x):
    """Lanczos-3 kernel exactly as MATLAB ``lanczos3`` (with its ``eps`` guard). Support: 3."""
    x = np.asarray(x, dtype=np.float64)
    f = (np.sin(np.pi * x) * np.sin(np.pi * x / 3) + _EPS) / ((np.pi ** 2 * x ** 2 / 3) + _EPS)
    return f * (np.abs(x) < 3)


def box(x):
    """Box kernel, MATLAB ``box``: 1 on ``[-0.5, 0.5)``, else 0. Support: 0.5."""
    x = np.asarray(x, dtype=np.float64)
    return ((-0.5 <= x) & (x < 0.5)).astype(np.float64)


cubic.support = 2.0
linear.support = 1.0
lanczos2.support = 2.0
lanczos3.support = 3.0
box.support = 0.5

KERNELS = {
    "cubic": cubic, "bicubic": cubic,
    "linear": linear, "bilinear": linear, "triangle": linear,
    "lanczos2": lanczos2, "lanczos3": lanczos3,
    "box": box,
}


def _get_kernel(kernel):
    """A kernel name or a callable with ``.support`` -> (function, support)."""
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ParamError("kernel", f"must be one of {sorted(KERNELS)}, got {kernel!r}")
        f = KERNELS[kernel]
        return f, float(f.support)
    if callable(kernel) and hasattr(kernel, "support"):
        return kernel, float(kernel.support)
    raise ParamError("kernel", f"must be one of {sorted(KERNELS)} or a callable with a .support "
                     f"attribute, got {kernel!r}")


# ----------------------------------------------------------------------------------------------
# Boundary extension and sparse matrices
# ----------------------------------------------------------------------------------------------
def _extend(pos, n, mode):
    """Map integer positions (any range) into ``[0, n)``; -1 marks 'outside' for ``constant``."""
    pos = np.asarray(pos, dtype=np.int64)
    if mode == "reflect":
        m = np.mod(pos, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(pos)
        m = np.mod(pos, 2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    if mode == "wrap":
        return np.mod(pos, n)
    if mode == "nearest":
        return np.clip(pos, 0, n - 1)
    return np.where((pos >= 0) & (pos < n), pos, -1)  # constant


def _matrix(positions, weights, n_in, mode):
    """CSR ``(n_out, n_in)`` matrix: ``out[r] = sum_k weights[r, k] * in[ext(positions[r, k])]``.

    Entries are listed row by row, taps left to right; zero weights and (for ``constant``)
    positions outside the input are dropped, repeated columns are summed.
    """
    n_out, k = positions.shape
    cols = _extend(positions, n_in, mode)
    rows = np.repeat(np.arange(n_out, dtype=np.int64), k).reshape(n_out, k)
    keep = (weights != 0) & (cols >= 0)
    return _Csr.from_coo(rows[keep], cols[keep], np.asarray(weights, np.float64)[keep],
                         (n_out, n_in))


class _Csr:
    """A CSR matrix for the Numba kernels: int64 ``indptr``/``indices``, float64 ``values``
    (cast once per dtype on demand) and its transpose, built once and cached."""

    __slots__ = ("shape", "indptr", "indices", "values", "_data", "_t")

    def __init__(self, indptr, indices, values, shape):
        self.shape = (int(shape[0]), int(shape[1]))
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        self.values = np.ascontiguousarray(values, dtype=np.float64)
        self._data = {}
        self._t = None

    @classmethod
    def from_coo(cls, rows, cols, values, shape):
        """Entries sorted by (row, column); repeated entries summed in their listed order."""
        order = np.lexsort((cols, rows))                    # stable: keeps the listed order
        rows, cols, values = rows[order], cols[order], values[order]
        if rows.size:
            first = np.ones(rows.size, dtype=bool)
            first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
            starts = np.flatnonzero(first)
            values = np.add.reduceat(values, starts)
            rows, cols = rows[starts], cols[starts]
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        return cls(indptr, cols, values, shape)

    @classmethod
    def from_any(cls, mat):
        """From a ``_Csr`` or any object with ``tocsr()`` (e.g. a SciPy sparse matrix)."""
        if isinstance(mat, cls):
            return mat
        csr = mat.tocsr()
        coo = csr.tocoo()
        return cls.from_coo(np.asarray(coo.row, np.int64), np.asarray(coo.col, np.int64),
                            np.asarray(coo.data, np.float64), csr.shape)

    def rows(self):
        """Row index of every stored entry."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def toarray(self):
        dense = np.zeros(self.shape)
        np.add.at(dense, (self.rows(), self.indices), self.values)
        return dense

    def data(self, dtype):
        d = self._data.get(dtype)
        if d is None:
            d = self._data[dtype] = self.values.astype(dtype)
        return d

    @property
    def T(self):
        if self._t is None:
            self._t = _Csr.from_coo(self.indices, self.rows(), self.values,
                                    (self.shape[1], self.shape[0]))
        return self._t


# ----------------------------------------------------------------------------------------------
# Applying a sparse matrix along axis 0 or 1 (Numba kernels + NumPy reference path)
# ----------------------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _csr_axis0(indptr, indices, data, x, out):
    """out[i, m] = sum_k data[k] * x[indices[k], m] over row i of the CSR matrix.

    x: (N, M), out: (n_out, M), zero on entry.
    """
    n_out, m = out.shape
    for i in prange(n_out):
        for k in range(indptr[i], indptr[i + 1]):
            w = data[k]
            r = indices[k]
            for j in range(m):
                out[i, j] += w * x[r, j]


@njit(cache=True)
def _gather_row(indptr, indices, data, src, dst):
    """dst[i, c] = sum_k data[k] * src[indices[k], c] over row i. src: (N, C), dst: (n_out, C)."""
    n_out, c = dst.shape
    if c == 3:
        for i in range(n_out):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                w = data[k]
                q = indices[k]
                s0 += w * src[q, 0]
                s1 += w * src[q, 1]
                s2 += w * src[q, 2]
            dst[i, 0] = s0
            dst[i, 1] = s1
            dst[i, 2] = s2
    else:
        for i in range(n_out):
            for ch in range(c):
                acc = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    acc += data[k] * src[indices[k], ch]
                dst[i, ch] = acc


@njit(cache=True, parallel=True)
def _csr_axis1(indptr, indices, data, x, out):
    """out[h, i, c] = sum_k data[k] * x[h, indices[k], c]. x: (H, N, C), out: (H, n_out, C)."""
    for a in prange(x.shape[0]):
        _gather_row(indptr, indices, data, x[a], out[a])


@njit(cache=True, parallel=True)
def _fused_axis0_first(ip0, ix0, d0, ip1, ix1, d1, x, out, band):
    """Both passes, rows first: out[i] = M1 · (sum_k M0[i, k] x[k]), one output row at a time.

    Same arithmetic as ``_csr_axis0`` followed by ``_csr_axis1`` without the intermediate
    array. x: (Hi, Wi, C), out: (Ho, Wo, C).
    """
    hi, wi, c = x.shape
    ho = out.shape[0]
    m = wi * c
    xf = x.reshape((hi, m))
    for b in prange((ho + band - 1) // band):
        tmp = np.empty(m, dtype=x.dtype)
        for i in range(b * band, min(ho, (b + 1) * band)):
            for j in range(m):
                tmp[j] = 0.0
            for k in range(ip0[i], ip0[i + 1]):
                w = d0[k]
                r = ix0[k]
                for j in range(m):
                    tmp[j] += w * xf[r, j]
            _gather_row(ip1, ix1, d1, tmp.reshape((wi, c)), out[i])


@njit(cache=True, parallel=True)
def _fused_axis1_first(ip0, ix0, d0, ip1, ix1, d1, x, out, band, ring_size):
    """Both passes, columns first: out[i] = sum_k M0[i, k] · (M1 · x[k]).

    Resized input rows live in a small per-thread ring (FIFO); every tap is consumed at once,
    so any ring size is correct and a ring larger than a row's taps makes each resized row
    computed about once per band. Same arithmetic as ``_csr_axis1`` followed by
    ``_csr_axis0``. x: (Hi, Wi, C), out: (Ho, Wo, C), zero on entry.
    """
    c = x.shape[2]
    ho, wo = out.shape[0], out.shape[1]
    m = wo * c
    of = out.reshape((ho, m))
    for b in prange((ho + band - 1) // band):
        ring = np.empty((ring_size, m), dtype=x.dtype)
        ids = np.full(ring_size, -1, dtype=np.int64)
        nxt = 0
        for i in range(b * band, min(ho, (b + 1) * band)):
            for k in range(ip0[i], ip0[i + 1]):
                r = ix0[k]
                slot = -1
                for t in range(ring_size):
                    if ids[t] == r:
                        slot = t
                        break
                if slot < 0:
                    slot = nxt
                    nxt = (nxt + 1) % ring_size
                    ids[slot] = r
                    _gather_row(ip1, ix1, d1, x[r], ring[slot].reshape((wo, c)))
                w = d0[k]
                for j in range(m):
                    of[i, j] += w * ring[slot, j]


# Below this many multiply-adds a kernel runs on the calling thread only (see
# :mod:`mgbp_classic._parallel`): the many small resizes of IBP/MGBP never wake the thread pool.
_PARALLEL_MIN_WORK = 1 << 24


def _apply_axis(mat, x, axis, *, backend="numba"):
    """Apply the CSR matrix ``mat`` along ``axis`` (0 or 1) of a C-contiguous 2-D/3-D array.

    ``backend="numpy"`` is the plain NumPy (dense matrix) reference path used by the tests.
    """
    mat = _Csr.from_any(mat)
    if mat.shape[1] != x.shape[axis]:   # the kernels trust their indices: never skip this
        raise ParamError("x", f"matrix with {mat.shape[1]} columns cannot act on axis {axis} of "
                         f"length {x.shape[axis]}", subject="")
    n_out = mat.shape[0]
    shape = list(x.shape)
    shape[axis] = n_out
    if backend == "numpy":
        moved = np.moveaxis(x, axis, 0)
        flat = moved.reshape(moved.shape[0], -1)
        res = (mat.toarray() @ flat.astype(np.float64)).astype(x.dtype)
        res = res.reshape((n_out,) + moved.shape[1:])
        return np.ascontiguousarray(np.moveaxis(res, 0, axis))
    data, indptr, indices = mat.data(x.dtype), mat.indptr, mat.indices
    out = np.zeros(shape, dtype=x.dtype)
    work = int(indptr[-1]) * (x.size // x.shape[axis])
    if axis == 0:
        run(_csr_axis0, work, indptr, indices, data, x.reshape(x.shape[0], -1), out.reshape(n_out, -1),
            serial_below=_PARALLEL_MIN_WORK)
    else:
        run(_csr_axis1, work, indptr, indices, data, x.reshape(x.shape[0], x.shape[1], -1),
            out.reshape(out.shape[0], n_out, -1), serial_below=_PARALLEL_MIN_WORK)
    return out


_GATHER_COST = 3.0  # a pass along axis 1 (a gather) costs ~3x a pass along axis 0 per output


def _separable(m0, m1, x, *, first=None, backend="fused"):
    """Apply ``m0`` along axis 0 and ``m1`` along axis 1 (the operator ``m0 · x · m1ᵀ``).

    The two passes commute mathematically; ``first`` (0 or 1) fixes the order, ``None`` picks
    the cheaper one from the number of multiply-adds, the axis-1 pass being the slower kind.
    The fused kernels never build the intermediate array (``backend="twopass"`` does, with
    bit-for-bit the same result).
    """
    h_in, w_in = x.shape[:2]
    nnz0, nnz1 = int(m0.indptr[-1]), int(m1.indptr[-1])
    cost0 = nnz0 * w_in + _GATHER_COST * m0.shape[0] * nnz1    # axis 0, then axis 1
    cost1 = _GATHER_COST * h_in * nnz1 + nnz0 * m1.shape[0]    # axis 1, then axis 0
    if first is None:
        first = 0 if cost0 <= cost1 else 1
    if backend == "twopass":
        if first == 0:
            return _apply_axis(m1, _apply_axis(m0, x, 0), 1)
        return _apply_axis(m0, _apply_axis(m1, x, 1), 0)
    if m0.shape[1] != x.shape[0] or m1.shape[1] != x.shape[1]:
        raise ParamError("x", f"matrices of shapes {m0.shape}, {m1.shape} cannot act on an array of "
                         f"shape {x.shape}", subject="")
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    out = np.zeros((m0.shape[0], m1.shape[0], x3.shape[2]), dtype=x.dtype)
    band = max(8, -(-m0.shape[0] // (4 * numba.get_num_threads())))
    args = (m0.indptr, m0.indices, m0.data(x.dtype), m1.indptr, m1.indices, m1.data(x.dtype),
            x3, out, band)
    work = int(cost0 if first == 0 else cost1) * x3.shape[2]
    if first == 0:
        run(_fused_axis0_first, work, *args, serial_below=_PARALLEL_MIN_WORK)
    else:
        ring = int(np.max(np.diff(m0.indptr), initial=0)) + 2
        run(_fused_axis1_first, work, *args, ring, serial_below=_PARALLEL_MIN_WORK)
    return out.reshape((m0.shape[0], m1.shape[0]) + x.shape[2:])


# ----------------------------------------------------------------------------------------------
# MATLAB imresize
# ----------------------------------------------------------------------------------------------
def _contributions(out_len, scale, kernel, support, antialiasing):
    """MATLAB ``contributions()`` before index reflection, 0-based.

    Returns raw input positions ``(out_len, P)`` (may lie outside the input) and the
    normalised weights; output sample ``i`` (0-based) sits at input coordinate
    ``(i + 0.5) / scale - 0.5``.
    """
    width = 2.0 * support
    if scale < 1 and antialiasing:
        def h(x):
            return scale * kernel(scale * x)
        width = width / scale
    else:
        h = kernel
    x = np.arange(1, out_len + 1, dtype=np.float64)           # MATLAB 1-based output index
    u = x / scale + 0.5 * (1 - 1 / scale)                      # 1-based input coordinate
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    ind = left[:, None] + np.arange(p)[None, :]                # 1-based input indices
    weights = h(u[:, None] - ind)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return ind.astype(np.int64) - 1, weights


@functools.lru_cache(maxsize=128)
def _resize_matrix(n_in, n_out, scale, kernel, support, antialiasing):
    pos, w = _contributions(n_out, scale, kernel, support, antialiasing)
    return _matrix(pos, w, n_in, "reflect")  # MATLAB's aux = [1:n, n:-1:1] is 'reflect'


def _resize_params(in_shape, scale, output_shape):
    """Per-axis (scale, output size) exactly as MATLAB's imresize derives them."""
    if (scale is None) == (output_shape is None):
        raise ParamError("scale", "give exactly one of scale and output_shape, got "
                         f"scale={scale!r}, output_shape={output_shape!r}", subject="")
    if scale is not None:
        scales = (scale, scale) if np.isscalar(scale) else tuple(scale)
        if len(scales) != 2 or not all(isinstance(s, numbers.Real) and np.isfinite(s) and s > 0
                                       for s in scales):
            raise ParamError("scale", f"must be a positive number or a pair of them, got {scale!r}")
        scales = tuple(float(s) for s in scales)
        sizes = tuple(int(math.ceil(s * n)) for s, n in zip(scales, in_shape))
        return scales, sizes
    shp = tuple(output_shape)
    ok = len(shp) == 2 and any(v is not None for v in shp) and all(
        v is None or (is_int(v) and v >= 1) for v in shp)
    if not ok:
        raise ParamError("output_shape", "must be (rows, cols) of positive integers (one may be "
                         f"None to keep the aspect ratio), got {output_shape!r}")
    if shp[0] is None:
        s = shp[1] / in_shape[1]
        return (s, s), (int(math.ceil(s * in_shape[0])), int(shp[1]))
    if shp[1] is None:
        s = shp[0] / in_shape[0]
        return (s, s), (int(shp[0]), int(math.ceil(s * in_shape[1])))
    return (shp[0] / in_shape[0], shp[1] / in_shape[1]), (int(shp[0]), int(shp[1]))


def imresize(image, scale=None, *, output_shape=None, kernel="cubic", antialiasing=True):
    """Resize an image exactly as MATLAB's ``imresize`` does on floating-point input.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` or ``(H, W, C)``; axes 0 and 1 are resized. float32 stays float32, every
        other dtype is converted to float64 *without* rescaling (uint8 stays in [0, 255]).
    scale : float or (float, float), optional
        Scale factor; the output size is ``ceil(scale * size)`` per axis, as in MATLAB.
    output_shape : (int or None, int or None), optional
        Output ``(rows, cols)`` instead of ``scale``; the per-axis scale is then
        ``out / in``. One entry may be ``None``: it is derived to keep the aspect ratio.
    kernel : str or callable, optional
        A name from :data:`KERNELS` (default ``"cubic"``, Keys a = −0.5) or a callable kernel
        with a ``.support`` (half-width) attribute.
    antialiasing : bool, optional
        On down-scaling (scale < 1) widen the kernel by ``1/scale`` (MATLAB's default).

    Returns
    -------
    numpy.ndarray
        The resized image (no clipping, as MATLAB for floating-point input).

    Notes
    -----
    For each axis, output sample ``i`` (1-based) sits at input coordinate
    ``u = i/scale + (1 - 1/scale)/2``; its weights are ``h(u - j)`` for the
    ``ceil(width) + 2`` integers ``j`` from ``floor(u - width/2)``, normalised to sum 1, with
    ``h(x) = scale·k(scale·x)`` and ``width = 2·support/scale`` when anti-aliasing a
    down-scale (else ``h = k``). Out-of-range ``j`` are reflected symmetrically
    (``d c b a | a b c d``).

    MATLAB processes the axes in increasing order of scale (``dimensionOrder``, a stable
    sort: rows first on ties). That order matters only when the intermediate result is
    rounded (MATLAB's integer classes); on floating-point data the two orders are the same
    linear map and differ by rounding error only (~1e-16). Here the order is chosen to do
    the least work (e.g. on ×4 up-scaling the columns are resized first, so the large final
    pass runs along contiguous rows); the tests check both orders against a loop-by-loop
    transcription of ``imresize.m``. Agreement with MATLAB is to rounding error (far below
    1e-6).

    Examples
    --------
    >>> import numpy as np
    >>> imresize(np.arange(16.0).reshape(4, 4), 0.5).shape
    (2, 2)
    """
    img = check_array(image, "image", finite=False)
    func, support = _get_kernel(kernel)
    scales, sizes = _resize_params(img.shape[:2], scale, output_shape)
    m0, m1 = (_resize_matrix(img.shape[axis], sizes[axis], scales[axis], func, support,
                             bool(antialiasing)) for axis in (0, 1))
    return _separable(m0, m1, img)


# ----------------------------------------------------------------------------------------------
# The paper's operators D and P
# ----------------------------------------------------------------------------------------------
def _named_down_taps(func, support, s):
    """Taps and origin of MATLAB's anti-aliased ``imresize(·, 1/s)`` on an interior sample."""
    m = 2 * int(math.ceil(support)) + 5
    pos, w = _contributions(m, 1.0 / s, func, support, True)
    i = m // 2
    row_pos, row_w = pos[i] - s * i, w[i]
    nz = np.nonzero(row_w)[0]
    row_pos, row_w = row_pos[nz[0]:nz[-1] + 1], row_w[nz[0]:nz[-1] + 1]
    return row_w.copy(), int(row_pos[0])


def _named_up_taps(func, support, s):
    """Taps and origin of MATLAB's ``imresize(·, s)`` as one fine-grid filter p.

    Output ``j`` of phase ``j mod s`` takes weight ``w`` from input ``i``; the filter entry is
    ``p[j - s·i - origin] = w`` (every offset ``j - s·i`` occurs in exactly one phase).
    """
    m = 2 * int(math.ceil(support)) + 5
    q = m // 2
    pos, w = _contributions(s * m, float(s), func, support, True)
    offsets, values = [], []
    for phase in range(s):
        j = s * q + phase
        offsets.append(j - s * pos[j])
        values.append(w[j])
    offsets = np.concatenate(offsets)
    values = np.concatenate(values)
    keep = values != 0
    offsets, values = offsets[keep], values[keep]
    lo, hi = int(offsets.min()), int(offsets.max())
    taps = np.zeros(hi - lo + 1)
    taps[offsets - lo] = values
    return taps, lo


def _default_origin(length, s):
    """Origin that centres a filter of ``length`` taps on the fine-grid centre of a coarse pixel."""
    return int(math.floor((s - length) / 2))


class _Resampler:
    """Shared machinery of :class:`Downscale` and :class:`Upscale` (filter, origin, caches)."""

    _role = "filter"

    def __init__(self, scale, *, kernel="cubic", mode="reflect", origin=None):
        self.scale = check_int(scale, "scale", minimum=1)
        check_choice(mode, "mode", tuple(BOUNDARY_MODES))
        self.mode = mode
        s = self.scale
        if isinstance(kernel, str) or callable(kernel):
            func, support = _get_kernel(kernel)
            taps, org = (_named_down_taps if self._role == "g" else _named_up_taps)(
                func, support, s)
            self.kernel = (kernel if isinstance(kernel, str)
                           else getattr(kernel, "__name__", "custom"))
            self.taps = taps
            self.filter2d = np.outer(taps, taps)
            self.origin = (org, org) if origin is None else self._check_origin(origin)
        else:
            try:
                arr = np.asarray(kernel, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.ndim not in (1, 2) or arr.size == 0 \
                    or not np.all(np.isfinite(arr)):
                raise ParamError("kernel", "must be a kernel name, a finite 1-D array (separable) "
                                 f"or a finite 2-D array, got {type(kernel).__name__} of shape "
                                 f"{getattr(arr, 'shape', None)}")
            self.kernel = "custom"
            if arr.ndim == 1:
                self.taps = arr.copy()
                self.filter2d = np.outer(arr, arr)
            else:
                self.taps = None
                self.filter2d = arr.copy()
            if origin is None:
                self.origin = tuple(_default_origin(n, s) for n in self.filter2d.shape)
            else:
                self.origin = self._check_origin(origin)
        for arr in (self.taps, self.filter2d):      # the cached matrices depend on them
            if arr is not None:
                arr.setflags(write=False)
        self._cache = {}

    @staticmethod
    def _check_origin(origin):
        if is_int(origin):
            org = (origin, origin)
        else:
            org = tuple(origin) if isinstance(origin, (tuple, list)) else ()
        if len(org) != 2 or not all(is_int(o) for o in org):
            raise ParamError("origin", f"must be an integer or a pair of integers, got {origin!r}")
        return tuple(int(o) for o in org)

    @property
    def separable(self):
        """True when the filter is the outer product of :attr:`taps` with itself."""
        return self.taps is not None

    def __repr__(self):
        return (f"{type(self).__name__}({self.scale}, kernel={self.kernel!r}, "
                f"mode={self.mode!r})")

    def _mat(self, key, builder):
        mat = self._cache.get(key)
        if mat is None:
            mat = builder()
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = mat
        return mat


class Downscale(_Resampler):
    """The blur-and-decimate operator ``D(Y) = (Y ∗ g) ↓ s`` of the paper, with its adjoint.

    Parameters
    ----------
    scale : int
        Integer factor ``s ≥ 1``.
    kernel : str, callable or array_like, optional
        A name from :data:`KERNELS` (default ``"cubic"``): ``g`` is then exactly the anti-aliased
        filter of MATLAB ``imresize(Y, 1/s)``, i.e. ``g[t] ∝ k((c − t − origin)/s)/s`` with
        ``c = (s − 1)/2``, normalised to sum 1. Or an explicit filter on the fine grid: a 1-D
        array (separable, used on both axes) or a 2-D array (non-separable), used as given.
    mode : str, optional
        Boundary mode (``reflect`` default, ``mirror``, ``wrap``, ``nearest``, ``constant``);
        see the module docstring.
    origin : int or (int, int), optional
        Fine-grid offset of ``g[0]`` (per axis). Default for explicit filters:
        ``floor((s − len)/2)``, which centres the filter on the centre of the coarse pixel
        (``s·i + (s − 1)/2``) when ``len − s`` is even.

    Attributes
    ----------
    taps : numpy.ndarray or None
        The 1-D filter ``g`` (None when the filter is non-separable).
    filter2d : numpy.ndarray
        The 2-D filter, ``outer(taps, taps)`` when separable.
    origin : (int, int)
        Offsets ``(o0, o1)``: see Notes.

    Notes
    -----
    Convention (per axis, with ``o`` = origin and ``ext`` the boundary extension)::

        x[i] = sum_t g[t] · y[ext(s·i + o + t)],   i = 0 … ceil(N/s) − 1

    and in 2-D ``x[i, j] = Σ_{a,b} G[a, b] · y[ext(s·i + o0 + a), ext(s·j + o1 + b)]``.
    With ``mode="wrap"`` and ``s | N`` this is exactly a circular correlation followed by
    decimation. With the DFTs ``Ŷ(k) = Σ_n y[n] e^{−2πi kn/N}`` (length N) and
    ``X̂(k)`` (length N/s), and the symbol ``Ĝ(k) = Σ_t g[t] e^{−2πi k(t + o)/N}``::

        X̂(k) = (1/s) Σ_{r=0}^{s−1} conj(Ĝ(k + rN/s)) · Ŷ(k + rN/s),   k = 0 … N/s − 1

    (``conj`` because D correlates; for real symmetric-about-the-centre filters it only
    flips the phase). ``.adjoint`` scatters back: ``y[ext(s·i + o + t)] += g[t] · x[i]``.

    With the default cubic kernel and ``mode="reflect"``, ``D(Y)`` equals
    ``imresize(Y, 1/s)`` (MATLAB bicubic with anti-aliasing) for every image size.

    Examples
    --------
    >>> import numpy as np
    >>> D = Downscale(2)
    >>> D.taps.size, D.origin
    (8, (-3, -3))
    >>> D(np.ones((8, 6))).shape
    (4, 3)
    """

    _role = "g"

    def _axis_matrix(self, n_in, axis):
        """CSR ``(ceil(n_in/s), n_in)`` matrix of D along one axis (separable filters)."""
        def build():
            s, o = self.scale, self.origin[axis]
            n_out = -(-n_in // s)
            pos = s * np.arange(n_out)[:, None] + o + np.arange(self.taps.size)[None, :]
            w = np.broadcast_to(self.taps, pos.shape)
            return _matrix(pos, w, n_in, self.mode)
        return self._mat(("d", n_in, axis), build)

    def _pad_matrix(self, n_in, axis):
        """Extension matrix: fine positions ``o .. s·(n_out−1) + o + L − 1`` -> the input."""
        def build():
            s, o = self.scale, self.origin[axis]
            n_out = -(-n_in // s)
            pos = (o + np.arange(s * (n_out - 1) + self.filter2d.shape[axis]))[:, None]
            return _matrix(pos, np.ones(pos.shape), n_in, self.mode)
        return self._mat(("pad", n_in, axis), build)

    def __call__(self, y):
        """Apply D to an ``(H, W[, C])`` image; returns ``(ceil(H/s), ceil(W/s)[, C])``."""
        return self.apply(check_array(y, "y", finite=False))

    def apply(self, y):
        """``D(y)`` without checking ``y``: a C-contiguous float32/float64 ``(H, W[, C])`` array.

        What the solvers' loops call on arrays they have validated once (:func:`mgbp_classic.ibp.ibp`,
        :func:`mgbp_classic.multigrid.mgbp`); anything else should call ``D(y)``.
        """
        if self.separable:
            return _separable(self._axis_matrix(y.shape[0], 0),
                              self._axis_matrix(y.shape[1], 1), y)
        s, g = self.scale, self.filter2d.astype(y.dtype)
        n0, n1 = -(-y.shape[0] // s), -(-y.shape[1] // s)
        ypad = _apply_axis(self._pad_matrix(y.shape[0], 0), y, 0)
        ypad = _apply_axis(self._pad_matrix(y.shape[1], 1), ypad, 1)
        out = np.zeros((n0, n1) + y.shape[2:], dtype=y.dtype)
        for a in range(g.shape[0]):
            for b in range(g.shape[1]):
                if g[a, b] != 0:
                    out += g[a, b] * ypad[a:a + s * (n0 - 1) + 1:s, b:b + s * (n1 - 1) + 1:s]
        return out

    def adjoint(self, x, *, shape=None):
        """Apply Dᵀ: ``(h, w[, C])`` -> ``(H, W[, C])``.

        Parameters
        ----------
        x : array_like
            Coarse image.
        shape : (int, int), optional
            Fine spatial shape ``(H, W)``; default ``(s·h, s·w)``. Any ``(H, W)`` with
            ``ceil(H/s) = h`` and ``ceil(W/s) = w`` is allowed.
        """
        x = check_array(x, "x", finite=False)
        s = self.scale
        if shape is None:
            shape = (s * x.shape[0], s * x.shape[1])
        shape = tuple(int(v) for v in shape)
        if len(shape) != 2 or -(-shape[0] // s) != x.shape[0] or -(-shape[1] // s) != x.shape[1]:
            raise ParamError("shape", f"must be (H, W) with ceil(H/{s}), ceil(W/{s}) equal to "
                             f"{x.shape[:2]}, got {shape!r}")
        if self.separable:
            return _separable(self._axis_matrix(shape[0], 0).T,
                              self._axis_matrix(shape[1], 1).T, x)
        g = self.filter2d.astype(x.dtype)
        n0, n1 = x.shape[:2]
        p0, p1 = s * (n0 - 1) + g.shape[0], s * (n1 - 1) + g.shape[1]
        zpad = np.zeros((p0, p1) + x.shape[2:], dtype=x.dtype)
        for a in range(g.shape[0]):
            for b in range(g.shape[1]):
                if g[a, b] != 0:
                    zpad[a:a + s * (n0 - 1) + 1:s, b:b + s * (n1 - 1) + 1:s] += g[a, b] * x
        y = _apply_axis(self._pad_matrix(shape[0], 0).T, zpad, 0)
        return _apply_axis(self._pad_matrix(shape[1], 1).T, y, 1)


class Upscale(_Resampler):
    """The upsample-and-filter operator ``P(X) = (X ↑ s) ∗ p`` of the paper, with its adjoint.

    Parameters
    ----------
    scale : int
        The factor ``s ≥ 1`` (an integer), as for :class:`Downscale`.
    kernel : str, callable or array_like, optional
        The filter ``p``. Named (:data:`KERNELS`, default ``"cubic"``): exactly the filter of
        MATLAB ``imresize(X, s)``, ``p[n − origin] = k((n − (s − 1)/2)/s)`` (per output phase
        normalised to sum 1, as MATLAB does). Or an explicit fine-grid filter: 1-D (separable)
        or 2-D (non-separable), used as given (an interpolating filter has ``Σ p = s`` per axis).
    mode : str, optional
        Boundary mode applied to the *coarse* input (``reflect`` default, ``mirror``, ``wrap``,
        ``nearest``, ``constant``).
    origin : int or (int, int), optional
        Fine-grid offset of ``p[0]``; default for explicit filters ``floor((s − len)/2)``.

    Attributes
    ----------
    taps, filter2d, origin
        As in :class:`Downscale`.

    Notes
    -----
    Convention (per axis, ``o`` = origin, the sum over all integers ``i``)::

        y[j] = sum_i p[j − s·i − o] · x[ext(i)],   j = 0 … s·N − 1

    i.e. every coarse sample ``x[i]`` deposits ``p[t]·x[i]`` at fine position ``s·i + o + t``
    (in the brief form ``y[j] = Σ_i x[i] p[j − s·i + t0]`` one has ``t0 = −o``). In 2-D,
    ``y[j0, j1] = Σ P[j0 − s·i0 − o0, j1 − s·i1 − o1] · x[ext(i0), ext(i1)]``.
    With ``mode="wrap"``, the DFTs ``X̂`` (length N) and ``Ŷ`` (length M = s·N) satisfy
    exactly::

        Ŷ(k) = P̂(k) · X̂(k mod N),   P̂(k) = Σ_t p[t] e^{−2πi k(t + o)/M},   k = 0 … M − 1.

    With the default cubic kernel and ``mode="reflect"``, ``P(X)`` equals ``imresize(X, s)``
    (MATLAB bicubic).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((4, 3))
    >>> y = Upscale(2)(x)                          # the bicubic ×2 upscale of x
    >>> y.shape, bool(np.allclose(y, imresize(x, 2)))
    ((8, 6), True)
    """

    _role = "p"

    def _axis_matrix(self, n_in, axis):
        """CSR ``(s·n_in, n_in)`` matrix of P along one axis (separable filters).

        Rows list their coarse inputs in increasing order, as MATLAB's ``contributions``.
        """
        def build():
            s, o, taps = self.scale, self.origin[axis], self.taps
            n_out = s * n_in
            k = -(-taps.size // s)
            j = np.arange(n_out)[:, None]
            r = np.mod(j - o, s)                              # first tap of this output's phase
            t = r + s * (k - 1 - np.arange(k))[None, :]     # taps decreasing: inputs increasing
            valid = t < taps.size
            w = np.where(valid, taps[np.minimum(t, taps.size - 1)], 0.0)
            pos = (j - o - t) // s
            return _matrix(pos, w, n_in, self.mode)
        return self._mat(("p", n_in, axis), build)

    def _geometry(self, n_in, axis):
        """Extended coarse range ``[i_lo, i_hi)`` and fine buffer ``[f_lo, f_hi)`` (2-D filters)."""
        s, o, length = self.scale, self.origin[axis], self.filter2d.shape[axis]
        i_lo = (-o - length) // s + 1
        i_hi = (s * n_in - 1 - o) // s + 1
        start, end = s * i_lo + o, s * (i_hi - 1) + o + length
        return i_lo, i_hi, min(start, 0), max(end, s * n_in), start

    def _pad_matrix(self, n_in, axis):
        def build():
            i_lo, i_hi = self._geometry(n_in, axis)[:2]
            pos = np.arange(i_lo, i_hi)[:, None]
            return _matrix(pos, np.ones(pos.shape), n_in, self.mode)
        return self._mat(("pad", n_in, axis), build)

    def __call__(self, x):
        """Apply P to an ``(h, w)`` or ``(h, w, C)`` image; returns ``(s·h, s·w[, C])``."""
        return self.apply(check_array(x, "x", finite=False))

    def apply(self, x):
        """``P(x)`` without checking ``x``: a C-contiguous float32/float64 ``(h, w[, C])`` array
        (what the solvers' loops call; anything else should call ``P(x)``)."""
        if self.separable:
            return _separable(self._axis_matrix(x.shape[0], 0),
                              self._axis_matrix(x.shape[1], 1), x)
        s, pf = self.scale, self.filter2d.astype(x.dtype)
        g0 = self._geometry(x.shape[0], 0)
        g1 = self._geometry(x.shape[1], 1)
        xpad = _apply_axis(self._pad_matrix(x.shape[0], 0), x, 0)
        xpad = _apply_axis(self._pad_matrix(x.shape[1], 1), xpad, 1)
        m0, m1 = xpad.shape[:2]
        buf = np.zeros((g0[3] - g0[2], g1[3] - g1[2]) + x.shape[2:], dtype=x.dtype)
        b0, b1 = g0[4] - g0[2], g1[4] - g1[2]
        for a in range(pf.shape[0]):
            for b in range(pf.shape[1]):
                if pf[a, b] != 0:
                    buf[b0 + a:b0 + a + s * (m0 - 1) + 1:s,
                        b1 + b:b1 + b + s * (m1 - 1) + 1:s] += pf[a, b] * xpad
        return np.ascontiguousarray(buf[-g0[2]:-g0[2] + s * x.shape[0],
                                        -g1[2]:-g1[2] + s * x.shape[1]])

    def adjoint(self, y):
        """Apply Pᵀ: ``(s·h, s·w[, C])`` -> ``(h, w[, C])``."""
        y = check_array(y, "y", finite=False)
        s = self.scale
        if y.shape[0] % s or y.shape[1] % s:
            raise ParamError("y", f"must have height and width divisible by scale={s}, got shape "
                             f"{y.shape}")
        n0, n1 = y.shape[0] // s, y.shape[1] // s
        if self.separable:
            return _separable(self._axis_matrix(n0, 0).T,
                              self._axis_matrix(n1, 1).T, y)
        pf = self.filter2d.astype(y.dtype)
        g0, g1 = self._geometry(n0, 0), self._geometry(n1, 1)
        buf = np.zeros((g0[3] - g0[2], g1[3] - g1[2]) + y.shape[2:], dtype=y.dtype)
        buf[-g0[2]:-g0[2] + y.shape[0], -g1[2]:-g1[2] + y.shape[1]] = y
        m0, m1 = g0[1] - g0[0], g1[1] - g1[0]
        b0, b1 = g0[4] - g0[2], g1[4] - g1[2]
        xpad = np.zeros((m0, m1) + y.shape[2:], dtype=y.dtype)
        for a in range(pf.shape[0]):
            for b in range(pf.shape[1]):
                if pf[a, b] != 0:
                    xpad += pf[a, b] * buf[b0 + a:b0 + a + s * (m0 - 1) + 1:s,
                                           b1 + b:b1 + b + s * (m1 - 1) + 1:s]
        x = _apply_axis(self._pad_matrix(n0, 0).T, xpad, 0)
        return _apply_axis(self._pad_matrix(n1, 1).T, x, 1)
