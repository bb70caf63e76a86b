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
def bias_relu_rows(x, b, out, gain, record):
    """``out[a, c, m] = max(x[a, c, m] + b[c], 0)`` (``out`` may be ``x``); with ``record`` also the gain

    ``gain[a, c, m] = (x[a, c, m] + b[c] >= 0)`` (bool; not touched otherwise, any array will do).
    """
    na, c, m = x.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                z = x[i, ch, k] + bc
                if record:                       # G = [z >= 0] and y = G z (a NaN gives G = 0, y = 0)
                    keep = z >= 0
                    gain[i, ch, k] = keep
                    out[i, ch, k] = z if keep else 0.0
                else:                            # y = max(z, 0) (a NaN propagates)
                    out[i, ch, k] = 0.0 if z < 0 else z


@PJIT
def bias_gain_rows(x, b, g, out):
    """Frozen-gain ReLU: ``out[a, c, m] = g[a, c, m] (x[a, c, m] + b[c])``."""
    na, c, m = x.shape
    for ch in prange(c):
        bc = b[ch]
        for i in range(na):
            for k in range(m):
                out[i, ch, k] = g[i, ch, k] * (x[i, ch, k] + bc)


@JIT
def _store(out, i, ch, k, d, accumulate):
    """``out[i, ch, k] = d`` (or ``+= d`` with ``accumulate``); returns ``d`` for the bias sum."""
    if accumulate:
        out[i, ch, k] += d
    else:
        out[i, ch, k] = d
    return d


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
                s += _store(out, i, ch, k, d, accumulate)
        db[ch] += s


@PJIT
def gain_backward_rows(dy, g, db, out, accumulate):
    """Frozen-gain backward: ``dz = g dy``; ``db[c] += sum dz[:, c]``; ``out = dz`` (or ``+=``)."""
    na, c, m = dy.shape
    for ch in prange(c):
        s = 0.0
        for i in range(na):
            for k in range(m):
                s += _store(out, i, ch, k, dy[i, ch, k] * g[i, ch, k], accumulate)
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


# ------------------------------------------------------------------------------ 3x3 taps
@PJIT
def gather_taps(src, cols, stride):
    """im2col for a 3×3 kernel, padding 1: ``cols (9, C, N, Ho, Wo)`` from ``src (C, N, H, W)``.

    Stride 1 copies whole row segments (slice assignment, a ``memcpy``: measured faster than an
    element loop). Stride 2 uses plain index loops without array views (3x faster than strided
    slices here: each view touches the array's shared reference count, which two cores would
    pass back and forth).
    """
    c, n, h, w = src.shape
    ho, wo = cols.shape[3], cols.shape[4]
    if stride == 1:
        _gather_taps_rows(src, cols)
        return
    for cn in prange(c * n):
        ch = cn // n
        im = cn % n
        for a in range(3):
            for b in range(3):
                t = 3 * a + b
                # valid output columns j0 <= j < j1: 0 <= stride j + b - 1 < w
                j0 = 1 if b == 0 else 0
                j1 = min(wo, (w - b) // stride + 1)
                for i in range(ho):
                    r = stride * i + a - 1
                    if r < 0 or r >= h:
                        for j in range(wo):
                            cols[t, ch, im, i, j] = 0.0
                        continue
                    for j in range(j0):
                        cols[t, ch, im, i, j] = 0.0
                    for j in range(max(j1, j0), wo):
                        cols[t, ch, im, i, j] = 0.0
                    for j in range(j0, j1):
                        cols[t, ch, im, i, j] = src[ch, im, r, stride * j + b - 1]


@PJIT
def _gather_taps_rows(src, cols):
    """:func:`gather_taps` at stride 1, by row segments."""
    c, n, h, w = src.shape
    ho, wo = cols.shape[3], cols.shape[4]
    for cn in prange(c * n):
        ch = cn // n
        im = cn % n
        s2 = src[ch, im]                                   # (H, W)
        for a in range(3):
            for b in range(3):
                c2 = cols[3 * a + b, ch, im]               # (Ho, Wo)
                j0 = 1 if b == 0 else 0                    # valid columns: 0 <= j + b - 1 < w
                j1 = min(wo, w - b + 1)
                for i in range(ho):
                    r = i + a - 1
                    row = c2[i]
                    if r < 0 or r >= h:
                        row[:] = 0.0
                        continue
                    row[:j0] = 0.0
                    row[j1:] = 0.0
                    row[j0:j1] = s2[r, j0 + b - 1:j1 + b - 1]


@PJIT
def scatter_taps(cols, out, stride, accumulate):
    """col2im for a 3×3 kernel, padding 1: ``out (C, N, H, W) (+)= sum_t`` shifted ``cols[t]``.

    Written as a gather over the output rows: ``out[u, v]`` collects ``cols[3a + b, i, j]`` for
    ``u = s i + a - 1``, ``v = s j + b - 1``. Each output row is finished in one visit, adding the
    three taps ``b`` of a source row in one pass (stride 1: ``j = v + 1 - b``; stride 2: even
    columns take ``b = 1``, odd ones ``b = 0`` and ``b = 2``), instead of nine passes over the
    image. Each thread owns whole ``(c, n)`` images of ``out``, so the additions never race. (No
    array views inside the loops: each view touches the array's shared reference count, which
    the two cores would then pass back and forth.)
    """
    c, n, h, w = out.shape
    ho, wo = cols.shape[3], cols.shape[4]
    for cn in prange(c * n):
        ch = cn // n
        im = cn % n
        for u in range(h):
            if not accumulate:
                for v in range(w):
                    out[ch, im, u, v] = 0.0
            for a in range(3):
                num = u + 1 - a                            # s i + a - 1 = u
                if num < 0 or num % stride != 0:
                    continue
                i = num // stride
                if i >= ho:
                    continue
                t0, t1, t2 = 3 * a, 3 * a + 1, 3 * a + 2   # taps b = 0, 1, 2 of row a
                if stride == 1:                            # ho, wo = h, w
                    if w == 1:
                        out[ch, im, u, 0] += cols[t1, ch, im, i, 0]
                        continue
                    out[ch, im, u, 0] += cols[t0, ch, im, i, 1] + cols[t1, ch, im, i, 0]
                    for v in range(1, w - 1):
                        out[ch, im, u, v] += (cols[t0, ch, im, i, v + 1] + cols[t1, ch, im, i, v]
                                              + cols[t2, ch, im, i, v - 1])
                    out[ch, im, u, w - 1] += cols[t1, ch, im, i, w - 1] + cols[t2, ch, im, i, w - 2]
                else:
                    # v = 2 j + b - 1 < w: even v = 2j (b = 1), odd v = 2j + 1 (b = 2 at j, b = 0 at j + 1)
                    for j in range(min(wo, (w + 1) // 2)):
                        out[ch, im, u, 2 * j] += cols[t1, ch, im, i, j]
                    jo = min(wo, w // 2)                   # odd columns 2 j + 1 < w
                    jb = min(jo, wo - 1)                   # those with a b = 0 tap at j + 1 < wo
                    for j in range(jb):
                        out[ch, im, u, 2 * j + 1] += cols[t2, ch, im, i, j] + cols[t0, ch, im, i, j + 1]
                    for j in range(jb, jo):
                        out[ch, im, u, 2 * j + 1] += cols[t2, ch, im, i, j]


# ------------------------------------------------------------------------------ 2x upscaler
@PJIT
def upsample2x_fwd_kernel(xp, h, y):
    """``y[n, c, 2a + p, 2b + s] = sum_{t, u < 4} xp[n, c, a + t + p, b + u + s] h[c, 7 - p - 2t, 7 - s - 2u]``."""
    n, c, hp, wp = xp.shape
    hh, ww = hp - 4, wp - 4
    for nc in prange(n * c):
        im, ch = nc // c, nc % c
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
    for ct in prange(c * 64):                 # one channel and one of the 8 x 8 taps per task
        ch, tap = ct // 64, ct % 64
        ky, kx = tap // 8, tap % 8            # ky = 7 - p - 2t, kx = 7 - s - 2u
        p, s = (7 - ky) % 2, (7 - kx) % 2
        t, u = (7 - ky) // 2, (7 - kx) // 2
        acc = 0.0
        for im in range(n):
            for a in range(hh):
                for bb in range(ww):
                    acc += dy[im, ch, 2 * a + p, 2 * bb + s] * xp[im, ch, a + t + p, bb + u + s]
        dh64[ch, ky, kx] += acc


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
