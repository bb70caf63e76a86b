"""Register-tiled convolution kernels written as LLVM IR: the engine's product path for float32.

Plain Numba loops cannot keep a tile of accumulators in registers across a reduction (they reach
15–60 GFLOP/s on these products, see ``docs/appendix_benchmarks.md``), so the innermost piece, one
*tile*, is built directly in LLVM IR through :func:`numba.extending.intrinsic` and called from
ordinary ``@njit(parallel=True)`` drivers that split the rows of the image between the cores.

**The tile.** ``R`` output channels × ``V`` vectors of ``L`` adjacent pixels of one row, ``R·V``
vector accumulators held in SSA values (phi nodes of the loop over input channels). For every input
channel ``c`` and every tap ``t`` (9 offsets for a 3×3 kernel, 1 for a 1×1), it loads ``V`` vectors
of the input at the tap's offset and adds ``w[c, t, r] · x`` into the accumulators with
``llvm.fma`` on vectors (the weight broadcast from memory). The epilogue stores the tile (or adds it
to what is there) once, with masked stores only in the last, partial tile of a row::

    y[r, p : p + V L]  (+)=  sum_c sum_t  w[c, t, r] * x[c, p + offset_t : p + offset_t + V L]

**Bordered planes.** The input of a 3×3 tile is a plane with a one-pixel zero border, ``(C, N,
H + 2, W + 2)``: the tap ``(a, b)`` of output pixel ``(i, j)`` is the bordered pixel ``(i + a, j +
b)``, a plain address offset ``a (W + 2) + b`` with no branch, gather or im2col tensor. Lanes past
the end of a row read the next row's pixels (or the slack after the buffer, see
:func:`bordered_scratch`) and are never stored.

**Loop order.** A driver's job is one row of one image; inside it the output-channel tiles, then
blocks of ``KC`` input channels, then the tiles along the row. The ``3 KC`` input rows a block
reads stay in the L1 cache for every output tile and every tile of the row (ordered the other
way, one job per output tile, the same kernel measured 2–3× slower on 64 input channels: every
tile then streamed 192 rows from the L2 cache).

**Tile shapes** follow the host's vector ISA, read from LLVM's host features at import without
compiling anything (:func:`choose_tile_shape`): 16 lanes × 8 rows × 2 vectors with AVX-512 (16 of
the 32 zmm registers accumulate), 8 × 6 × 2 with AVX2 (12 of 16 ymm registers), 4 × 4 × 2
elsewhere. Any shape is correct on any machine (LLVM splits wider vectors); the tests build every
shape with :func:`build_conv3x3`.
"""
import types as _pytypes
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import get_num_threads, njit, prange, types
from numba.extending import intrinsic

from ._numba import FASTMATH, PJIT, run as _run

__all__ = ["TileShape", "TILE_SHAPES", "choose_tile_shape", "TILE", "make_tile", "make_wgrad_tile",
           "build_conv3x3", "build_conv3x3_wgrad", "conv3x3", "conv3x3_wgrad", "wgrad_fits", "pack_weights",
           "bordered_scratch", "flipped_transpose"]

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


class TileShape(NamedTuple):
    """A tile of ``rows`` output channels × ``vectors`` × ``lanes`` pixels; ``channel_block``
    input channels per pass over a row (see the module docstring)."""
    name: str
    lanes: int
    rows: int
    vectors: int
    channel_block: int
    wgrad_rows: int


#: The shapes by vector ISA (measured on a Zen 5 for AVX-512; the others fill the register file
#: the same way: rows × vectors accumulators + vectors loads + one broadcast).
TILE_SHAPES = MappingProxyType({
    "avx512": TileShape("avx512", 16, 8, 2, 16, 8),
    "avx2": TileShape("avx2", 8, 6, 2, 16, 4),
    "generic": TileShape("generic", 4, 4, 2, 16, 3),
})


def choose_tile_shape(features=None):
    """The tile shape for a CPU with these LLVM ``features`` (a mapping name -> bool; default:
    this host's, as LLVM reports them)."""
    if features is None:
        import llvmlite.binding as llvm
        try:
            features = llvm.get_host_cpu_features()
        except RuntimeError:                      # LLVM cannot tell: the shape that is right anywhere
            features = {}
    if features.get("avx512f"):
        return TILE_SHAPES["avx512"]
    if features.get("avx2") and features.get("fma"):
        return TILE_SHAPES["avx2"]
    return TILE_SHAPES["generic"]


#: This host's tile shape.
TILE = choose_tile_shape()

_TAPS3 = tuple((a, b) for a in range(3) for b in range(3))


def _fma(builder, vt):
    """The module's declaration of ``llvm.fma`` on the vector type ``vt``."""
    name = f"llvm.fma.v{vt.count}f32"
    return builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(vt, [vt] * 3), name=name)


def _masked(builder, vt, op):
    """The module's declaration of ``llvm.masked.load`` / ``llvm.masked.store`` (``op``) on ``vt``."""
    name = f"llvm.masked.{op}.v{vt.count}f32.p0"
    mask = ir.VectorType(ir.IntType(1), vt.count)
    fnty = (ir.FunctionType(vt, [vt.as_pointer(), _I32, mask, vt]) if op == "load" else
            ir.FunctionType(ir.VoidType(), [vt, vt.as_pointer(), _I32, mask]))
    return builder.module.globals.get(name) or ir.Function(builder.module, fnty, name=name)


def _open_loop(builder, label, count, rows, cols, vt):
    """Emit the head of a loop of ``count`` iterations (none if ``count <= 0``) carrying ``rows × cols``
    vector accumulators that start at zero; the builder is left in the loop's body.

    Returns ``(blocks, counter, accumulators)``: the loop's entry, body and exit blocks and the phi
    nodes of the body; close it with :func:`_close_loop`.
    """
    entry = builder.basic_block
    loop = builder.append_basic_block(f"{label}.loop")
    done = builder.append_basic_block(f"{label}.done")
    builder.cbranch(builder.icmp_signed(">", count, ir.Constant(_I64, 0)), loop, done)
    builder.position_at_end(loop)
    counter = builder.phi(_I64)
    counter.add_incoming(ir.Constant(_I64, 0), entry)
    zero = ir.Constant(vt, [0.0] * vt.count)
    phis = [[builder.phi(vt) for _ in range(cols)] for _ in range(rows)]
    for row in phis:
        for p in row:
            p.add_incoming(zero, entry)
    return (entry, loop, done), counter, phis


def _close_loop(builder, count, blocks, counter, phis, new):
    """Emit the loop's back edges (accumulators ``phis`` become ``new``) and its exit; the builder is
    left after the loop. Returns the accumulators there (zero when the loop did not run)."""
    entry, loop, done = blocks
    following = builder.add(counter, ir.Constant(_I64, 1))
    tail = builder.basic_block
    counter.add_incoming(following, tail)
    for prow, nrow in zip(phis, new):
        for p, v in zip(prow, nrow):
            p.add_incoming(v, tail)
    builder.cbranch(builder.icmp_signed("<", following, count), loop, done)
    builder.position_at_end(done)
    zero = ir.Constant(phis[0][0].type, [0.0] * phis[0][0].type.count)
    result = [[builder.phi(p.type) for p in row] for row in phis]           # phi nodes first
    for rrow, nrow in zip(result, new):
        for r, v in zip(rrow, nrow):
            r.add_incoming(zero, entry)
            r.add_incoming(v, tail)
    return result


def make_tile(shape, taps):
    """The tile as a Numba intrinsic for this ``shape`` and these ``taps`` ((row, column) offsets).

    ``tile(x, w, y, nc, xcs, xrs, ycs, nvalid, nrows, accumulate)``, addresses and strides in
    float32 elements of ``x`` (the input at the tile's first pixel, tap (0, 0)), ``w`` (packed
    weights ``(nc, len(taps), rows)``) and ``y`` (the output at the tile's first channel and pixel):
    ``xcs``/``ycs`` the channel strides, ``xrs`` the input row stride, ``nvalid`` the pixels of
    the tile inside the row, ``nrows`` the output channels inside the tile.
    """
    L, R, V = shape.lanes, shape.rows, shape.vectors
    vt = ir.VectorType(_F32, L)
    ntaps = len(taps)

    @intrinsic
    def tile(typingctx, x, w, y, nc, xcs, xrs, ycs, nvalid, nrows, accumulate):
        sig = types.void(types.intp, types.intp, types.intp, types.intp, types.intp, types.intp,
                         types.intp, types.intp, types.intp, types.boolean)

        def codegen(context, builder, signature, args):
            xa, wa, ya, nc_, xcs_, xrs_, ycs_, nvalid_, nrows_, acc_flag = args
            fptr = _F32.as_pointer()
            x0, w0, y0 = (builder.inttoptr(a, fptr) for a in (xa, wa, ya))
            fma = _fma(builder, vt)
            undef = ir.Constant(vt, ir.Undefined)
            splat = ir.Constant(ir.VectorType(_I32, L), [0] * L)
            offsets = [builder.add(builder.mul(ir.Constant(_I64, a), xrs_), ir.Constant(_I64, b)) for a, b in taps]

            # the reduction over input channels: accumulators in phi nodes
            blocks, c, phis = _open_loop(builder, "tile", nc_, R, V, vt)
            xc = builder.gep(x0, [builder.mul(c, xcs_)])
            wc = builder.gep(w0, [builder.mul(c, ir.Constant(_I64, ntaps * R))])
            acc = [list(row) for row in phis]
            for t in range(ntaps):
                xs = [builder.load(builder.bitcast(builder.gep(xc, [builder.add(offsets[t], ir.Constant(_I64, v * L))]),
                                                   vt.as_pointer()), align=4) for v in range(V)]
                for r in range(R):
                    ws = builder.load(builder.gep(wc, [ir.Constant(_I64, t * R + r)]), align=4)
                    wv = builder.shuffle_vector(builder.insert_element(undef, ws, ir.Constant(_I32, 0)), undef, splat)
                    for v in range(V):
                        acc[r][v] = builder.call(fma, [wv, xs[v], acc[r][v]])
            result = _close_loop(builder, nc_, blocks, c, phis, acc)

            # the epilogue: one store (or load-add-store) per vector; lane by lane in a partial tile

            def put(ptr, value):
                with builder.if_else(acc_flag) as (add, store):
                    with add:
                        builder.store(builder.fadd(builder.load(ptr, align=4), value), ptr, align=4)
                    with store:
                        builder.store(value, ptr, align=4)

            masked_load, masked_store = _masked(builder, vt, "load"), _masked(builder, vt, "store")
            four = ir.Constant(_I32, 4)
            lane_index = ir.Constant(ir.VectorType(_I64, L), list(range(L)))
            room = builder.shuffle_vector(builder.insert_element(ir.Constant(ir.VectorType(_I64, L), ir.Undefined),
                                                                 nvalid_, ir.Constant(_I32, 0)),
                                          ir.Constant(ir.VectorType(_I64, L), ir.Undefined), splat)

            def put_lanes(ptr, value, v):
                """Only the lanes inside the row: ``v L + lane < nvalid``."""
                inside = builder.icmp_signed("<", builder.add(lane_index, ir.Constant(ir.VectorType(_I64, L),
                                                                                         [v * L] * L)), room)
                with builder.if_else(acc_flag) as (add, store):
                    with add:
                        old = builder.call(masked_load, [ptr, four, inside, ir.Constant(vt, [0.0] * L)])
                        builder.call(masked_store, [builder.fadd(old, value), ptr, four, inside])
                    with store:
                        builder.call(masked_store, [value, ptr, four, inside])

            for r in range(R):
                with builder.if_then(builder.icmp_signed("<", ir.Constant(_I64, r), nrows_)):
                    yr = builder.gep(y0, [builder.mul(ir.Constant(_I64, r), ycs_)])
                    for v in range(V):
                        p = builder.gep(yr, [ir.Constant(_I64, v * L)])
                        full = builder.icmp_signed(">=", nvalid_, ir.Constant(_I64, (v + 1) * L))
                        with builder.if_else(full) as (whole, partial):
                            with whole:
                                put(builder.bitcast(p, vt.as_pointer()), result[r][v])
                            with partial:
                                put_lanes(builder.bitcast(p, vt.as_pointer()), result[r][v], v)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def make_wgrad_tile(shape):
    """The weight-gradient tile as a Numba intrinsic: ``rows`` output channels × one row of 3 taps.

    ``wtile(dy, x, acc, ycs, nvec, xoff, nrows)``: for ``k < nvec`` vectors of ``lanes`` pixels,
    ``acc[r, b] += dy[r ycs + k L : +L] * x[k L + xoff + b : +L]`` (``b`` = 0, 1, 2): ``rows × 3``
    vector accumulators that start at zero and are added to ``acc`` (float32, ``(rows, 3, lanes)``)
    at the end, so that each call's sum is short (float32 rounding) and ``acc`` holds the sum of
    the calls. Rows from ``nrows`` on read row 0's gradient (their sums are never used), so nothing
    past the last output channel is read.
    """
    L, R = shape.lanes, shape.wgrad_rows
    vt = ir.VectorType(_F32, L)

    @intrinsic
    def wtile(typingctx, dy, x, acc, ycs, nvec, xoff, nrows):
        sig = types.void(*([types.intp] * 7))

        def codegen(context, builder, signature, args):
            ya, xa, aa, ycs_, nvec_, xoff_, nrows_ = args
            fptr = _F32.as_pointer()
            y0, x0, a0 = (builder.inttoptr(a, fptr) for a in (ya, xa, aa))
            fma = _fma(builder, vt)
            vptr = vt.as_pointer()
            slots = [[builder.bitcast(builder.gep(a0, [ir.Constant(_I64, (3 * r + b) * L)]), vptr) for b in range(3)]
                     for r in range(R)]
            rows = [builder.gep(y0, [builder.mul(builder.select(builder.icmp_signed("<", ir.Constant(_I64, r), nrows_),
                                                                ir.Constant(_I64, r), ir.Constant(_I64, 0)), ycs_)])
                    for r in range(R)]
            xs0 = builder.gep(x0, [xoff_])

            blocks, k, phis = _open_loop(builder, "wtile", nvec_, R, 3, vt)
            q = builder.mul(k, ir.Constant(_I64, L))
            xs = [builder.load(builder.bitcast(builder.gep(xs0, [builder.add(q, ir.Constant(_I64, b))]), vptr), align=4)
                  for b in range(3)]
            new = []
            for r in range(R):
                yv = builder.load(builder.bitcast(builder.gep(rows[r], [q]), vptr), align=4)
                new.append([builder.call(fma, [yv, xs[b], phis[r][b]]) for b in range(3)])
            fins = _close_loop(builder, nvec_, blocks, k, phis, new)
            for r in range(R):
                for b in range(3):
                    builder.store(builder.fadd(builder.load(slots[r][b], align=4), fins[r][b]), slots[r][b], align=4)
            return context.get_dummy_value()

        return sig, codegen

    return wtile


def _conv3x3_rows(xb, wp, y, accumulate):
    """``y (Co, N, H, W) (+)= conv3x3(x)`` from the bordered input ``xb (Ci, N, H + 2, W + 2)`` and
    the packed weights ``wp (ceil(Co / R), Ci, 9, R)`` (:func:`pack_weights`); one job per row."""
    ci, n, hb, wb = xb.shape
    co, _, h, w = y.shape
    ot = wp.shape[0]
    nxt = (w + _VL - 1) // _VL
    xaddr, waddr, yaddr = xb.ctypes.data, wp.ctypes.data, y.ctypes.data
    xcs, ycs = n * hb * wb, n * h * w
    for job in prange(n * h):
        im = job // h
        row = job % h
        for o in range(ot):
            nrows = min(_R, co - o * _R)
            for c0 in range(0, ci, _KC):
                nc = min(_KC, ci - c0)
                add = accumulate or c0 > 0
                for xt in range(nxt):
                    x0 = xt * _VL
                    _tile3(xaddr + 4 * (c0 * xcs + (im * hb + row) * wb + x0),
                           waddr + 4 * ((o * ci + c0) * 9 * _R),
                           yaddr + 4 * ((o * _R * n + im) * h * w + row * w + x0),
                           nc, xcs, wb, ycs, min(_VL, w - x0), nrows, add)


#: Pixels of a weight-gradient chunk: the ``rows`` gradient rows of a chunk stay in the L1 cache
#: while every input channel and tap row passes over them.
_WGRAD_CHUNK = 1024


def _conv3x3_wgrad_rows(dyb, xb, acc):
    """``acc (T, ceil(Co / R), Ci, 3, R, 3, L) +=`` the lane sums of the weight gradient of a
    stride-1, padding-1 3×3 convolution from the bordered output gradient ``dyb (Co, N, H + 2,
    W + 2)`` and bordered input ``xb (Ci, N, H + 2, W + 2)``, ``T`` parts summed apart.

    With bordered planes ``dW[o, c, a, b] = sum_q dyb[o, q] xb[c, q + (a - 1)(W + 2) + b - 1]`` over
    the flat index ``q`` of rows 1 … H of every image (and the zero rows between images), one
    contiguous range: the tile's flat dot products. Part ``t`` sums the chunks ``t, t + T, …``
    into ``acc[t]`` (one part per thread); the caller adds the parts and lanes in a fixed order.
    """
    co, n, hb, wb = dyb.shape
    ci = xb.shape[0]
    plane = n * hb * wb
    nvec = (plane - 2 * wb + _WL - 1) // _WL
    per = _WGRAD_CHUNK // _WL
    nchunks = (nvec + per - 1) // per
    threads, ot = acc.shape[0], acc.shape[1]
    yaddr, xaddr, aaddr = dyb.ctypes.data, xb.ctypes.data, acc.ctypes.data
    block = _WR * 3 * _WL
    for t in prange(threads):
        for chunk in range(t, nchunks, threads):
            k0 = chunk * per
            nv = min(per, nvec - k0)
            q = wb + k0 * _WL
            for o in range(ot):
                nrows = min(_WR, co - o * _WR)
                for c in range(ci):
                    for a in range(3):
                        _wtile(yaddr + 4 * (o * _WR * plane + q), xaddr + 4 * (c * plane + q),
                               aaddr + 4 * ((((t * ot + o) * ci + c) * 3 + a) * block),
                               plane, nv, (a - 1) * wb - 1, nrows)


#: Tiles of a job of the flat driver (a few rows of a narrow image).
_FLAT_TILES = 8


def _conv3x3_flat(xb, wp, yb):
    """``yb (Co, N, H + 2, W + 2) = conv3x3(x)`` at every pixel of rows 1 … H of the bordered grid,
    border columns included (they are not outputs: the caller copies the interior out), from the
    bordered input ``xb`` and packed weights ``wp`` (as :func:`_conv3x3_rows`).

    For rows that a tile does not divide (a 16-pixel row leaves half of a 32-lane tile idle, an
    8-pixel one three quarters): the tiles run along the flat index of the bordered planes, rows
    1 … H of every image (and the border rows between images) as one range, so every lane but
    those of the last tile works. One job is :data:`_FLAT_TILES` consecutive tiles.
    """
    ci, n, hb, wb = xb.shape
    co = yb.shape[0]
    ot = wp.shape[0]
    plane = n * hb * wb
    total = plane - 2 * wb
    ntiles = (total + _VL - 1) // _VL
    xaddr, waddr, yaddr = xb.ctypes.data, wp.ctypes.data, yb.ctypes.data
    for job in prange((ntiles + _FLAT_TILES - 1) // _FLAT_TILES):
        t1 = min(ntiles, (job + 1) * _FLAT_TILES)
        for o in range(ot):
            nrows = min(_R, co - o * _R)
            for c0 in range(0, ci, _KC):
                nc = min(_KC, ci - c0)
                for t in range(job * _FLAT_TILES, t1):
                    q = wb + t * _VL                       # tap (a, b) of pixel q: q + (a - 1) wb + b - 1
                    _tile3(xaddr + 4 * (c0 * plane + q - wb - 1), waddr + 4 * ((o * ci + c0) * 9 * _R),
                           yaddr + 4 * (o * _R * plane + q), nc, plane, wb, plane, min(_VL, wb + total - q),
                           nrows, c0 > 0)


@PJIT
def _from_bordered(yb, y, accumulate):
    """``y (+)= yb[:, :, 1:H + 1, 1:W + 1]``: the interior of a bordered output."""
    co, n, h, w = y.shape
    for cn in prange(co * n):
        c = cn // n
        im = cn % n
        for i in range(h):
            if accumulate:
                for j in range(w):
                    y[c, im, i, j] += yb[c, im, i + 1, j + 1]
            else:
                for j in range(w):
                    y[c, im, i, j] = yb[c, im, i + 1, j + 1]


def build_conv3x3(shape, *, cache=False):
    """The two drivers of the 3×3 tile for ``shape`` (rows, flat), compiled on first call (the
    host's are :data:`conv3x3_rows` and :data:`conv3x3_flat`, cached on disk; others, for the
    tests, are not)."""
    return _build(_conv3x3_rows, shape, cache), _build(_conv3x3_flat, shape, cache)


def build_conv3x3_wgrad(shape, *, cache=False):
    """The weight-gradient driver for ``shape`` (as :func:`build_conv3x3`)."""
    return _build(_conv3x3_wgrad_rows, shape, cache)


def _build(body, shape, cache):
    """``body`` compiled with the tiles and constants of ``shape`` as its globals."""
    scope = dict(globals(), _tile3=make_tile(shape, _TAPS3), _wtile=make_wgrad_tile(shape),
                 _VL=shape.lanes * shape.vectors, _R=shape.rows, _KC=shape.channel_block,
                 _WL=shape.lanes, _WR=shape.wgrad_rows, _FLAT_TILES=_FLAT_TILES)
    fn = _pytypes.FunctionType(body.__code__, scope, f"{body.__name__.lstrip('_')}_{shape.name}")
    fn.__doc__ = body.__doc__
    return njit(cache=cache, fastmath=set(FASTMATH), nogil=True, parallel=True)(fn)


# The host's driver: module-level globals (what Numba's disk cache needs).
_tile3 = make_tile(TILE, _TAPS3)
_wtile = make_wgrad_tile(TILE)
_VL, _R, _KC = TILE.lanes * TILE.vectors, TILE.rows, TILE.channel_block
_WL, _WR = TILE.lanes, TILE.wgrad_rows
conv3x3_rows = PJIT(_conv3x3_rows)
conv3x3_flat = PJIT(_conv3x3_flat)
conv3x3_wgrad_rows = PJIT(_conv3x3_wgrad_rows)


@PJIT
def _to_bordered(x, xb):
    """``xb[c, n] = x[c, n]`` with a one-pixel zero border (and zeros right of it, if ``xb`` is wider)."""
    ci, n, h, w = x.shape
    wb = xb.shape[3]
    for cn in prange(ci * n):
        c = cn // n
        im = cn % n
        for j in range(wb):
            xb[c, im, 0, j] = 0.0
            xb[c, im, h + 1, j] = 0.0
        for i in range(h):
            xb[c, im, i + 1, 0] = 0.0
            for j in range(w):
                xb[c, im, i + 1, j + 1] = x[c, im, i, j]
            for j in range(w + 1, wb):
                xb[c, im, i + 1, j] = 0.0


def bordered_scratch(engine, tag, x, shape=TILE):
    """``x (C, N, H, W)`` float32 copied into the engine's scratch ``tag`` with a one-pixel zero
    border: ``(C, N, H + 2, W + 2)``, followed in memory by the slack that the last tile's lanes
    past the end of the last row read (never stored) and preceded by the float that the weight
    gradient's first tap reads (times a zero gradient); both slacks are zero."""
    c, n, h, w = x.shape
    size = c * n * (h + 2) * (w + 2)
    lead = shape.lanes                                # the weight gradient reads one float before
    buf = engine.scratch(tag, (lead + size + shape.lanes * shape.vectors + 2,), np.float32)
    buf[:lead] = 0.0
    buf[lead + size:] = 0.0
    xb = buf[lead:lead + size].reshape(c, n, h + 2, w + 2)
    _run(_to_bordered, xb.size, x, xb)
    return xb


def pack_weights(w, rows):
    """``w (Co, Ci, k, k)`` -> ``(ceil(Co / rows), Ci, k k, rows)`` float32, output channels past
    ``Co`` zero: the order in which a tile reads its weights."""
    co, ci, kh, kw = w.shape
    ot = -(-co // rows)
    wp = np.zeros((ot * rows, ci, kh * kw), np.float32)
    wp[:co] = w.reshape(co, ci, kh * kw)
    return np.ascontiguousarray(wp.reshape(ot, rows, ci, kh * kw).transpose(0, 2, 3, 1))


def wgrad_fits(width, shape=TILE):
    """Whether :func:`conv3x3_wgrad` takes rows of this width: ``2 (W + 2) >= lanes`` (the lanes of
    the last vector past the last row must fall on the zero border rows, not on the next plane)."""
    return 2 * (width + 2) >= shape.lanes


def conv3x3_wgrad(dyb, xb, *, driver=None, shape=TILE):
    """The weight gradient ``(Co, Ci, 3, 3)`` float32 of a stride-1, padding-1 3×3 convolution from
    the bordered output gradient and input (:func:`bordered_scratch`); rows as :func:`wgrad_fits`
    allows."""
    co, n, hb, wb = dyb.shape
    ci = xb.shape[0]
    if not wgrad_fits(wb - 2, shape):
        raise ValueError(f"rows of width {wb - 2} are too short for the {shape.name} weight-gradient tile")
    ot, R = -(-co // shape.wgrad_rows), shape.wgrad_rows
    acc = np.zeros((get_num_threads(), ot, ci, 3, R, 3, shape.lanes), np.float32)
    _run(driver or conv3x3_wgrad_rows, co * ci * 9 * n * hb * wb // 16, dyb, xb, acc)
    dw = acc.sum(axis=(0, 6), dtype=np.float64)                  # (OT, Ci, 3, R, 3)
    return dw.transpose(0, 3, 1, 2, 4).reshape(ot * R, ci, 3, 3)[:co].astype(np.float32)


def flipped_transpose(w):
    """The kernel of a 3×3 convolution's input gradient: ``w[o, c, a, b] -> w[c, o, 2 - a, 2 - b]``
    (``dx = conv3x3(dy)`` with it, stride 1, padding 1)."""
    return w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]


def conv3x3(x, w, engine, *, tag=None, xb=None, out=None, accumulate=False, driver=None, shape=TILE):
    """Stride-1, padding-1 3×3 convolution of ``x (Ci, N, H, W)`` float32 by ``w (Co, Ci, 3, 3)``:
    ``(Co, N, H, W)`` into ``out`` if given (C-contiguous; added to it with ``accumulate``).

    ``tag`` names the engine's scratch that takes the bordered input; or ``xb`` is the bordered
    input already (:func:`bordered_scratch`) and ``x`` is not read. Rows that the tile's width
    divides run on the row driver, straight into ``out``; others on the flat driver, into a
    bordered scratch (``conv.yb``) whose interior is then copied out. ``driver``/``shape`` select
    another tile shape (the pair of :func:`build_conv3x3`; the tests use them).
    """
    if xb is None:
        xb = bordered_scratch(engine, tag, x, shape)
    ci, n, h, wd = xb.shape[0], xb.shape[1], xb.shape[2] - 2, xb.shape[3] - 2
    co = w.shape[0]
    if out is None:
        out = np.empty((co, n, h, wd), np.float32)
    assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (co, n, h, wd)
    wp = pack_weights(w.astype(np.float32, copy=False), shape.rows)
    rows, flat = driver or (conv3x3_rows, conv3x3_flat)
    work = out.size * ci * 9 // 16
    if wd % (shape.lanes * shape.vectors) == 0:
        _run(rows, work, xb, wp, out, accumulate)
        return out
    yb = engine.scratch("conv.yb", (co,) + xb.shape[1:], np.float32)
    _run(flat, work, xb, wp, yb)
    _run(_from_bordered, out.size, yb, out, accumulate)
    return out
