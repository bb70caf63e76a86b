"""Layers as pairs of functions: each ``*_forward`` directly above its ``*_backward``.

Conventions (as in llm.c): ``forward(inp, params...) -> out, cache`` keeps exactly what the
backward needs; ``backward(dout, cache, dparams...) -> dinp`` *adds* into the gradient arrays it
is given (so a layer applied many times with shared weights sums its gradients) and returns the
input gradient as a new array. Tensors are ``(N, C, H, W)`` C-contiguous, float32 in training;
every function also accepts float64 (used by the finite-difference checks).

Each cache is a small named type defined beside its forward (:class:`ConvCache`, ...); besides the
fields its backward reads, it knows the windows of a backward pass (used by
:mod:`mgbp_classic.windowed`). Every function takes the engine context as ``engine=``
(:class:`~mgbp_classic.nn.engine.Engine`: ReLU gains mode, whether parameter gradients are wanted,
scratch buffers); the internal ``*_c_*`` functions take it as their last argument.

Shapes: ``N`` batch, ``C``/``Ci`` input channels, ``Co`` output channels, ``H, W`` input size,
``Ho, Wo`` output size, ``k`` kernel size.
"""
from typing import NamedTuple

import numpy as np

from . import kernels as _k
from . import tiles as _tiles
from ._numba import run as _run
from .engine import resolve as _resolve

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "bias_relu_forward", "bias_relu_backward",
    "concat_forward", "concat_backward",
    "upsample2x_forward", "upsample2x_backward",
    "mae_forward", "mae_backward",
    "bicubic_upsample_kernel",
    "ConvCache", "ConvTransposeCache", "BiasReLUCache", "DenseCache", "DenseLayerCache",
    "FilterBlockCache", "Upsample2xCache", "MAECache",
]


def conv_out_size(n, k, stride, pad):
    """Output length of a convolution: ``floor((n + 2 pad - k) / stride) + 1``."""
    return (n + 2 * pad - k) // stride + 1


# ---------------------------------------------------------------------------------------------
# caches: what each backward needs, and the windows of a backward pass (mgbp_classic.windowed)
# ---------------------------------------------------------------------------------------------
# Every cache below can
# * ``shapes_only()``: drop its activations and keep the shapes and gains (all that an
#   input-gradient pass reads of it, see the docstring of mgbp_classic.windowed);
# * ``backward_window(box)``: for an output gradient that is zero outside ``box = (y0, y1, x0, x1)``
#   (end-exclusive, in output pixels), return ``(in_box, out_box)``: the input window outside which
#   the input gradient is zero, and the output window (``box`` grown by the layer's reach, clipped)
#   that a backward pass on ``in_box`` reads;
# * ``crop(in_box)``: the cache of the layer applied to the input window ``in_box`` alone (shapes
#   and cropped gains), which the layer's ordinary backward accepts.
def shape_only(dtype, shape):
    """A zero-stride stand-in with this shape and dtype (all that input-gradient passes read of an
    array), taking no memory."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _released(a):
    return None if a is None else shape_only(a.dtype, a.shape)


def _grow(box, r, h, w):
    """``box`` grown by ``r`` on every side, clipped to ``h × w``."""
    y0, y1, x0, x1 = box
    return max(y0 - r, 0), min(y1 + r, h), max(x0 - r, 0), min(x1 + r, w)


def _halve_out(box, h, w, r):
    """Coarse window (size ``h × w``) of a fine ``box``: ``⌊y0 / 2⌋ − r … ⌈y1 / 2⌉ + r``, clipped."""
    y0, y1, x0, x1 = box
    return max(y0 // 2 - r, 0), min(-(-y1 // 2) + r, h), max(x0 // 2 - r, 0), min(-(-x1 // 2) + r, w)


def _double(box):
    return 2 * box[0], 2 * box[1], 2 * box[2], 2 * box[3]


def _box_hw(box):
    return box[1] - box[0], box[3] - box[2]


def _crop_internal(g, n, h, w, box):
    """A gain in the internal ``(1, C, N·H·W)`` layout, cropped to ``box`` of the ``H × W`` map."""
    y0, y1, x0, x1 = box
    c = g.shape[1]
    return np.ascontiguousarray(g.reshape(c, n, h, w)[:, :, y0:y1, x0:x1]).reshape(1, c, -1)


def _need_gain(gain):
    if gain is None:
        raise RuntimeError("windowed rows need a graph recorded with gains (Engine.record or Engine.frozen)")


class ConvCache(NamedTuple):
    """Cache of :func:`conv2d_forward`."""

    x: np.ndarray              # (Ci, N, H, W) input, internal layout
    w: np.ndarray              # (Co, Ci, k, k)
    stride: int
    has_bias: bool

    def shapes_only(self):
        return self._replace(x=_released(self.x))

    def backward_window(self, box):
        _, _, h, wd = self.x.shape
        if self.w.shape[2] == 1:
            return box, box
        if self.stride == 1:                                   # a 3×3 kernel reaches one pixel
            box = _grow(box, 1, h, wd)
            return box, box
        ho, wo = conv_out_size(h, 3, 2, 1), conv_out_size(wd, 3, 2, 1)
        out = _grow(box, 1, ho, wo)                            # stride 2: out j reads in 2j − 1 … 2j + 1
        return (2 * out[0], min(2 * out[1], h), 2 * out[2], min(2 * out[3], wd)), out

    def crop(self, box):
        ci, n = self.x.shape[:2]
        return self._replace(x=shape_only(self.x.dtype, (ci, n) + _box_hw(box)))


class ConvTransposeCache(NamedTuple):
    """Cache of :func:`conv_transpose2d_forward`."""

    x: np.ndarray              # (Ci, N, H, W) input, internal layout
    w: np.ndarray              # (Ci, Co, 3, 3)

    def shapes_only(self):
        return self._replace(x=_released(self.x))

    def backward_window(self, box):
        _, _, h, wd = self.x.shape
        inner = _halve_out(box, h, wd, 1)                      # in i writes out 2i − 1 … 2i + 1
        return inner, _double(inner)

    def crop(self, box):
        ci, n = self.x.shape[:2]
        return self._replace(x=shape_only(self.x.dtype, (ci, n) + _box_hw(box)))


class BiasReLUCache(NamedTuple):
    """Cache of :func:`bias_relu_forward`."""

    x: np.ndarray              # (C, N, H, W) input, internal layout
    b: np.ndarray              # (C,)
    gain: np.ndarray           # (1, C, N·H·W) recorded or frozen gain, or None

    def shapes_only(self):
        return self._replace(x=_released(self.x))

    def backward_window(self, box):
        return box, box

    def crop(self, box):
        _need_gain(self.gain)
        c, n, h, wd = self.x.shape
        return BiasReLUCache(shape_only(self.x.dtype, (c, n) + _box_hw(box)), self.b,
                             _crop_internal(self.gain, n, h, wd, box))


class DenseCache(NamedTuple):
    """Cache of :func:`dense_c_forward` (the block's channel buffer is cached by the block)."""

    a2: np.ndarray             # (B, N, H, W) bottleneck activation, or None (input gradients only)
    g1: np.ndarray             # (1, C, N·H·W) gain of relu(x + b1), or None
    g2: np.ndarray             # (1, B, N·H·W) gain of relu(z + b2), or None

    def shapes_only(self):
        return self._replace(a2=None)

    def crop(self, n, h, w, box):
        """The cache on ``box`` of the ``H × W`` map (its gains cropped, no activation)."""
        return DenseCache(None, _crop_internal(self.g1, n, h, w, box), _crop_internal(self.g2, n, h, w, box))


class DenseLayerCache(NamedTuple):
    """Cache of :meth:`mgbp_classic.nn.DenseLayer.forward`."""

    hbuf: np.ndarray           # (C + G, N, H, W) the layer's channel buffer [x, h]
    dense: DenseCache


class FilterBlockCache(NamedTuple):
    """Cache of :func:`filter_block_c_forward`."""

    hbuf: np.ndarray           # (C + layers G, N, H, W) the block's channel buffer
    dense: tuple               # one DenseCache per dense layer
    gain: np.ndarray           # (1, C + layers G, N·H·W) gain of relu(h + b), or None

    def shapes_only(self):
        return FilterBlockCache(_released(self.hbuf), tuple(d.shapes_only() for d in self.dense), self.gain)

    def backward_window(self, box):
        _, _, h, wd = self.hbuf.shape
        box = _grow(box, len(self.dense), h, wd)              # one 3×3 convolution per dense layer
        return box, box

    def crop(self, box):
        _need_gain(self.gain)
        ct, n, h, wd = self.hbuf.shape
        return FilterBlockCache(shape_only(self.hbuf.dtype, (ct, n) + _box_hw(box)),
                                tuple(d.crop(n, h, wd, box) for d in self.dense),
                                _crop_internal(self.gain, n, h, wd, box))


class Upsample2xCache(NamedTuple):
    """Cache of :func:`upsample2x_forward`."""

    xp: np.ndarray             # (N, C, H + 4, W + 4) the padded input
    h: np.ndarray              # (C, 8, 8) kernel
    xshape: tuple              # (N, C, H, W)

    def shapes_only(self):
        return self._replace(xp=_released(self.xp))

    def backward_window(self, box):
        _, _, h, wd = self.xshape
        inner = _halve_out(box, h, wd, 3)                      # 8-tap phases: in i feeds out 2i − 4 … 2i + 5
        return inner, _double(inner)

    def crop(self, box):
        n, c = self.xshape[:2]
        bh, bw = _box_hw(box)
        return Upsample2xCache(shape_only(self.xp.dtype, (n, c, bh + 4, bw + 4)), self.h, (n, c, bh, bw))


class MAECache(NamedTuple):
    """Cache of :func:`mae_forward`."""

    sign: np.ndarray           # sign(pred - target), the shape of pred
    size: int


# ---------------------------------------------------------------------------------------------
# internal layout (C, N, H, W): one matrix product over all N H W pixels per convolution
# ---------------------------------------------------------------------------------------------
# Measured on this 2-core machine (float32, OpenBLAS via numpy.matmul): the 3×3 convolution's
# product (144 × 64) @ (64 × 16·4096) runs at ~26 GFLOP/s as ONE matrix product in (C, N·H·W)
# layout, but at ~3 GFLOP/s as 16 per-image products (144 × 64) @ (64 × 4096) in (N, C, H·W)
# layout (OpenBLAS threads poorly on the short products). So every convolution runs in the
# (C, N, H, W) layout; public functions take and return (N, C, H, W) and convert once each way,
# the *_c functions stay on the internal layout (what a Sequential runs between its modules, see
# graph.py), and every cache holds internal-layout arrays. For one image both layouts are the same
# memory and each conversion is a view. Temporaries that never escape a call live in the engine's
# workspace (mgbp_classic.nn.engine.Workspace).

def to_internal(x, out=None):
    """``(N, C, H, W) -> (C, N, H, W)``: into ``out`` if given, else a C-contiguous array.

    When either leading axis has length 1 (one image, in either layout) both orders have the same
    memory, so a C-contiguous ``x`` comes back as a view (no copy): callers never write into the
    result of a call without ``out``.
    """
    n, c, h, w = x.shape
    if out is None and (n == 1 or c == 1) and x.flags.c_contiguous:
        return x.reshape(c, n, h, w)
    x = np.ascontiguousarray(x)
    if out is None:
        out = np.empty((c, n, h, w), x.dtype)
    _run(_k.swap01, x.size, x.reshape(n, c, h * w), out.reshape(c, n, h * w))
    return out


def to_public(xc):
    """``(C, N, H, W) -> (N, C, H, W)`` (a view for one image, as in :func:`to_internal`)."""
    return to_internal(xc)


def _abt(a, b):
    """``a @ b.T`` for two wide ``(M, P)`` and ``(K, P)`` matrices (a weight gradient, sum over P).

    Computed as ``(b @ a.T).T`` when ``b`` has more rows: OpenBLAS splits the product over its
    rows, and the taller orientation measured 1.5x faster for (48, P) @ (P, 96).
    """
    if b.shape[0] > a.shape[0]:
        return np.matmul(b, a.T).T
    return np.matmul(a, b.T)


def _mat(x):
    """``(C, N, H, W)`` as the ``(C, N H W)`` matrix (a view)."""
    return x.reshape(x.shape[0], -1)


def _w_im2col(w):    # (Co, Ci, 3, 3) -> [o, (t, c)] = w[o, c, a, b],  t = 3a + b
    co, ci = w.shape[:2]
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(co, 9 * ci))


def _dw_im2col(dwm, co, ci):   # inverse of _w_im2col
    return dwm.reshape(co, 3, 3, ci).transpose(0, 3, 1, 2)


def _w_taps(w):      # (Co, Ci, 3, 3) -> [(t, o), c] = w[o, c, 2 - a, 2 - b]  (flipped kernel)
    co, ci = w.shape[:2]
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(9 * co, ci))


def _dw_taps(dwm, co, ci):     # inverse of _w_taps
    return dwm.reshape(3, 3, co, ci)[::-1, ::-1].transpose(2, 3, 0, 1)


def _wt_taps(w):     # transposed conv (Ci, Co, 3, 3) -> [(t, o), c] = w[c, o, a, b]
    ci, co = w.shape[:2]
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(9 * co, ci))


def _dwt_taps(dwm, ci, co):    # inverse of _wt_taps
    return dwm.reshape(3, 3, co, ci).transpose(3, 2, 0, 1)


def conv_c_forward(xc, w, stride, engine, out=None):
    """Convolution on the internal layout: ``xc (Ci, N, H, W)`` -> ``(Co, N, Ho, Wo)`` (into ``out`` if given).

    ``k = 1``: one product ``W (Co, Ci) @ X (Ci, P)``. ``k = 3``, stride 1, float32: the register-tiled
    kernel of :mod:`.tiles` on the bordered input. ``k = 3``, stride 1 (float64) and ``Co <= Ci``:
    ``T = W_taps (9 Co, Ci) @ X`` then ``y = scatter(T)`` (each output sums 9 shifted rows of
    ``T``; the product is as large as im2col's, the scratch 9 Co rows instead of 9 Ci). Otherwise
    im2col: ``cols = gather(X) (9 Ci, P_out)`` then ``y = W (Co, 9 Ci) @ cols``.
    """
    ci, n, h, wd = xc.shape
    co, k = w.shape[0], w.shape[2]
    dt = xc.dtype
    w = w.astype(dt, copy=False)
    if k == 1:
        y = np.empty((co, n, h, wd), dt) if out is None else out              # (Co, N, H, W)
        np.matmul(w.reshape(co, ci), _mat(xc), out=_mat(y))                   # y = W x
        return y
    ho, wo = conv_out_size(h, 3, stride, 1), conv_out_size(wd, 3, stride, 1)
    y = np.empty((co, n, ho, wo), dt) if out is None else out                 # (Co, N, Ho, Wo)
    if _on_tiles(xc, stride):                                                 # the register-tiled kernel
        return _tiles.conv3x3(xc, w, engine, tag="conv.xb" if stride == 1 else "conv.xp", stride=stride, out=y)
    if stride == 1 and co <= ci:
        taps = engine.scratch("conv.taps", (9, co, n, h, wd), dt)             # (9, Co, N, H, W)
        np.matmul(_w_taps(w), _mat(xc), out=taps.reshape(9 * co, -1))         # T = W_taps x
        _run(_k.scatter_taps, taps.size, taps, y, 1, False)                                    # y = sum_t shift_t(T_t)
    else:
        cols = engine.scratch("conv.cols", (9, ci, n, ho, wo), dt)            # (9, Ci, N, Ho, Wo)
        _run(_k.gather_taps, xc.size, xc, cols, stride)                                      # cols = im2col(x)
        np.matmul(_w_im2col(w), cols.reshape(9 * ci, -1), out=_mat(y))       # y = W cols
    return y


def _conv3x3_dw_blas(dyc, xc, dw, engine):
    """``dw +=`` the weight gradient of a stride-1 3×3 convolution by a BLAS product: over the taps of
    ``dy`` when ``Co <= Ci``, else over im2col of ``x`` (the products of :func:`conv_c_backward`)."""
    ci, n, h, wd = xc.shape
    co, dt = dyc.shape[0], xc.dtype
    if co <= ci:
        g = engine.scratch("conv.dtaps", (9, co, n, h, wd), dt)               # G_t = shift_t(dy)
        _run(_k.gather_taps, dyc.size, dyc, g, 1)
        dw += _dw_taps(_abt(g.reshape(9 * co, -1), _mat(xc)), co, ci).astype(dw.dtype, copy=False)
    else:
        _dw_by_im2col(dyc, xc, dw, 1, engine)


def _on_tiles(xc, stride):
    """Whether a 3×3 convolution of ``xc`` at ``stride`` runs on the tiles: float32, and at stride 2
    an even height and width (the four phase planes; the network's always are)."""
    return xc.dtype == np.float32 and (stride == 1 or (xc.shape[2] % 2 == 0 and xc.shape[3] % 2 == 0))


def _dw_by_im2col(dyc, xc, dw, stride, engine):
    """``dw +=`` the weight gradient of a 3×3 convolution at ``stride`` by a BLAS product over im2col of
    ``x`` (left in the scratch ``conv.cols``)."""
    ci, n = xc.shape[:2]
    co, ho, wo = dyc.shape[0], dyc.shape[2], dyc.shape[3]
    cols = engine.scratch("conv.cols", (9, ci, n, ho, wo), xc.dtype)
    _run(_k.gather_taps, xc.size, xc, cols, stride)                           # cols = im2col(x)
    dw += _dw_im2col(_abt(_mat(dyc), cols.reshape(9 * ci, -1)), co, ci).astype(dw.dtype, copy=False)


def _conv3x3_tiled_backward(dyc, xc, w, dw, need_dx, engine, out=None):
    """Backward of a float32 stride-1 3×3 convolution on the tiles: ``dw +=`` the weight gradient
    (BLAS for rows too short for its tile), returns ``dx`` (into ``out`` if given) or None.

    ``xc`` is read only for the weight gradient (it may be None when no parameter gradient is wanted).
    """
    params = engine.param_grads
    tiled_dw = params and _tiles.wgrad_fits(dyc.shape[3])
    if params and not tiled_dw:
        _conv3x3_dw_blas(dyc, xc, dw, engine)
    dyb = _tiles.bordered_scratch(engine, "conv.dyb", dyc)
    if tiled_dw:                                                              # y = w * x
        dw += _tiles.conv3x3_wgrad(dyb, _tiles.bordered_scratch(engine, "conv.xw", xc)).astype(dw.dtype, copy=False)
    if not need_dx:
        return None
    return _tiles.conv3x3(None, _tiles.flipped_transpose(w), engine, xb=dyb, out=out)  # dx = flip(w)^T * dy


def conv_c_backward(dyc, xc, w, stride, dw, need_dx, engine):
    """Backward of :func:`conv_c_forward`: adds into ``dw``, returns ``dx (Ci, N, H, W)`` or None."""
    ci, n, h, wd = xc.shape
    co, k = w.shape[0], w.shape[2]
    dt = xc.dtype
    w = w.astype(dt, copy=False)
    dym = _mat(dyc)                                                           # (Co, P_out)
    params = engine.param_grads
    if k == 1:
        if params:
            dw += _abt(dym, _mat(xc)).reshape(co, ci, 1, 1).astype(dw.dtype, copy=False)  # y = W x
        if not need_dx:
            return None
        dx = np.empty(xc.shape, dt)
        np.matmul(w.reshape(co, ci).T, dym, out=_mat(dx))                     # y = W x
        return dx
    if stride == 1 and dt == np.float32:                                      # the tiles
        return _conv3x3_tiled_backward(dyc, xc, w, dw, need_dx, engine)
    if _on_tiles(xc, stride):                                                 # the tiles, four phases
        tiled_dw = params and _tiles.wgrad_fits(dyc.shape[3])
        if params and not tiled_dw:                                           # (its scratch is slot "a")
            _dw_by_im2col(dyc, xc, dw, 2, engine)
        dyb = _tiles.bordered_scratch(engine, "conv.dyb", dyc)
        if tiled_dw:
            dw += _tiles.conv3x3_wgrad(dyb, _tiles.phase_scratch(engine, "conv.xw", xc),
                                       stride=2).astype(dw.dtype, copy=False)
        # dx = the transposed convolution of dy (its adjoint)
        return _tiles.conv_transpose3x3(dyb, w.transpose(1, 0, 2, 3), engine) if need_dx else None
    if stride == 1 and co <= ci:
        g = engine.scratch("conv.dtaps", (9, co, n, h, wd), dt)               # (9, Co, N, H, W)
        _run(_k.gather_taps, dyc.size, dyc, g, 1)                                             # G_t = shift_t(dy)
        gm = g.reshape(9 * co, -1)
        if params:
            dw += _dw_taps(_abt(gm, _mat(xc)), co, ci).astype(dw.dtype, copy=False)   # T = W_taps x
        if not need_dx:
            return None
        dx = np.empty(xc.shape, dt)
        np.matmul(_w_taps(w).T, gm, out=_mat(dx))                             # T = W_taps x
        return dx
    if params:
        _dw_by_im2col(dyc, xc, dw, stride, engine)                            # y = W cols
    if not need_dx:
        return None
    ho, wo = dyc.shape[2], dyc.shape[3]
    cols = engine.scratch("conv.cols", (9, ci, n, ho, wo), dt)
    np.matmul(_w_im2col(w).T, dym, out=cols.reshape(9 * ci, -1))              # dcols = W^T dy
    dx = np.empty(xc.shape, dt)
    _run(_k.scatter_taps, cols.size, cols, dx, stride, False)                                  # cols = im2col(x)
    return dx


def conv_transpose_c_forward(xc, w, engine):
    """Transposed convolution (3×3, stride 2, padding 1, output padding 1) on the internal layout.

    float32: the tiles, one convolution per output phase (:func:`.tiles.conv_transpose3x3`).
    Otherwise ``T = W_t (9 Co, Ci) @ X`` then ``y = scatter(T)`` at stride 2: ``(Co, N, 2H, 2W)``.
    """
    ci, n, h, wd = xc.shape
    co = w.shape[1]
    dt = xc.dtype
    if dt == np.float32:
        return _tiles.conv_transpose3x3(_tiles.bordered_scratch(engine, "conv.xb", xc), w.transpose(1, 0, 2, 3), engine)
    taps = engine.scratch("convt.taps", (9, co, n, h, wd), dt)                # (9, Co, N, H, W)
    np.matmul(_wt_taps(w.astype(dt, copy=False)), _mat(xc), out=taps.reshape(9 * co, -1))  # T = W_t x
    y = np.empty((co, n, 2 * h, 2 * wd), dt)                                  # (Co, N, 2H, 2W)
    _run(_k.scatter_taps, taps.size, taps, y, 2, False)                                        # y = scatter_2(T)
    return y


def conv_transpose_c_backward(dyc, xc, w, dw, need_dx, engine):
    """Backward of :func:`conv_transpose_c_forward` (``dx`` is the strided convolution of ``dy``)."""
    ci, n, h, wd = xc.shape
    co = w.shape[1]
    dt = xc.dtype
    if dt == np.float32:                                                      # the tiles, four phases
        tiled_dw = engine.param_grads and _tiles.wgrad_fits(wd)
        if engine.param_grads and not tiled_dw:
            _dw_by_im2col(xc, dyc, dw, 2, engine)                            # x as the coarse side
        dyp = _tiles.phase_scratch(engine, "convt.dyp", dyc)
        if tiled_dw:
            dw += _tiles.conv3x3_wgrad(_tiles.bordered_scratch(engine, "conv.xw", xc), dyp,
                                       stride=2).astype(dw.dtype, copy=False)
        return _tiles.conv3x3(None, w, engine, xb=dyp, stride=2) if need_dx else None
    g = engine.scratch("convt.dtaps", (9, co, n, h, wd), dt)
    _run(_k.gather_taps, dyc.size, dyc, g, 2)                                                 # G = gather_2(dy)
    gm = g.reshape(9 * co, -1)
    if engine.param_grads:
        dw += _dwt_taps(_abt(gm, _mat(xc)), ci, co).astype(dw.dtype, copy=False)   # T = W_t x
    if not need_dx:
        return None
    dx = np.empty(xc.shape, dt)
    np.matmul(_wt_taps(w.astype(dt, copy=False)).T, gm, out=_mat(dx))       # T = W_t x
    return dx


def _fused_relus(dt, engine):
    """Whether a 1×1 convolution runs with the ReLUs around it fused (:func:`.tiles.pointwise`):
    float32, in the normal ReLU mode (recording or frozen gains take the separate passes)."""
    return dt == np.float32 and engine.gains.mode is None


def dense_c_forward(hbuf, c, b1, w1, b2, w3, engine):
    """DenseLayer on the internal layout, in place in the block's channel buffer.

    Reads ``x = hbuf[:c]`` and writes ``h = conv3x3(relu(conv1x1(relu(x + b1)) + b2))`` into
    ``hbuf[c:c + G]``, so the concatenation ``[x, h]`` costs nothing.

    Parameters
    ----------
    hbuf : ndarray, shape (C_total, N, H, W)
    c : int
        Channels already in the buffer (this layer's input width).
    b1 (c,), w1 (B, c, 1, 1), b2 (B,), w3 (G, B, 3, 3) : ndarray

    Returns
    -------
    cache : DenseCache
        The bottleneck activation (B, N, H, W) and the gains of the two ReLUs (None in normal mode).
    """
    _, n, h, wd = hbuf.shape
    bn, gr = w1.shape[0], w3.shape[0]
    dt = hbuf.dtype
    p = n * h * wd
    a2 = np.empty((bn, n, h, wd), dt)                                         # (B, N, H, W)
    if _fused_relus(dt, engine):                                              # a2 = relu(W1 relu(x + b1) + b2)
        _tiles.pointwise(_mat(hbuf[:c]), w1, b1, b2, relu_out=True, out=_mat(a2))
        g1 = g2 = None
    else:
        x3 = hbuf[:c].reshape(1, c, p)                                        # (1, c, P)
        a1 = engine.scratch("dense.a1", (1, c, p), dt)                        # (1, c, P)
        g1 = relu_apply(x3, b1, a1, engine)                                   # a1 = relu(x + b1)
        np.matmul(w1.reshape(bn, c).astype(dt, copy=False), a1[0], out=_mat(a2))  # z = W1 a1
        a23 = a2.reshape(1, bn, p)
        g2 = relu_apply(a23, b2, a23, engine)                                 # a2 = relu(z + b2)
    if dt == np.float32:                                                      # h = W3 * a2
        _tiles.conv3x3(a2, w3, engine, tag="dense.a2b", out=hbuf[c:c + gr])
        return DenseCache(a2, g1, g2)
    taps = engine.scratch("dense.taps", (9, gr, n, h, wd), dt)                # (9, G, N, H, W)
    np.matmul(_w_taps(w3.astype(dt, copy=False)), _mat(a2), out=taps.reshape(9 * gr, p))  # T = W3 a2
    _run(_k.scatter_taps, taps.size, taps, hbuf[c:c + gr], 1, False)          # h = sum_t shift_t(T_t)
    return DenseCache(a2, g1, g2)


def _no_gain():
    """The gain argument of ``bias_relu_rows`` when nothing is recorded (same type, never written)."""
    return np.empty((1, 1, 1), np.bool_)


def _relu_recompute(x3, b, g, out3):
    """The forward of :func:`relu_apply` again, without touching the gains tape."""
    b = b.astype(x3.dtype, copy=False)
    if g is None:
        _run(_k.bias_relu_rows, x3.size, x3, b, out3, _no_gain(), False)
    else:
        _run(_k.bias_gain_rows, x3.size, x3, b, g, out3)


def dense_c_backward(dhbuf, hbuf, c, b1, w1, b2, w3, cache, db1, dw1, db2, dw3, engine):
    """Backward of :func:`dense_c_forward`.

    Reads ``dh = dhbuf[c:c + G]`` (complete once every later layer has run its backward), adds
    into the gradients and ADDS the input gradient into ``dhbuf[:c]``.
    """
    a2, g1, g2 = cache.a2, cache.g1, cache.g2
    _, n, h, wd = hbuf.shape
    bn, gr = w1.shape[0], w3.shape[0]
    dt = hbuf.dtype
    p = n * h * wd
    params = engine.param_grads
    da2 = engine.scratch("dense.da2", (1, bn, p), dt)                         # (1, B, P)
    if dt == np.float32:                                                      # h = W3 * a2 on the tiles
        _conv3x3_tiled_backward(dhbuf[c:c + gr], a2, w3, dw3, True, engine, out=da2.reshape(bn, n, h, wd))
    else:
        gt = engine.scratch("dense.g", (9, gr, n, h, wd), dt)                 # (9, G, N, H, W)
        _run(_k.gather_taps, gt.size, dhbuf[c:c + gr], gt, 1)                # G_t = shift_t(dh)
        gm = gt.reshape(9 * gr, p)
        if params:
            dw3 += _dw_taps(_abt(gm, _mat(a2)), gr, bn).astype(dw3.dtype, copy=False)   # T = W3 a2
        np.matmul(_w_taps(w3.astype(dt, copy=False)).T, gm, out=da2[0])      # T = W3 a2
    x2 = None if a2 is None else a2.reshape(1, bn, p)                        # (None: frozen gains only)
    relu_grad(da2, x2, np.zeros(bn, dt), g2, db2, da2, False, engine)        # a2 = relu(z + b2)
    x3 = hbuf[:c].reshape(1, c, p)
    if params:
        a1 = engine.scratch("dense.a1", (1, c, p), dt)
        _relu_recompute(x3, b1, g1, a1)                                       # a1 = relu(x + b1)
        dw1 += _abt(da2[0], a1[0]).reshape(bn, c, 1, 1).astype(dw1.dtype, copy=False)  # z = W1 a1
    da1 = engine.scratch("dense.da1", (1, c, p), dt)
    np.matmul(w1.reshape(bn, c).astype(dt, copy=False).T, da2[0], out=da1[0])  # z = W1 a1
    relu_grad(da1, x3, b1, g1, db1, dhbuf[:c].reshape(1, c, p), True, engine)   # a1 = relu(x + b1)


def filter_block_c_forward(hbuf, c, dense_params, b, w, engine):
    """FilterBlock on the internal layout: ``hbuf[:c]`` holds the input; returns ``(y, cache)``.

    ``y = conv1x1(relu(hbuf + b))`` of shape ``(c, N, H, W)`` after every dense layer has filled
    its rows of ``hbuf``; ``cache`` is a :class:`FilterBlockCache`.
    """
    ct, n, h, wd = hbuf.shape
    dt = hbuf.dtype
    p = n * h * wd
    caches = []
    ci = c
    for (b1, w1, b2, w3) in dense_params:
        caches.append(dense_c_forward(hbuf, ci, b1, w1, b2, w3, engine))     # hbuf[ci:ci+G] = h_i
        ci += w3.shape[0]
    co = w.shape[0]
    y = np.empty((co, n, h, wd), dt)                                          # (C, N, H, W)
    if _fused_relus(dt, engine):                                              # y = W relu(h + b)
        _tiles.pointwise(_mat(hbuf), w, b, out=_mat(y))
        return y, FilterBlockCache(hbuf, tuple(caches), None)
    af = engine.scratch("fb.af", (1, ct, p), dt)
    gf = relu_apply(hbuf.reshape(1, ct, p), b, af, engine)                    # a = relu(h + b)
    np.matmul(w.reshape(co, ct).astype(dt, copy=False), af[0], out=_mat(y))   # y = W a
    return y, FilterBlockCache(hbuf, tuple(caches), gf)


def filter_block_c_backward(dyc, cache, c, dense_params, b, w, dense_grads, db, dw, engine):
    """Backward of :func:`filter_block_c_forward`: returns ``dx`` of shape ``(c, N, H, W)``."""
    hbuf, gf = cache.hbuf, cache.gain
    ct, n, h, wd = hbuf.shape
    dt = hbuf.dtype
    p = n * h * wd
    co = w.shape[0]
    h3 = hbuf.reshape(1, ct, p)
    if engine.param_grads:
        af = engine.scratch("fb.af", (1, ct, p), dt)
        _relu_recompute(h3, b, gf, af)                                        # a = relu(h + b)
        dw += _abt(_mat(dyc), af[0]).reshape(co, ct, 1, 1).astype(dw.dtype, copy=False)   # y = W a
    dhbuf = np.empty((ct, n, h, wd), dt)                                      # (C_total, N, H, W)
    np.matmul(w.reshape(co, ct).astype(dt, copy=False).T, _mat(dyc), out=_mat(dhbuf))  # y = W a
    dh3 = dhbuf.reshape(1, ct, p)
    relu_grad(dh3, h3, b, gf, db, dh3, False, engine)                         # a = relu(h + b)
    widths = [c]
    for (_, _, _, w3) in dense_params[:-1]:
        widths.append(widths[-1] + w3.shape[0])
    for i in reversed(range(len(dense_params))):
        b1, w1, b2, w3 = dense_params[i]
        db1, dw1, db2, dw3 = dense_grads[i]
        dense_c_backward(dhbuf, hbuf, widths[i], b1, w1, b2, w3, cache.dense[i], db1, dw1, db2, dw3, engine)
    return dhbuf[:c]


# ---------------------------------------------------------------------------------------------
# convolution  y[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] * x[n, c, s i + a - p, s j + b - p] (+ bias[o])
# ---------------------------------------------------------------------------------------------
def conv2d_forward(x, w, bias=None, *, stride=1, engine=None):
    """Convolution (cross-correlation, as in PyTorch) with zero padding ``k // 2``.

    Parameters
    ----------
    x : ndarray, shape (N, Ci, H, W)
    w : ndarray, shape (Co, Ci, k, k)
        ``k`` is 1 (then ``stride`` must be 1) or 3.
    bias : ndarray, shape (Co,), optional
    stride : int
        1 or 2.
    engine : Engine, optional
        The engine context (:mod:`.engine`); a fresh one when None.

    Returns
    -------
    y : ndarray, shape (N, Co, Ho, Wo)
        ``Ho = floor((H + 2p - k) / stride) + 1`` with ``p = k // 2``.
    cache : ConvCache
    """
    yc, cache = conv2d_c_forward(to_internal(x), w, bias, stride, _resolve(engine))   # (Co, N, Ho, Wo)
    return to_public(yc), cache


def conv2d_c_forward(xc, w, bias, stride, engine, out=None):
    """:func:`conv2d_forward` on the internal layout: ``xc (Ci, N, H, W) -> (Co, N, Ho, Wo)``, into ``out`` if given.

    What a :class:`~mgbp_classic.nn.Sequential` runs between its modules (no layout change), and
    what a FilterBlock after the convolution uses to have it write straight into the rows of its
    channel buffer (:meth:`mgbp_classic.nn.FilterBlock.forward_after`).
    """
    k = w.shape[2]
    if k not in (1, 3) or (k == 1 and stride != 1) or stride not in (1, 2):
        raise ValueError(f"kernel size and stride must be (1, 1), (3, 1) or (3, 2), got ({k}, {stride})")
    yc = conv_c_forward(xc, w, stride, engine, out)                           # (Co, N, Ho, Wo)
    if bias is not None:
        yc += bias.astype(yc.dtype, copy=False)[:, None, None, None]            # y += b[o] (NumPy: one kernel less to compile)
    return yc, ConvCache(xc, w, stride, bias is not None)


def conv2d_backward(dy, cache, dw, dbias=None, *, need_dx=True, engine=None):
    """Backward of :func:`conv2d_forward`; adds into ``dw`` (and ``dbias``), returns ``dx``.

    Notes
    -----
    ``dw[o, c, a, b] += sum_{n, i, j} dy[n, o, i, j] x[n, c, s i + a - p, s j + b - p]``;
    ``dx[n, c, u, v] = sum_{o, a, b} w[o, c, a, b] dy[n, o, i, j]`` over ``s i + a - p = u``,
    ``s j + b - p = v`` (a transposed convolution of ``dy``); ``dbias[o] += sum dy[n, o]``.
    """
    dxc = conv2d_c_backward(to_internal(dy), cache, dw, dbias, need_dx, _resolve(engine))
    return None if dxc is None else to_public(dxc)


def conv2d_c_backward(dyc, cache, dw, dbias, need_dx, engine):
    """:func:`conv2d_backward` on the internal layout: ``dyc (Co, N, Ho, Wo)`` -> ``dx (Ci, N, H, W)`` or None."""
    if cache.has_bias and engine.param_grads:
        _run(_k.channel_sums_add, dyc.size, dyc.reshape(1, dyc.shape[0], -1), dbias)  # y += b[o]
    return conv_c_backward(dyc, cache.x, cache.w, cache.stride, dw, need_dx, engine)  # y = w * x


# ---------------------------------------------------------------------------------------------
# transposed convolution  y[n, o, s i + a - p, s j + b - p] += x[n, c, i, j] w[c, o, a, b]
# (the input-gradient of a convolution; PyTorch's ConvTranspose2d, output_padding chosen so Ho = 2H)
# ---------------------------------------------------------------------------------------------
def conv_transpose2d_forward(x, w, *, engine=None):
    """Transposed convolution, kernel 3, stride 2, padding 1, output padding 1: output ``2H × 2W``.

    Parameters
    ----------
    x : ndarray, shape (N, Ci, H, W)
    w : ndarray, shape (Ci, Co, 3, 3)
        PyTorch's ``ConvTranspose2d`` weight layout.
    engine : Engine, optional
        The engine context (:mod:`.engine`); a fresh one when None.

    Returns
    -------
    y : ndarray, shape (N, Co, 2H, 2W)
    cache : ConvTransposeCache
    """
    yc, cache = conv_transpose2d_c_forward(to_internal(x), w, _resolve(engine))   # (Co, N, 2H, 2W)
    return to_public(yc), cache


def conv_transpose2d_c_forward(xc, w, engine):
    """:func:`conv_transpose2d_forward` on the internal layout: ``xc (Ci, N, H, W) -> (Co, N, 2H, 2W)``."""
    if w.shape[2:] != (3, 3):
        raise ValueError(f"transposed convolution kernel must be 3×3, got {w.shape[2:]}")
    return conv_transpose_c_forward(xc, w, engine), ConvTransposeCache(xc, w)


def conv_transpose2d_backward(dy, cache, dw, *, need_dx=True, engine=None):
    """Backward of :func:`conv_transpose2d_forward`: ``dx`` is the strided convolution of ``dy``.

    Notes
    -----
    ``dw[c, o, a, b] += sum_{n, i, j} x[n, c, i, j] dy[n, o, 2i + a - 1, 2j + b - 1]`` and
    ``dx[n, c, i, j] = sum_{o, a, b} w[c, o, a, b] dy[n, o, 2i + a - 1, 2j + b - 1]``.
    """
    dxc = conv_transpose_c_backward(to_internal(dy), cache.x, cache.w, dw, need_dx, _resolve(engine))  # y = x ⋆ w
    return None if dxc is None else to_public(dxc)


# ---------------------------------------------------------------------------------------------
# per-channel bias + ReLU  y = relu(x + b[c])   -- every ReLU of the engine goes through here
# ---------------------------------------------------------------------------------------------
def relu_apply(x3, b, out3, engine):
    """THE ReLU of the engine: ``out3 = relu(x3 + b)`` on ``(A, C, M)`` views, gains-aware.

    Normal mode: ``max(x + b, 0)``. ``engine.record()``: the same, and the gain ``(x + b >= 0)`` is
    appended to the tape. ``engine.frozen(tape)``: ``G (x + b)`` with the next recorded gain ``G``
    (:mod:`.gains`).

    Returns
    -------
    ndarray or None
        The recorded or frozen gain, which :func:`relu_grad` then multiplies by (so a graph
        recorded while recording the gains already has the frozen network's backward: G = 1
        where ``x + b == 0``); None in normal mode.
    """
    gains = engine.gains
    mode = gains.mode
    b = b.astype(x3.dtype, copy=False)
    if mode is None:
        _run(_k.bias_relu_rows, x3.size, x3, b, out3, _no_gain(), False)             # y = max(x + b, 0)
        return None
    if mode == "record":
        g = np.empty(x3.shape, np.bool_)
        _run(_k.bias_relu_rows, x3.size, x3, b, out3, g, True)                # y = max(x + b, 0), G = [x + b >= 0]
        gains.append(g)
        return g                                                              # its backward uses G
    g = gains.next_frozen(x3.shape, x3.dtype)
    _run(_k.bias_gain_rows, x3.size, x3, b, g, out3)                                         # y = G (x + b)
    return g


def relu_grad(dy3, x3, b, g, db, out3, accumulate, engine):
    """Backward of :func:`relu_apply` given its input ``x3`` (or its output with ``b = 0``).

    ``dz = dy [x + b > 0]`` (or ``dy G`` when frozen); ``db += sum dz``; ``out3 = dz`` (or ``+=``).
    """
    if not engine.param_grads:
        db = np.zeros(db.shape, db.dtype)                                     # not a parameter gradient
    if g is None:
        _run(_k.relu_backward_rows, dy3.size, dy3, x3, b.astype(x3.dtype, copy=False), db, out3, accumulate)
    else:
        _run(_k.gain_backward_rows, dy3.size, dy3, g, db, out3, accumulate)


def bias_relu_forward(x, b, *, engine=None):
    """``y = relu(x + b)`` per channel, or the recorded/frozen gain version (see :mod:`.gains`).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    b : ndarray, shape (C,)
    engine : Engine, optional
        The engine context (:mod:`.engine`); a fresh one when None.

    Returns
    -------
    y : ndarray, shape (N, C, H, W)
    cache : BiasReLUCache
    """
    yc, cache = bias_relu_c_forward(to_internal(x), b, _resolve(engine))
    return to_public(yc), cache


def bias_relu_c_forward(xc, b, engine):
    """:func:`bias_relu_forward` on the internal layout ``(C, N, H, W)`` (one ``(1, C, N H W)`` pass)."""
    xc = np.ascontiguousarray(xc)
    c = xc.shape[0]
    yc = np.empty_like(xc)
    g = relu_apply(xc.reshape(1, c, -1), b, yc.reshape(1, c, -1), engine)    # y = relu(x + b)
    return yc, BiasReLUCache(xc, b, g)


def bias_relu_backward(dy, cache, db, *, engine=None):
    """Backward of :func:`bias_relu_forward`; adds into ``db``, returns ``dx``."""
    return to_public(bias_relu_c_backward(to_internal(dy), cache, db, _resolve(engine)))


def bias_relu_c_backward(dyc, cache, db, engine):
    """:func:`bias_relu_backward` on the internal layout: ``dyc (C, N, H, W)`` -> ``dx (C, N, H, W)``."""
    xc, g = cache.x, cache.gain
    c = xc.shape[0]
    dxc = np.empty(xc.shape, xc.dtype)
    x3 = xc.reshape(1, c, -1) if g is None else None                         # (the gain replaces x)
    relu_grad(np.ascontiguousarray(dyc).reshape(1, c, -1), x3, cache.b, g, db,
              dxc.reshape(1, c, -1), False, engine)                           # y = relu(x + b)
    return dxc


# ---------------------------------------------------------------------------------------------
# channel concatenation
# ---------------------------------------------------------------------------------------------
def concat_forward(xs):
    """Concatenate ``(N, C_i, H, W)`` arrays along channels into ``(N, sum C_i, H, W)``."""
    return np.concatenate(xs, axis=1)


def concat_backward(dy, sizes):
    """Split ``dy`` along channels into C-contiguous pieces of ``sizes`` channels."""
    out, start = [], 0
    for s in sizes:
        out.append(np.ascontiguousarray(dy[:, start:start + s]))
        start += s
    if start != dy.shape[1]:
        raise ValueError(f"sizes must add up to the {dy.shape[1]} channels of dy, got {list(sizes)}")
    return out


# ---------------------------------------------------------------------------------------------
# learnable 2x upscaler: symmetric pad 2, depthwise stride-2 transposed conv (C, 8, 8), crop
# ---------------------------------------------------------------------------------------------
BICUBIC_PHASE = np.array([-0.0234375, 0.2265625, 0.8671875, -0.0703125])


def bicubic_upsample_kernel(channels):
    """The (C, 8, 8) kernel for which :func:`upsample2x_forward` equals MATLAB ``imresize(x, 2)``.

    Notes
    -----
    The 1-D taps are the two polyphase filters of Keys' cubic (a = -0.5) at distances
    ``(1.75, 0.75, 0.25, 1.25)`` interleaved: ``h = [-0.0234375, -0.0703125, 0.2265625,
    0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375]``; the 2-D kernel is ``outer(h, h)``.
    """
    h = np.empty(8)
    h[1::2] = BICUBIC_PHASE[::-1]       # h[7 - 2t] = phase[t]: even outputs, taps x[m-2 .. m+1]
    h[0::2] = BICUBIC_PHASE             # h[6 - 2t] = phase[3 - t]: odd outputs, taps x[m-1 .. m+2]
    return np.broadcast_to(np.outer(h, h), (channels, 8, 8)).copy()


def upsample2x_forward(x, h, *, engine=None):
    """Depthwise learnable 2x upscaler (MATLAB bicubic ``imresize(x, 2)`` at its initial kernel).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    h : ndarray, shape (C, 8, 8)
    engine : Engine, optional
        The engine context (:mod:`.engine`); a fresh one when None.

    Returns
    -------
    y : ndarray, shape (N, C, 2H, 2W)
        ``y[n, c, 2a + p, 2b + s] = sum_{t, u < 4} xp[n, c, a + t + p, b + u + s] h[c, 7 - p - 2t, 7 - s - 2u]``
        with ``xp`` the input padded by 2 with ``scipy.ndimage`` mode ``'reflect'`` (``d c b a | a b c d``).
    cache : Upsample2xCache

    Notes
    -----
    This is the stride-2 transposed convolution ``z[r] = sum_i xp[i] h[r - 2i]`` of the padded
    input, cropped to ``y[q] = z[q + 7]``.
    """
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="symmetric")   # (N, C, H+4, W+4)
    n, c, hh, ww = x.shape
    y = np.empty((n, c, 2 * hh, 2 * ww), x.dtype)                  # (N, C, 2H, 2W)
    _run(_k.upsample2x_fwd_kernel, xp.size * 64, xp, h.astype(x.dtype, copy=False), y)
    return y, Upsample2xCache(xp, h, x.shape)


def upsample2x_backward(dy, cache, dh, *, need_dx=True, engine=None):
    """Backward of :func:`upsample2x_forward`; adds into ``dh``, returns ``dx``."""
    xp, h, xshape = cache.xp, cache.h, cache.xshape
    dy = np.ascontiguousarray(dy)
    if _resolve(engine).param_grads:
        dh64 = np.zeros(h.shape)
        _run(_k.upsample2x_dh_kernel, dy.size * 4, dy, xp, dh64)                       # y = sum xp h  (weights)
        dh += dh64.astype(dh.dtype)
    if not need_dx:
        return None
    dxp = np.empty(xp.shape, xp.dtype)
    _run(_k.upsample2x_dxp_kernel, dy.size * 16, dy, h.astype(xp.dtype, copy=False), dxp)   # y = sum xp h  (input)
    rows = np.pad(np.arange(xshape[2]), 2, mode="symmetric")
    cols = np.pad(np.arange(xshape[3]), 2, mode="symmetric")
    dx = np.empty(xshape, xp.dtype)
    _run(_k.fold_symmetric_kernel, dxp.size, dxp, rows, cols, dx)                   # xp = pad(x)
    return dx


# ---------------------------------------------------------------------------------------------
# mean absolute error
# ---------------------------------------------------------------------------------------------
def mae_forward(pred, target):
    """Mean absolute error over all elements, ``mean |pred - target|``, as a Python float (float64).

    Returns
    -------
    loss : float
    cache : MAECache
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    pred = np.ascontiguousarray(pred)
    target = np.ascontiguousarray(target, dtype=pred.dtype)
    sign = np.empty_like(pred)
    total = _k.mae_kernel(pred.reshape(-1), target.reshape(-1), sign.reshape(-1))   # sum |pred - target|
    return float(total / pred.size), MAECache(sign, pred.size)


def mae_backward(cache, scale=1.0):
    """Gradient of ``scale * mae`` with respect to ``pred``: ``scale * sign(pred - target) / size``."""
    sign, size = cache.sign, cache.size
    return sign * sign.dtype.type(scale / size)                     # loss = mean |d|
