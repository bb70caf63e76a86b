"""Numba kernels behind :mod:`.layers`: layout changes, bias + ReLU, tap gather/scatter, upscaler.

Internal layout: ``(C, N, H, W)`` ("channels first across the batch"), so that every convolution is
ONE large matrix product over all ``N H W`` pixels (see ``layers.py`` for the measurement), and a
channel range of a tensor is a contiguous block of rows. The matrix products themselves are BLAS
(``numpy.matmul``); these kernels do everything else, in one pass each, parallel over independent
outputs (rows/channels), never allocating inside their loops.

Tap convention for 3×3 kernels, stride ``s``, padding 1 (``t = 3 a + b``)::

    gather:   cols[t, c, n, i, j]  = src[c, n, s i + a - 1, s j + b - 1]      (0 outside)
    scatter:  out[c, n, s i + a - 1, s j + b - 1] += cols[t, c, n, i, j]        (its adjoint)
"""
import numpy as np
from numba import prange

from ._numba import JIT, PJIT


# ------------------------------------------------------------------------------ layout
@PJIT
def swap01(x, out):
    """``out[j, i] = x[i, j]`` for the two leading axes of 3-D arrays (``(A, B, M) -> (B, A, M)``)."""
    a, b, m = x.shape
    for ij in prange(a * b):
        i = ij // b
        j = ij % b
        for k in range(m):
            out[j, i, k] = x[i, j, k]


# ------------------------------------------------------------------------------ bias + ReLU
# Arrays are viewed as (A, C, M) with the bias over C: (1, C, N H W) for the internal layout,
# (N, C, H W) for the public one. Parallel over channels; the NaN of a NaN input propagates.
@PJIT
def bias_relu_rows(x, b, out):
    """``out[a, c, m] = max(x[a, c, m] + b[c], 0)`` (``out`` may be ``x``)."""
    na, c, m = x.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                z = x[i, ch, k] + bc
                out[i, ch, k] = 0.0 if z < 0 else z


@PJIT
def bias_relu_record_rows(x, b, out, gain):
    """``bias_relu_rows`` that also writes the gain ``gain[a, c, m] = (x[a, c, m] + b[c] >= 0)`` (bool)."""
    na, c, m = x.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                z = x[i, ch, k] + bc
                keep = z >= 0
                gain[i, ch, k] = keep
                out[i, ch, k] = z if keep else 0.0


@PJIT
def bias_gain_rows(x, b, g, out):
    """Frozen-gain ReLU: ``out[a, c, m] = g[a, c, m] (x[a, c, m] + b[c])``."""
    na, c, m = x.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                out[i, ch, k] = g[i, ch, k] * (x[i, ch, k] + bc)


@PJIT
def relu_backward_rows(dy, x, b, db, out, accumulate):
    """ReLU backward with the mask from the forward input: ``dz = dy [x + b > 0]``.

    ``db[c] += sum dz[:, c]`` (summed in float64); ``out = dz`` or, with ``accumulate``,
    ``out += dz`` (``out`` may be ``dy`` when not accumulating). With ``x`` the ReLU *output* and
    ``b = 0`` the mask is ``y > 0``, the same set.
    """
    na, c, m = dy.shape
    for ch in prange(c):
        bc = b[ch]
        s = 0.0
        for i in range(na):
            for k in range(m):
                d = dy[i, ch, k] if x[i, ch, k] + bc > 0 else 0.0
                s += d
                if accumulate:
                    out[i, ch, k] += d
                else:
                    out[i, ch, k] = d
        db[ch] += s


@PJIT
def gain_backward_rows(dy, g, db, out, accumulate):
    """Frozen-gain backward: ``dz = g dy``; ``db[c] += sum dz[:, c]``; ``out = dz`` (or ``+=``)."""
    na, c, m = dy.shape
    for ch in prange(c):
        s = 0.0
        for i in range(na):
            for k in range(m):
                d = dy[i, ch, k] * g[i, ch, k]
                s += d
                if accumulate:
                    out[i, ch, k] += d
                else:
                    out[i, ch, k] = d
        db[ch] += s


@PJIT
def channel_sums_add(x, db):
    """``db[c] += sum x[:, c, :]`` (bias gradient), accumulated in float64."""
    na, c, m = x.shape
    for ch in prange(c):
        s = 0.0
        for i in range(na):
            for k in range(m):
                s += x[i, ch, k]
        db[ch] += s


@PJIT
def add_bias(y, b):
    """``y[a, c, m] += b[c]`` in place."""
    na, c, m = y.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                y[i, ch, k] += bc


# ------------------------------------------------------------------------------ 3x3 taps
@PJIT
def gather_taps(src, cols, stride):
    """im2col for a 3×3 kernel, padding 1: ``cols (9, C, N, Ho, Wo)`` from ``src (C, N, H, W)``.

    Stride 1 copies whole row segments (slice assignment, 4x faster than an element loop here).
    """
    c, n, h, w = src.shape
    ho, wo = cols.shape[3], cols.shape[4]
    for cn in prange(c * n):
        ch = cn // n
        im = cn % n
        s2 = src[ch, im]                                   # (H, W)
        for a in range(3):
            for b in range(3):
                c2 = cols[3 * a + b, ch, im]               # (Ho, Wo)
                # valid output columns j0 <= j < j1: 0 <= stride j + b - 1 < w
                j0 = 0
                while j0 < wo and stride * j0 + b - 1 < 0:
                    j0 += 1
                j1 = wo
                while j1 > j0 and stride * (j1 - 1) + b - 1 >= w:
                    j1 -= 1
                for i in range(ho):
                    r = stride * i + a - 1
                    row = c2[i]
                    if r < 0 or r >= h:
                        row[:] = 0.0
                        continue
                    row[:j0] = 0.0
                    row[j1:] = 0.0
                    srow = s2[r]
                    if stride == 1:
                        row[j0:j1] = srow[j0 + b - 1:j1 + b - 1]
                    else:
                        for j in range(j0, j1):
                            row[j] = srow[stride * j + b - 1]


@PJIT
def scatter_taps(cols, out, stride, accumulate):
    """col2im for a 3×3 kernel, padding 1: ``out (C, N, H, W) (+)= sum_t`` shifted ``cols[t]``.

    Each thread owns whole ``(c, n)`` images of ``out``, so the additions never race.
    """
    c, n, h, w = out.shape
    ho, wo = cols.shape[3], cols.shape[4]
    for cn in prange(c * n):
        ch = cn // n
        im = cn % n
        if not accumulate:
            for u in range(h):
                for v in range(w):
                    out[ch, im, u, v] = 0.0
        for a in range(3):
            for b in range(3):
                t = 3 * a + b
                j0 = 0
                while j0 < wo and stride * j0 + b - 1 < 0:
                    j0 += 1
                j1 = wo
                while j1 > j0 and stride * (j1 - 1) + b - 1 >= w:
                    j1 -= 1
                for i in range(ho):
                    r = stride * i + a - 1
                    if r < 0 or r >= h:
                        continue
                    if stride == 1:
                        for j in range(j0, j1):
                            out[ch, im, r, j + b - 1] += cols[t, ch, im, i, j]
                    else:
                        for j in range(j0, j1):
                            out[ch, im, r, stride * j + b - 1] += cols[t, ch, im, i, j]


# ------------------------------------------------------------------------------ 2x upscaler
@PJIT
def upsample2x_fwd_kernel(xp, h, y):
    """``y[n, c, 2a + p, 2b + s] = sum_{t, u < 4} xp[n, c, a + t + p, b + u + s] h[c, 7 - p - 2t, 7 - s - 2u]``."""
    n, c, hp, wp = xp.shape
    hh, ww = hp - 4, wp - 4
    for nc in prange(n * c):
        im = nc // c
        ch = nc % c
        for a in range(hh):
            for p in range(2):
                for bb in range(ww):
                    for s in range(2):
                        acc = 0.0
                        for t in range(4):
                            for u in range(4):
                                acc += xp[im, ch, a + t + p, bb + u + s] * h[ch, 7 - p - 2 * t, 7 - s - 2 * u]
                        y[im, ch, 2 * a + p, 2 * bb + s] = acc


@PJIT
def upsample2x_dh_kernel(dy, xp, dh64):
    """``dh[c, 7-p-2t, 7-s-2u] += sum dy[n, c, 2a+p, 2b+s] xp[n, c, a+t+p, b+u+s]`` (float64 sums)."""
    n, c, hp, wp = xp.shape
    hh, ww = hp - 4, wp - 4
    for ch in prange(c):
        for im in range(n):
            for a in range(hh):
                for p in range(2):
                    for bb in range(ww):
                        for s in range(2):
                            g = dy[im, ch, 2 * a + p, 2 * bb + s]
                            for t in range(4):
                                for u in range(4):
                                    dh64[ch, 7 - p - 2 * t, 7 - s - 2 * u] += g * xp[im, ch, a + t + p, bb + u + s]


@PJIT
def upsample2x_dxp_kernel(dy, h, dxp):
    """``dxp[n, c, a+t+p, b+u+s] += dy[n, c, 2a+p, 2b+s] h[c, 7-p-2t, 7-s-2u]`` as a gather over ``dxp``."""
    n, c, hp, wp = dxp.shape
    hh, ww = hp - 4, wp - 4
    for nc in prange(n * c):
        im = nc // c
        ch = nc % c
        for r in range(hp):
            for q in range(wp):
                acc = 0.0
                for p in range(2):
                    for t in range(4):
                        a = r - t - p
                        if a < 0 or a >= hh:
                            continue
                        for s in range(2):
                            for u in range(4):
                                bb = q - u - s
                                if bb < 0 or bb >= ww:
                                    continue
                                acc += dy[im, ch, 2 * a + p, 2 * bb + s] * h[ch, 7 - p - 2 * t, 7 - s - 2 * u]
                dxp[im, ch, r, q] = acc


@PJIT
def fold_symmetric_kernel(dxp, rows, cols, dx):
    """Adjoint of padding by index maps: ``dx[n, c, rows[r], cols[q]] += dxp[n, c, r, q]``."""
    n, c, hp, wp = dxp.shape
    for nc in prange(n * c):
        im = nc // c
        ch = nc % c
        for u in range(dx.shape[2]):
            for v in range(dx.shape[3]):
                dx[im, ch, u, v] = 0.0
        for r in range(hp):
            for q in range(wp):
                dx[im, ch, rows[r], cols[q]] += dxp[im, ch, r, q]


@JIT
def mae_kernel(pred, target, sign):
    """``sum |pred - target|`` in float64 and ``sign = sign(pred - target)`` (flat arrays)."""
    s = 0.0
    for i in range(pred.shape[0]):
        d = pred[i] - target[i]
        if d > 0:
            sign[i] = 1.0
            s += d
        elif d < 0:
            sign[i] = -1.0
            s -= d
        else:
            sign[i] = d          # 0 (or NaN, which propagates)
            s += abs(d)
    return s
