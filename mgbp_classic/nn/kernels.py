"""Compute kernels behind :mod:`.layers` (first version: vectorised NumPy/BLAS im2col)."""
import numpy as np


def _im2col(x, k, stride, pad, ho, wo):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k, k, ho, wo), x.dtype)
    for a in range(k):
        for b in range(k):
            cols[:, :, a, b] = xp[:, :, a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]
    return cols.reshape(n, c * k * k, ho * wo)


def _col2im(cols, xshape, k, stride, pad, ho, wo):
    n, c, h, w = xshape
    cols = cols.reshape(n, c, k, k, ho, wo)
    dxp = np.zeros((n, c, h + 2 * pad + stride, w + 2 * pad + stride), cols.dtype)
    for a in range(k):
        for b in range(k):
            dxp[:, :, a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride] += cols[:, :, a, b]
    return np.ascontiguousarray(dxp[:, :, pad:pad + h, pad:pad + w])


def conv_fwd(x, w, stride, pad):
    n, c, h, wd = x.shape
    co, _, k, _ = w.shape
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    cols = _im2col(x, k, stride, pad, ho, wo)                        # (N, Ci k k, Ho Wo)
    y = np.matmul(w.reshape(co, -1).astype(x.dtype, copy=False), cols)
    return y.reshape(n, co, ho, wo)


def conv_dx(dy, w, stride, pad, xshape):
    n, co, ho, wo = dy.shape
    k = w.shape[2]
    wm = w.reshape(co, -1).astype(dy.dtype, copy=False)
    dcols = np.matmul(wm.T, dy.reshape(n, co, ho * wo))              # (N, Ci k k, Ho Wo)
    return _col2im(dcols, xshape, k, stride, pad, ho, wo)


def conv_dw(x, dy, stride, pad, k):
    n, co, ho, wo = dy.shape
    c = x.shape[1]
    cols = _im2col(x, k, stride, pad, ho, wo)                        # (N, Ci k k, Ho Wo)
    dw = np.tensordot(dy.reshape(n, co, ho * wo), cols, axes=([0, 2], [0, 2]))
    return dw.reshape(co, c, k, k)


def bias_relu(x, b):
    return np.maximum(x + b[None, :, None, None].astype(x.dtype, copy=False), 0)


def relu_backward(dy, y, db):
    dz = dy * (y > 0)
    db += dz.sum(axis=(0, 2, 3), dtype=np.float64).astype(db.dtype)
    return dz


def upsample2x_fwd(xp, h):
    n, c, hp, wp = xp.shape
    hh, ww = hp - 4, wp - 4
    y = np.empty((n, c, 2 * hh, 2 * ww), xp.dtype)
    for p in range(2):
        for s in range(2):
            acc = np.zeros((n, c, hh, ww), xp.dtype)
            for t in range(4):
                for u in range(4):
                    tap = h[:, 7 - p - 2 * t, 7 - s - 2 * u].astype(xp.dtype)[None, :, None, None]
                    acc += xp[:, :, t + p:t + p + hh, u + s:u + s + ww] * tap
            y[:, :, p::2, s::2] = acc
    return y


def upsample2x_bwd(dy, xp, h, dh, need_dx):
    n, c, hp, wp = xp.shape
    hh, ww = hp - 4, wp - 4
    dxp = np.zeros_like(xp) if need_dx else None
    for p in range(2):
        for s in range(2):
            dys = dy[:, :, p::2, s::2]
            for t in range(4):
                for u in range(4):
                    xs = xp[:, :, t + p:t + p + hh, u + s:u + s + ww]
                    dh[:, 7 - p - 2 * t, 7 - s - 2 * u] += (dys * xs).sum(axis=(0, 2, 3), dtype=np.float64).astype(dh.dtype)
                    if need_dx:
                        tap = h[:, 7 - p - 2 * t, 7 - s - 2 * u].astype(xp.dtype)[None, :, None, None]
                        dxp[:, :, t + p:t + p + hh, u + s:u + s + ww] += dys * tap
    return dxp


def unpad_symmetric_adjoint(dxp, h, w):
    rows = np.pad(np.arange(h), 2, mode="symmetric")
    cols = np.pad(np.arange(w), 2, mode="symmetric")
    n, c = dxp.shape[:2]
    tmp = np.zeros((n, c, h, dxp.shape[3]), dxp.dtype)
    np.add.at(tmp, (slice(None), slice(None), rows), dxp)
    dx = np.zeros((n, c, h, w), dxp.dtype)
    np.add.at(dx, (slice(None), slice(None), slice(None), cols), tmp)
    return dx
