"""Layers as pairs of functions: each ``*_forward`` directly above its ``*_backward``.

Conventions (as in llm.c): ``forward(inp, params...) -> out, cache`` keeps exactly what the
backward needs; ``backward(dout, cache, dparams...) -> dinp`` *adds* into the gradient arrays it
is given (so a layer applied many times with shared weights sums its gradients) and returns the
input gradient as a new array. Tensors are ``(N, C, H, W)`` C-contiguous, float32 in training;
every function also accepts float64 (used by the finite-difference checks).

Shapes: ``N`` batch, ``C``/``Ci`` input channels, ``Co`` output channels, ``H, W`` input size,
``Ho, Wo`` output size, ``k`` kernel size.
"""
import numpy as np

from . import gains as _gains
from . import kernels as _k

__all__ = [
    "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "bias_relu_forward", "bias_relu_backward",
    "concat_forward", "concat_backward",
    "upsample2x_forward", "upsample2x_backward",
    "mae_forward", "mae_backward",
    "bicubic_upsample_kernel",
]


def conv_out_size(n, k, stride, pad):
    """Output length of a convolution: ``floor((n + 2 pad - k) / stride) + 1``."""
    return (n + 2 * pad - k) // stride + 1


# ---------------------------------------------------------------------------------------------
# convolution  y[n, o, i, j] = sum_{c, a, b} w[o, c, a, b] * x[n, c, s i + a - p, s j + b - p] (+ bias[o])
# ---------------------------------------------------------------------------------------------
def conv2d_forward(x, w, bias=None, *, stride=1):
    """Convolution (cross-correlation, as in PyTorch) with zero padding ``k // 2``.

    Parameters
    ----------
    x : ndarray, shape (N, Ci, H, W)
    w : ndarray, shape (Co, Ci, k, k)
    bias : ndarray, shape (Co,), optional
    stride : int
        1 or 2.

    Returns
    -------
    y : ndarray, shape (N, Co, Ho, Wo)
        ``Ho = floor((H + 2p - k) / stride) + 1`` with ``p = k // 2``.
    cache : tuple
    """
    k = w.shape[2]
    y = _k.conv_fwd(x, w, stride, k // 2)                          # (N, Co, Ho, Wo)
    if bias is not None:
        y += bias[None, :, None, None]                             # y += b[o]
    return y, (x, w, stride, bias is not None)


def conv2d_backward(dy, cache, dw, dbias=None, *, need_dx=True):
    """Backward of :func:`conv2d_forward`; adds into ``dw`` (and ``dbias``), returns ``dx``.

    Notes
    -----
    ``dw[o, c, a, b] += sum_{n, i, j} dy[n, o, i, j] x[n, c, s i + a - p, s j + b - p]``;
    ``dx[n, c, u, v] = sum_{o, a, b} w[o, c, a, b] dy[n, o, i, j]`` over ``s i + a - p = u``,
    ``s j + b - p = v`` (a transposed convolution of ``dy``); ``dbias[o] += sum dy[n, o]``.
    """
    x, w, stride, has_bias = cache
    k = w.shape[2]
    if has_bias:
        dbias += dy.sum(axis=(0, 2, 3), dtype=np.float64).astype(dbias.dtype)   # y += b[o]
    dw += _k.conv_dw(x, dy, stride, k // 2, k).astype(dw.dtype, copy=False)   # y = w * x (weights)
    if not need_dx:
        return None
    return _k.conv_dx(dy, w, stride, k // 2, x.shape)               # y = w * x (input)


# ---------------------------------------------------------------------------------------------
# transposed convolution  y[n, o, s i + a - p, s j + b - p] += x[n, c, i, j] w[c, o, a, b]
# (the input-gradient of a convolution; PyTorch's ConvTranspose2d, output_padding chosen so Ho = 2H)
# ---------------------------------------------------------------------------------------------
def conv_transpose2d_forward(x, w):
    """Transposed convolution, stride 2, padding ``k // 2``, output padding 1: output ``2H × 2W``.

    Parameters
    ----------
    x : ndarray, shape (N, Ci, H, W)
    w : ndarray, shape (Ci, Co, k, k)
        PyTorch's ``ConvTranspose2d`` weight layout.

    Returns
    -------
    y : ndarray, shape (N, Co, 2H, 2W)
    cache : tuple
    """
    n, _, h, wd = x.shape
    k = w.shape[2]
    y = _k.conv_dx(x, w, 2, k // 2, (n, w.shape[1], 2 * h, 2 * wd))   # (N, Co, 2H, 2W)
    return y, (x, w)


def conv_transpose2d_backward(dy, cache, dw, *, need_dx=True):
    """Backward of :func:`conv_transpose2d_forward`: ``dx`` is the strided convolution of ``dy``.

    Notes
    -----
    ``dw[c, o, a, b] += sum_{n, i, j} x[n, c, i, j] dy[n, o, 2i + a - p, 2j + b - p]`` and
    ``dx[n, c, i, j] = sum_{o, a, b} w[c, o, a, b] dy[n, o, 2i + a - p, 2j + b - p]``.
    """
    x, w = cache
    k = w.shape[2]
    dw += _k.conv_dw(dy, x, 2, k // 2, k).astype(dw.dtype, copy=False)   # y += x w (weights)
    if not need_dx:
        return None
    return _k.conv_fwd(dy, w, 2, k // 2)                             # y += x w (input)


# ---------------------------------------------------------------------------------------------
# per-channel bias + ReLU  y = relu(x + b[c])   (every ReLU of the engine; see gains.py)
# ---------------------------------------------------------------------------------------------
def bias_relu_forward(x, b):
    """``y = relu(x + b)`` per channel, or the recorded/frozen gain version (see :mod:`.gains`).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    b : ndarray, shape (C,)

    Returns
    -------
    y : ndarray, shape (N, C, H, W)
    cache : tuple
        ``(y, g)``: the mask of the backward is ``y > 0`` (normal) or the frozen gain ``g``.
    """
    mode = _gains._STATE.mode
    if mode is None:
        y = _k.bias_relu(x, b)                                      # y = max(x + b, 0)
        return y, (y, None)
    z = x + b[None, :, None, None].astype(x.dtype)                  # z = x + b
    if mode == "record":
        _gains._record_gain(z)
        y = np.maximum(z, 0)
        return y, (y, None)
    g = _gains._next_frozen_gain(z.shape, z.dtype)
    return g * z, (None, g)                                         # y = G z


def bias_relu_backward(dy, cache, db):
    """Backward of :func:`bias_relu_forward`; adds into ``db``, returns ``dx``."""
    y, g = cache
    if g is None:
        return _k.relu_backward(dy, y, db)                          # dz = dy [z > 0]; db += sum dz
    dz = dy * g                                                     # y = G z
    db += dz.sum(axis=(0, 2, 3), dtype=np.float64).astype(db.dtype)   # z = x + b
    return dz


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


def upsample2x_forward(x, h):
    """Depthwise learnable 2x upscaler (MATLAB bicubic ``imresize(x, 2)`` at its initial kernel).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    h : ndarray, shape (C, 8, 8)

    Returns
    -------
    y : ndarray, shape (N, C, 2H, 2W)
        ``y[n, c, 2a + p, 2b + s] = sum_{t, u < 4} xp[n, c, a + t + p, b + u + s] h[c, 7 - p - 2t, 7 - s - 2u]``
        with ``xp`` the input padded by 2 with ``scipy.ndimage`` mode ``'reflect'`` (``d c b a | a b c d``).
    cache : tuple

    Notes
    -----
    This is the stride-2 transposed convolution ``z[r] = sum_i xp[i] h[r - 2i]`` of the padded
    input, cropped to ``y[q] = z[q + 7]``.
    """
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="symmetric")   # (N, C, H+4, W+4)
    y = _k.upsample2x_fwd(xp, h)                                    # (N, C, 2H, 2W)
    return y, (xp, h, x.shape)


def upsample2x_backward(dy, cache, dh, *, need_dx=True):
    """Backward of :func:`upsample2x_forward`; adds into ``dh``, returns ``dx``."""
    xp, h, xshape = cache
    dxp = _k.upsample2x_bwd(dy, xp, h, dh, need_dx)                 # y = sum xp h
    if not need_dx:
        return None
    return _k.unpad_symmetric_adjoint(dxp, xshape[2], xshape[3])    # xp = pad(x)


# ---------------------------------------------------------------------------------------------
# mean absolute error
# ---------------------------------------------------------------------------------------------
def mae_forward(pred, target):
    """Mean absolute error over all elements, ``mean |pred - target|``, as a Python float (float64).

    Returns
    -------
    loss : float
    cache : tuple
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {pred.shape} and {target.shape}")
    d = pred - target.astype(pred.dtype, copy=False)
    loss = float(np.abs(d).sum(dtype=np.float64) / d.size)
    return loss, (np.sign(d), d.size)


def mae_backward(cache, scale=1.0):
    """Gradient of ``scale * mae`` with respect to ``pred``: ``scale * sign(pred - target) / size``."""
    sign, size = cache
    return sign * sign.dtype.type(scale / size)                     # loss = mean |d|
