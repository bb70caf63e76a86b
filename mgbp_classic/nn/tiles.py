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

**Stride 2.** A tap's offset is read from a small array, so the same tile runs the network's
stride-2 projections. The down-projection (a stride-2 convolution) reads its input split into four
*phase planes* ``x[2i + p, 2j + q]``, each bordered (:func:`phase_scratch`): kernel row ``a`` of
output row ``i`` is row ``i - 1`` of phase 1, row ``i`` of phase 0 or row ``i`` of phase 1, so each
of the 9 taps is one plane and an address offset. The up-projection (a transposed convolution) is
computed per output phase ``(p, q)``, a convolution of the bordered input with the 1, 2, 2 or 4
taps that reach that phase (:func:`conv_transpose3x3`), and the four results are interleaved. Each
is the other's input gradient; the weight gradients are the flat dot products of the weight-gradient
tile with the phase planes' offsets.

**1×1 with its ReLUs.** :func:`make_pointwise_tile` is the one-tap tile with a prologue and an
epilogue: each loaded input vector becomes ``max(x + b_in, 0)`` before its multiply-adds, and the
accumulators ``+ b_out`` (and their ReLU) before the only store, so a dense layer's bottleneck
``relu(W1 relu(x + b1) + b2)`` and a filter block's last ``W relu(h + b)`` take one pass over
their input instead of a bias + ReLU pass, a BLAS product and another pass (normal ReLU mode; the
modes that record or apply gains keep the separate passes).

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
           "make_pointwise_tile", "build_conv3x3", "build_conv3x3_wgrad", "build_pointwise", "conv3x3",
           "conv_transpose3x3", "conv3x3_wgrad", "pointwise", "wgrad_fits", "pack_weights", "bordered_scratch",
           "phase_scratch", "flipped_transpose"]

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


def _open_loop(builder, label, count, rows, cols, vt, init=None):
    """Emit the head of a loop of ``count`` iterations (none if ``count <= 0``) carrying ``rows × cols``
    vector accumulators that start at ``init`` (zero by default); the builder is left in the loop's body.

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
    if init is None:
        init = [[ir.Constant(vt, [0.0] * vt.count)] * cols] * rows
    phis = [[builder.phi(vt) for _ in range(cols)] for _ in range(rows)]
    for prow, irow in zip(phis, init):
        for p, v in zip(prow, irow):
            p.add_incoming(v, entry)
    return (entry, loop, done, init), counter, phis


def _close_loop(builder, count, blocks, counter, phis, new):
    """Emit the loop's back edges (accumulators ``phis`` become ``new``) and its exit; the builder is
    left after the loop. Returns the accumulators there (their initial values when the loop did not run)."""
    entry, loop, done, init = blocks
    following = builder.add(counter, ir.Constant(_I64, 1))
    tail = builder.basic_block
    counter.add_incoming(following, tail)
    for prow, nrow in zip(phis, new):
        for p, v in zip(prow, nrow):
            p.add_incoming(v, tail)
    builder.cbranch(builder.icmp_signed("<", following, count), loop, done)
    builder.position_at_end(done)
    result = [[builder.phi(p.type) for p in row] for row in phis]           # phi nodes first
    for rrow, nrow, irow in zip(result, new, init):
        for r, v, i in zip(rrow, nrow, irow):
            r.add_incoming(i, entry)
            r.add_incoming(v, tail)
    return result


def make_tile(shape, unroll=(9,)):
    """The tile as a Numba intrinsic for this ``shape``.

    ``tile(x, w, y, nc, xcs, offs, ntaps, ycs, nvalid, nrows, accumulate)``, addresses and strides
    in float32 elements of ``x`` (the input at the tile's first pixel), ``w`` (packed weights
    ``(nc, ntaps, rows)``) and ``y`` (the output at the tile's first channel and pixel); ``offs``
    the address of ``ntaps`` int64 offsets of the taps from ``x`` (a 3×3 kernel on a bordered
    plane: ``a (W + 2) + b``; on the phase planes of a stride-2 convolution the phase's plane as
    well); ``xcs``/``ycs`` the channel strides, ``nvalid`` the pixels of the tile inside the row,
    ``nrows`` the output channels inside the tile. A tap count in ``unroll`` runs a loop body with
    the taps unrolled (9: a 3×3 kernel), other counts (1, 2 or 4: the phases of a transposed one) a
    loop over the taps; unrolling those as well measured no faster, and it compiles longer.
    """
    @intrinsic
    def tile(typingctx, x, w, y, nc, xcs, offs, ntaps, ycs, nvalid, nrows, accumulate):
        sig = types.void(*([types.intp] * 10), types.boolean)

        def codegen(context, builder, signature, args):
            xa, wa, ya, nc_, xcs_, oa, ntaps_, ycs_, nvalid_, nrows_, acc_flag = args
            t = _TileIR(builder, shape, xa, wa)
            o0 = builder.inttoptr(oa, _I64.as_pointer())

            def reduction(unrolled):
                """The reduction over input channels (and taps): accumulators in phi nodes; the taps
                unrolled (``unrolled`` of them) or a loop over them (``unrolled = 0``)."""
                if unrolled:
                    offsets = [builder.load(builder.gep(o0, [ir.Constant(_I64, k)])) for k in range(unrolled)]
                blocks, c, phis = _open_loop(builder, "tile", nc_, t.R, t.V, t.vt)
                xc = builder.gep(t.x0, [builder.mul(c, xcs_)])
                wc = builder.gep(t.w0, [builder.mul(c, builder.mul(ntaps_, ir.Constant(_I64, t.R)))])
                if unrolled:
                    acc = t.taps(phis, xc, wc, offsets)
                else:
                    tblocks, k, tphis = _open_loop(builder, "tap", ntaps_, t.R, t.V, t.vt, init=phis)
                    off = builder.load(builder.gep(o0, [k]))
                    wt = builder.gep(wc, [builder.mul(k, ir.Constant(_I64, t.R))])
                    acc = _close_loop(builder, ntaps_, tblocks, k, tphis, t.taps(tphis, xc, wt, [off]))
                return _close_loop(builder, nc_, blocks, c, phis, acc)

            # one loop body per unrolled tap count and one for the others, joined before the epilogue
            merge = builder.append_basic_block("tile.merge")
            other = builder.append_basic_block("tile.other")
            switch = builder.switch(ntaps_, other)
            ends = []
            for k in tuple(unroll) + (0,):
                block = other if k == 0 else builder.append_basic_block(f"tile.taps{k}")
                if k:
                    switch.add_case(ir.Constant(_I64, k), block)
                builder.position_at_end(block)
                ends.append((reduction(k), builder.basic_block))
                builder.branch(merge)
            builder.position_at_end(merge)
            result = [[builder.phi(t.vt) for _ in range(t.V)] for _ in range(t.R)]
            for acc, block in ends:
                for r in range(t.R):
                    for v in range(t.V):
                        result[r][v].add_incoming(acc[r][v], block)
            t.store(result, ya, ycs_, nvalid_, nrows_, acc_flag)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def make_pointwise_tile(shape):
    """The tile of a 1×1 convolution with its input's bias + ReLU applied while it loads (the
    prologue) and the output's bias (+ ReLU) before the only store (the epilogue), as a Numba
    intrinsic for this ``shape``.

    ``ptile(x, w, y, nc, xcs, bin, bout, ycs, nvalid, nrows, accumulate, epilogue)``:
    ``y[r] (+)= sum_c w[c, r] max(x[c] + bin[c], 0)``, then with ``epilogue`` 1 ``y[r] += bout[r]``,
    with 2 ``y[r] = max(y[r] + bout[r], 0)`` (after the addition of what was there, so the
    epilogue belongs to the last of a row's channel blocks); ``bin``/``bout`` addresses of float32
    biases (the tile's first input channel and output row), the rest as in :func:`make_tile`. A
    NaN propagates through both ReLUs, as in :func:`.kernels.bias_relu_rows`.
    """
    @intrinsic
    def ptile(typingctx, x, w, y, nc, xcs, bin, bout, ycs, nvalid, nrows, accumulate, epilogue):
        sig = types.void(*([types.intp] * 10), types.boolean, types.intp)

        def codegen(context, builder, signature, args):
            xa, wa, ya, nc_, xcs_, bia, boa, ycs_, nvalid_, nrows_, acc_flag, epi = args
            t = _TileIR(builder, shape, xa, wa)
            b_in, b_out = (builder.inttoptr(a, _F32.as_pointer()) for a in (bia, boa))
            zero = ir.Constant(t.vt, [0.0] * t.L)
            blocks, c, phis = _open_loop(builder, "ptile", nc_, t.R, t.V, t.vt)
            bc = t.splat(builder.load(builder.gep(b_in, [c]), align=4))

            def relu_bias(v):                              # max(x + b, 0), a NaN propagates
                z = builder.fadd(v, bc)
                return builder.select(builder.fcmp_ordered("<", z, zero), zero, z)

            acc = t.taps(phis, builder.gep(t.x0, [builder.mul(c, xcs_)]),
                         builder.gep(t.w0, [builder.mul(c, ir.Constant(_I64, t.R))]),
                         [ir.Constant(_I64, 0)], prologue=relu_bias)
            result = _close_loop(builder, nc_, blocks, c, phis, acc)

            def finish(value, r):
                biased = builder.fadd(value, t.splat(builder.load(builder.gep(b_out, [ir.Constant(_I64, r)]),
                                                                  align=4)))
                relu = builder.select(builder.fcmp_ordered("<", biased, zero), zero, biased)
                out = builder.select(builder.icmp_signed("==", epi, ir.Constant(_I64, 2)), relu, biased)
                return builder.select(builder.icmp_signed("==", epi, ir.Constant(_I64, 0)), value, out)

            t.store(result, ya, ycs_, nvalid_, nrows_, acc_flag, finish)
            return context.get_dummy_value()

        return sig, codegen

    return ptile


class _TileIR:
    """The pieces of a tile's LLVM IR shared by :func:`make_tile` and :func:`make_pointwise_tile`:
    the fused multiply-adds of a channel's taps and the epilogue's stores."""

    def __init__(self, builder, shape, xa, wa):
        self.b = builder
        self.L, self.R, self.V = shape.lanes, shape.rows, shape.vectors
        self.vt = ir.VectorType(_F32, self.L)
        fptr = _F32.as_pointer()
        self.x0, self.w0 = builder.inttoptr(xa, fptr), builder.inttoptr(wa, fptr)
        self.fma = _fma(builder, self.vt)

    def splat(self, scalar):
        """``scalar`` in every lane."""
        b, vt = self.b, self.vt
        undef = ir.Constant(vt, ir.Undefined)
        return b.shuffle_vector(b.insert_element(undef, scalar, ir.Constant(_I32, 0)), undef,
                                ir.Constant(ir.VectorType(_I32, self.L), [0] * self.L))

    def taps(self, acc, xc, wt, offsets, prologue=None):
        """``acc`` after the taps at ``offsets`` of the channel at ``xc`` (weights from ``wt``; each
        loaded vector through ``prologue`` first, if given)."""
        b, vt, L = self.b, self.vt, self.L
        acc = [list(row) for row in acc]
        for t, off in enumerate(offsets):
            xs = [b.load(b.bitcast(b.gep(xc, [b.add(off, ir.Constant(_I64, v * L))]), vt.as_pointer()), align=4)
                  for v in range(self.V)]
            if prologue is not None:
                xs = [prologue(x) for x in xs]
            for r in range(self.R):
                wv = self.splat(b.load(b.gep(wt, [ir.Constant(_I64, t * self.R + r)]), align=4))
                for v in range(self.V):
                    acc[r][v] = b.call(self.fma, [wv, xs[v], acc[r][v]])
        return acc

    def store(self, result, ya, ycs_, nvalid_, nrows_, acc_flag, finish=None):
        """The epilogue: each accumulator (plus what is there, with ``acc_flag``; through ``finish(value,
        row)`` if given) stored once, its lanes past ``nvalid`` masked; rows from ``nrows`` not stored."""
        b, vt, L = self.b, self.vt, self.L
        y0 = b.inttoptr(ya, _F32.as_pointer())
        finish = finish or (lambda value, r: value)
        masked_load, masked_store = _masked(b, vt, "load"), _masked(b, vt, "store")
        four = ir.Constant(_I32, 4)
        lanes = ir.VectorType(_I64, L)
        lane_index = ir.Constant(lanes, list(range(L)))
        room = b.shuffle_vector(b.insert_element(ir.Constant(lanes, ir.Undefined), nvalid_, ir.Constant(_I32, 0)),
                                ir.Constant(lanes, ir.Undefined), ir.Constant(ir.VectorType(_I32, L), [0] * L))

        def put(ptr, value, r):
            with b.if_else(acc_flag) as (add, store):
                with add:
                    b.store(finish(b.fadd(b.load(ptr, align=4), value), r), ptr, align=4)
                with store:
                    b.store(finish(value, r), ptr, align=4)

        def put_lanes(ptr, value, r, v):
            """Only the lanes inside the row: ``v L + lane < nvalid``."""
            inside = b.icmp_signed("<", b.add(lane_index, ir.Constant(lanes, [v * L] * L)), room)
            with b.if_else(acc_flag) as (add, store):
                with add:
                    old = b.call(masked_load, [ptr, four, inside, ir.Constant(vt, [0.0] * L)])
                    b.call(masked_store, [finish(b.fadd(old, value), r), ptr, four, inside])
                with store:
                    b.call(masked_store, [finish(value, r), ptr, four, inside])

        for r in range(self.R):
            with b.if_then(b.icmp_signed("<", ir.Constant(_I64, r), nrows_)):
                yr = b.gep(y0, [b.mul(ir.Constant(_I64, r), ycs_)])
                for v in range(self.V):
                    p = b.bitcast(b.gep(yr, [ir.Constant(_I64, v * L)]), vt.as_pointer())
                    with b.if_else(b.icmp_signed(">=", nvalid_, ir.Constant(_I64, (v + 1) * L))) as (whole, partial):
                        with whole:
                            put(p, result[r][v], r)
                        with partial:
                            put_lanes(p, result[r][v], r, v)


def make_wgrad_tile(shape):
    """The weight-gradient tile as a Numba intrinsic: ``rows`` output channels × one row of 3 taps.

    ``wtile(dy, x, acc, ycs, nvec, xoff, coffs, nrows)``: for ``k < nvec`` vectors of ``lanes``
    pixels, ``acc[r, b] += dy[r ycs + k L : +L] * x[k L + xoff + coffs[b] : +L]`` (``b`` = 0, 1, 2;
    ``coffs`` the address of three int64 column offsets: ``b - 1`` on a bordered plane, on the phase
    planes of a stride-2 convolution the phase's plane as well): ``rows × 3``
    vector accumulators that start at zero and are added to ``acc`` (float32, ``(rows, 3, lanes)``)
    at the end, so that each call's sum is short (float32 rounding) and ``acc`` holds the sum of
    the calls. Rows from ``nrows`` on read row 0's gradient (their sums are never used), so nothing
    past the last output channel is read.
    """
    L, R = shape.lanes, shape.wgrad_rows
    vt = ir.VectorType(_F32, L)

    @intrinsic
    def wtile(typingctx, dy, x, acc, ycs, nvec, xoff, coffs, nrows):
        sig = types.void(*([types.intp] * 8))

        def codegen(context, builder, signature, args):
            ya, xa, aa, ycs_, nvec_, xoff_, ca, nrows_ = args
            fptr = _F32.as_pointer()
            y0, x0, a0 = (builder.inttoptr(a, fptr) for a in (ya, xa, aa))
            fma = _fma(builder, vt)
            vptr = vt.as_pointer()
            slots = [[builder.bitcast(builder.gep(a0, [ir.Constant(_I64, (3 * r + b) * L)]), vptr) for b in range(3)]
                     for r in range(R)]
            rows = [builder.gep(y0, [builder.mul(builder.select(builder.icmp_signed("<", ir.Constant(_I64, r), nrows_),
                                                                ir.Constant(_I64, r), ir.Constant(_I64, 0)), ycs_)])
                    for r in range(R)]
            c0 = builder.inttoptr(ca, _I64.as_pointer())
            xs0 = [builder.gep(x0, [builder.add(xoff_, builder.load(builder.gep(c0, [ir.Constant(_I64, b)])))])
                   for b in range(3)]

            blocks, k, phis = _open_loop(builder, "wtile", nvec_, R, 3, vt)
            q = builder.mul(k, ir.Constant(_I64, L))
            xs = [builder.load(builder.bitcast(builder.gep(xs0[b], [q]), vptr), align=4) for b in range(3)]
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


def _conv3x3_rows(xb, offs, wp, y, accumulate):
    """``y (Co, N, H, W) (+)= conv(x)`` from the bordered input ``xb (Ci, N, H + 2, W + 2)`` (or
    phase 0 of the phase planes, see :func:`phase_scratch`), the taps' offsets ``offs`` from
    output pixel ``(i, j)``'s bordered pixel ``(i, j)`` and the packed weights ``wp (ceil(Co / R),
    Ci, len(offs), R)`` (:func:`pack_weights`); one job per row."""
    ci, n, hb, wb = xb.shape
    co, _, h, w = y.shape
    ot, nt = wp.shape[0], offs.size
    kc = _KC * 9 // nt                     # the channels whose input rows stay in L1 (as many taps)
    nxt = (w + _VL - 1) // _VL
    xaddr, waddr, yaddr, oaddr = xb.ctypes.data, wp.ctypes.data, y.ctypes.data, offs.ctypes.data
    xcs, ycs = n * hb * wb, n * h * w
    for job in prange(n * h):
        im = job // h
        row = job % h
        for o in range(ot):
            nrows = min(_R, co - o * _R)
            for c0 in range(0, ci, kc):
                nc = min(kc, ci - c0)
                add = accumulate or c0 > 0
                for xt in range(nxt):
                    x0 = xt * _VL
                    _tile(xaddr + 4 * (c0 * xcs + (im * hb + row) * wb + x0),
                          waddr + 4 * ((o * ci + c0) * nt * _R),
                          yaddr + 4 * ((o * _R * n + im) * h * w + row * w + x0),
                          nc, xcs, oaddr, nt, ycs, min(_VL, w - x0), nrows, add)


#: Pixels of a weight-gradient chunk: the ``rows`` gradient rows of a chunk stay in the L1 cache
#: while every input channel and tap row passes over them.
_WGRAD_CHUNK = 1024


def _conv3x3_wgrad_rows(dyb, xb, roffs, coffs, acc):
    """``acc (T, ceil(Co / R), Ci, 3, R, 3, L) +=`` the lane sums of the weight gradient of a
    padding-1 3×3 convolution from the bordered output gradient ``dyb (Co, N, Ho + 2, Wo + 2)``
    and the input ``xb`` (bordered, or phase 0 of the phase planes of a stride-2 convolution),
    ``T`` parts summed apart.

    With bordered planes ``dW[o, c, a, b] = sum_q dyb[o, q] xb[c, q + roffs[a] + coffs[b]]`` over
    the flat index ``q`` of rows 1 … Ho of every image (and the zero rows between images), one
    contiguous range: the tile's flat dot products (stride 1: ``roffs[a] = (a - 1)(W + 2)``,
    ``coffs[b] = b - 1``). Part ``t`` sums the chunks ``t, t + T, …`` into ``acc[t]`` (one part per
    thread); the caller adds the parts and lanes in a fixed order.
    """
    co, n, hb, wb = dyb.shape
    ci = xb.shape[0]
    plane = n * hb * wb
    nvec = (plane - 2 * wb + _WL - 1) // _WL
    per = _WGRAD_CHUNK // _WL
    nchunks = (nvec + per - 1) // per
    threads, ot = acc.shape[0], acc.shape[1]
    yaddr, xaddr, aaddr, caddr = dyb.ctypes.data, xb.ctypes.data, acc.ctypes.data, coffs.ctypes.data
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
                               plane, nv, roffs[a], caddr, nrows)


#: Tiles of a job of the flat driver (a few rows of a narrow image).
_FLAT_TILES = 8


def _conv3x3_flat(xb, offs, wp, yb):
    """``yb (Co, N, H + 2, W + 2) = conv(x)`` at every pixel of rows 1 … H of the bordered grid,
    border columns included (they are not outputs: the caller copies the interior out), from the
    input ``xb``, offsets ``offs`` and packed weights ``wp`` (as :func:`_conv3x3_rows`).

    For rows that a tile does not divide (a 16-pixel row leaves half of a 32-lane tile idle, an
    8-pixel one three quarters): the tiles run along the flat index of the bordered planes, rows
    1 … H of every image (and the border rows between images) as one range, so every lane but
    those of the last tile works. One job is :data:`_FLAT_TILES` consecutive tiles.
    """
    ci, n, hb, wb = xb.shape
    co = yb.shape[0]
    ot, nt = wp.shape[0], offs.size
    kc = _KC * 9 // nt                     # the channels whose input rows stay in L1 (as many taps)
    plane = n * hb * wb
    total = plane - 2 * wb
    ntiles = (total + _VL - 1) // _VL
    xaddr, waddr, yaddr, oaddr = xb.ctypes.data, wp.ctypes.data, yb.ctypes.data, offs.ctypes.data
    for job in prange((ntiles + _FLAT_TILES - 1) // _FLAT_TILES):
        t1 = min(ntiles, (job + 1) * _FLAT_TILES)
        for o in range(ot):
            nrows = min(_R, co - o * _R)
            for c0 in range(0, ci, kc):
                nc = min(kc, ci - c0)
                for t in range(job * _FLAT_TILES, t1):
                    q = wb + t * _VL                       # output pixel q is bordered pixel (1, 1) of its taps
                    _tile(xaddr + 4 * (c0 * plane + q - wb - 1), waddr + 4 * ((o * ci + c0) * nt * _R),
                          yaddr + 4 * (o * _R * plane + q), nc, plane, oaddr, nt, plane, min(_VL, wb + total - q),
                          nrows, c0 > 0)


def _pointwise(x, wp, bin, bout, epilogue, y):
    """``y (Co, P) = W max(x + bin, 0)`` for the whole tiles of ``x (Ci, P)``, then ``+ bout`` (epilogue 1)
    or ``max(. + bout, 0)`` (2): the 1×1 convolution with its input's bias + ReLU and its output's
    bias (+ ReLU) fused (:func:`make_pointwise_tile`); packed weights ``wp (ceil(Co / R), Ci, 1, R)``,
    ``bout`` padded to ``ceil(Co / R) R``. One job is :data:`_FLAT_TILES` consecutive tiles of
    pixels; the pixels past the last whole tile are the caller's."""
    ci, p = x.shape
    co = y.shape[0]
    ot = wp.shape[0]
    ntiles = p // _VL
    kc = _KC * 9                           # the channel block of a 3×3 tile's loads, in one row each
    xaddr, waddr, yaddr, baddr, oaddr = x.ctypes.data, wp.ctypes.data, y.ctypes.data, bin.ctypes.data, bout.ctypes.data
    for job in prange((ntiles + _FLAT_TILES - 1) // _FLAT_TILES):
        t1 = min(ntiles, (job + 1) * _FLAT_TILES)
        for o in range(ot):
            nrows = min(_R, co - o * _R)
            for c0 in range(0, ci, kc):
                nc = min(kc, ci - c0)
                epi = epilogue if c0 + kc >= ci else 0
                for t in range(job * _FLAT_TILES, t1):
                    q = t * _VL
                    _ptile(xaddr + 4 * (c0 * p + q), waddr + 4 * ((o * ci + c0) * _R), yaddr + 4 * (o * _R * p + q),
                           nc, p, baddr + 4 * c0, oaddr + 4 * o * _R, p, _VL, nrows, c0 > 0, epi)


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


@PJIT
def _from_phases(yp, y, accumulate):
    """``y[c, n, 2i + p, 2j + q] (+)= yp[2p + q, c, n, i + 1, j + 1]``: the interiors of the four
    bordered phase planes ``yp (4, C, N, H + 2, W + 2)`` interleaved into ``y (C, N, 2H, 2W)``."""
    co, n, h2, w2 = y.shape
    for cn in prange(co * n):
        c = cn // n
        im = cn % n
        for i in range(h2):
            p = i % 2
            for j in range(w2):
                v = yp[2 * p + j % 2, c, im, i // 2 + 1, j // 2 + 1]
                if accumulate:
                    y[c, im, i, j] += v
                else:
                    y[c, im, i, j] = v


def build_conv3x3(shape, *, cache=False):
    """The two drivers of the tile for ``shape`` (rows, flat), compiled on first call (the host's
    are :data:`conv3x3_rows` and :data:`conv3x3_flat`, cached on disk; others, for the tests, are
    not)."""
    return _build(_conv3x3_rows, shape, cache), _build(_conv3x3_flat, shape, cache)


def build_pointwise(shape, *, cache=False):
    """The 1×1 driver for ``shape`` (as :func:`build_conv3x3`)."""
    return _build(_pointwise, shape, cache)


def build_conv3x3_wgrad(shape, *, cache=False):
    """The weight-gradient driver for ``shape`` (as :func:`build_conv3x3`)."""
    return _build(_conv3x3_wgrad_rows, shape, cache)


def _build(body, shape, cache):
    """``body`` compiled with the tiles and constants of ``shape`` as its globals."""
    scope = dict(globals(), _tile=make_tile(shape), _wtile=make_wgrad_tile(shape), _ptile=make_pointwise_tile(shape),
                 _VL=shape.lanes * shape.vectors, _R=shape.rows, _KC=shape.channel_block,
                 _WL=shape.lanes, _WR=shape.wgrad_rows, _FLAT_TILES=_FLAT_TILES)
    fn = _pytypes.FunctionType(body.__code__, scope, f"{body.__name__.lstrip('_')}_{shape.name}")
    fn.__doc__ = body.__doc__
    return njit(cache=cache, fastmath=set(FASTMATH), nogil=True, parallel=True)(fn)


# The host's driver: module-level globals (what Numba's disk cache needs).
_tile = make_tile(TILE)
_wtile = make_wgrad_tile(TILE)
_ptile = make_pointwise_tile(TILE)
_VL, _R, _KC = TILE.lanes * TILE.vectors, TILE.rows, TILE.channel_block
_WL, _WR = TILE.lanes, TILE.wgrad_rows
conv3x3_rows = PJIT(_conv3x3_rows)
conv3x3_flat = PJIT(_conv3x3_flat)
conv3x3_wgrad_rows = PJIT(_conv3x3_wgrad_rows)
pointwise_rows = PJIT(_pointwise)


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


@PJIT
def _to_phases(x, xp):
    """``xp[2p + q, c, n, i + 1, j + 1] = x[c, n, 2i + p, 2j + q]``: the four phase planes of
    ``x (C, N, 2H, 2W)``, each with a one-pixel zero border: ``xp (4, C, N, H + 2, W + 2)``. Each
    row of ``x`` is read once, into the two planes of its row phase."""
    ci, n, h2, w2 = x.shape
    h, w = h2 // 2, w2 // 2
    for cn in prange(ci * n):
        c = cn // n
        im = cn % n
        for ph in range(4):
            for j in range(w + 2):
                xp[ph, c, im, 0, j] = 0.0
                xp[ph, c, im, h + 1, j] = 0.0
            for i in range(h):
                xp[ph, c, im, i + 1, 0] = 0.0
                xp[ph, c, im, i + 1, w + 1] = 0.0
        for i2 in range(h2):
            p = i2 % 2
            i = i2 // 2 + 1
            for j in range(w):
                xp[2 * p, c, im, i, j + 1] = x[c, im, i2, 2 * j]
                xp[2 * p + 1, c, im, i, j + 1] = x[c, im, i2, 2 * j + 1]


def _slack_scratch(engine, tag, shape, tile):
    """A float32 scratch of ``shape`` for the engine's temporary ``tag``, preceded by the float that
    the weight gradient's first tap reads (times a zero gradient) and followed by the slack that
    the last tile's lanes past the end of the last row read (never stored); both slacks zero."""
    size = int(np.prod(shape))
    lead = tile.lanes
    buf = engine.scratch(tag, (lead + size + tile.lanes * tile.vectors + 2,), np.float32)
    buf[:lead] = 0.0
    buf[lead + size:] = 0.0
    return buf[lead:lead + size].reshape(shape)


def bordered_scratch(engine, tag, x, shape=TILE):
    """``x (C, N, H, W)`` float32 copied into the engine's scratch ``tag`` with a one-pixel zero
    border: ``(C, N, H + 2, W + 2)``, with the slacks of :func:`_slack_scratch`."""
    c, n, h, w = x.shape
    xb = _slack_scratch(engine, tag, (c, n, h + 2, w + 2), shape)
    _run(_to_bordered, xb.size, x, xb)
    return xb


def phase_scratch(engine, tag, x, shape=TILE):
    """The four phase planes of ``x (C, N, 2H, 2W)`` float32 in the engine's scratch ``tag``, each
    with a one-pixel zero border: ``(4, C, N, H + 2, W + 2)``, plane ``2p + q`` holding the pixels
    ``(2i + p, 2j + q)`` (the slacks of :func:`_slack_scratch`).

    A stride-2, padding-1 3×3 convolution reads row ``2i + a - 1`` for kernel row ``a`` of output
    row ``i``: row ``i - 1`` of phase 1 (``a = 0``), row ``i`` of phase 0 (``a = 1``) and of phase 1
    (``a = 2``). On these planes each of its taps is an address offset, as on a bordered plane.
    """
    c, n, h2, w2 = x.shape
    if h2 % 2 or w2 % 2:
        raise ValueError(f"phase planes need an even height and width, got {h2}×{w2}")
    xp = _slack_scratch(engine, tag, (4, c, n, h2 // 2 + 2, w2 // 2 + 2), shape)
    _run(_to_phases, xp.size, x, xp)
    return xp


def pack_weights(w, rows):
    """``w (Co, Ci, k, k')`` -> ``(ceil(Co / rows), Ci, k k', rows)`` float32, output channels past
    ``Co`` zero: the order in which a tile reads its weights."""
    co, ci, kh, kw = w.shape
    ot = -(-co // rows)
    wp = np.zeros((ot * rows, ci, kh * kw), np.float32)
    wp[:co] = w.reshape(co, ci, kh * kw)
    return np.ascontiguousarray(wp.reshape(ot, rows, ci, kh * kw).transpose(0, 2, 3, 1))


# Kernel row a (or column b) of a stride-2, padding-1 convolution: (phase, row of the bordered phase
# plane) that output row i reads, relative to i (see phase_scratch).
_S2 = ((1, 0), (0, 1), (1, 1))
# Output phase p of a stride-2 transposed convolution (its adjoint): ((kernel row a, bordered input
# row relative to output row u), ...): y[2u] takes x[u] through a = 1, y[2u + 1] x[u + 1] through
# a = 0 and x[u] through a = 2.
_T2 = (((1, 1),), ((0, 2), (2, 1)))


def _offsets(xb, stride):
    """The int64 offsets of the 3×3 taps ``(a, b)`` (``t = 3a + b``) from the bordered pixel ``(i, j)``
    of output pixel ``(i, j)``: on a bordered plane (stride 1), or on the phase planes ``xb`` of
    :func:`phase_scratch` (stride 2; plane ``P`` is ``P`` plane sizes further on)."""
    wb = xb.shape[-1]
    if stride == 1:
        return np.array([a * wb + b for a in range(3) for b in range(3)], np.int64)
    ps = int(np.prod(xb.shape[1:]))
    return np.array([(2 * _S2[a][0] + _S2[b][0]) * ps + _S2[a][1] * wb + _S2[b][1]
                     for a in range(3) for b in range(3)], np.int64)


def wgrad_fits(width, shape=TILE):
    """Whether :func:`conv3x3_wgrad` takes output rows of this width: ``2 (W + 2) >= lanes`` (the
    lanes of the last vector past the last row must fall on the zero border rows, not on the next
    plane)."""
    return 2 * (width + 2) >= shape.lanes


def conv3x3_wgrad(dyb, xb, *, stride=1, driver=None, shape=TILE):
    """The weight gradient ``(Co, Ci, 3, 3)`` float32 of a padding-1 3×3 convolution from the
    bordered output gradient (:func:`bordered_scratch`) and the bordered input (stride 1) or its
    phase planes (stride 2, :func:`phase_scratch`); output rows as :func:`wgrad_fits` allows."""
    co, n, hb, wb = dyb.shape
    x0 = xb if stride == 1 else xb[0]
    ci = x0.shape[0]
    if x0.shape[1:] != dyb.shape[1:]:
        raise ValueError(f"the input planes {x0.shape[1:]} do not match the gradient's {dyb.shape[1:]}")
    if not wgrad_fits(wb - 2, shape):
        raise ValueError(f"rows of width {wb - 2} are too short for the {shape.name} weight-gradient tile")
    offs = _offsets(xb, stride)
    roffs, coffs = offs[0::3] - wb - 1, offs[:3] - offs[0]     # offs[3a + b] - wb - 1 = roffs[a] + coffs[b]
    ot, R = -(-co // shape.wgrad_rows), shape.wgrad_rows
    acc = np.zeros((get_num_threads(), ot, ci, 3, R, 3, shape.lanes), np.float32)
    _run(driver or conv3x3_wgrad_rows, co * ci * 9 * n * hb * wb // 16, dyb, x0, roffs, coffs, acc)
    dw = acc.sum(axis=(0, 6), dtype=np.float64)                  # (OT, Ci, 3, R, 3)
    return dw.transpose(0, 3, 1, 2, 4).reshape(ot * R, ci, 3, 3)[:co].astype(np.float32)


def flipped_transpose(w):
    """The kernel of a 3×3 convolution's input gradient: ``w[o, c, a, b] -> w[c, o, 2 - a, 2 - b]``
    (``dx = conv3x3(dy)`` with it, stride 1, padding 1)."""
    return w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]


def conv3x3(x, w, engine, *, tag=None, xb=None, stride=1, out=None, accumulate=False, driver=None, shape=TILE):
    """Padding-1 3×3 convolution of ``x (Ci, N, H, W)`` float32 by ``w (Co, Ci, 3, 3)`` at stride 1
    or 2: ``(Co, N, H / s, W / s)`` into ``out`` if given (C-contiguous; added to it with
    ``accumulate``).

    ``tag`` names the engine's scratch that takes the bordered input (stride 1) or its phase planes
    (stride 2; even ``H`` and ``W``); or ``xb`` is that already (:func:`bordered_scratch`,
    :func:`phase_scratch`) and ``x`` is not read. Output rows that the tile's width divides run on
    the row driver, straight into ``out``; others on the flat driver, into a bordered scratch
    (``conv.yb``) whose interior is then copied out. ``driver``/``shape`` select another tile
    shape (the pair of :func:`build_conv3x3`; the tests use them).
    """
    if xb is None:
        xb = (bordered_scratch if stride == 1 else phase_scratch)(engine, tag, x, shape)
    x0 = xb if stride == 1 else xb[0]
    ci, n, h, wd = x0.shape[0], x0.shape[1], x0.shape[2] - 2, x0.shape[3] - 2
    co = w.shape[0]
    if out is None:
        out = np.empty((co, n, h, wd), np.float32)
    assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (co, n, h, wd)
    wp = pack_weights(w.astype(np.float32, copy=False), shape.rows)
    offs = _offsets(xb, stride)
    rows, flat = driver or (conv3x3_rows, conv3x3_flat)
    work = out.size * ci * 9 // 16
    if wd % (shape.lanes * shape.vectors) == 0:
        _run(rows, work, x0, offs, wp, out, accumulate)
        return out
    yb = engine.scratch("conv.yb", (co,) + x0.shape[1:], np.float32)
    _run(flat, work, x0, offs, wp, yb)
    _run(_from_bordered, out.size, yb, out, accumulate)
    return out


def conv_transpose3x3(xb, w, engine, *, out=None, accumulate=False, driver=None, shape=TILE):
    """Stride-2 transposed 3×3 convolution (padding 1, output padding 1) of the bordered input
    ``xb (Ci, N, H + 2, W + 2)`` (:func:`bordered_scratch`) by ``w (Co, Ci, 3, 3)``:
    ``y[o, Y, X] = sum w[o, c, a, b] x[c, i, j]`` over ``Y = 2i + a - 1``, ``X = 2j + b - 1``,
    ``(Co, N, 2H, 2W)`` into ``out`` if given (added to it with ``accumulate``).

    The adjoint of :func:`conv3x3` at stride 2 (with ``w`` transposed). Each output phase ``(p, q)``
    is a convolution of ``x`` with 1, 2, 2 or 4 of the kernel's taps (9 in all: no product with a
    zero of an upsampled input), run on the flat driver into the bordered phase planes of the
    scratch ``convt.yp`` and interleaved into ``out``.
    """
    ci, n, hb, wb = xb.shape
    co = w.shape[0]
    if out is None:
        out = np.empty((co, n, 2 * (hb - 2), 2 * (wb - 2)), np.float32)
    assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (co, n, 2 * hb - 4, 2 * wb - 4)
    w = w.astype(np.float32, copy=False)
    flat = (driver or (conv3x3_rows, conv3x3_flat))[1]
    yp = engine.scratch("convt.yp", (4, co, n, hb, wb), np.float32)
    for p in range(2):
        for q in range(2):
            taps = [(a, ra, b, rb) for a, ra in _T2[p] for b, rb in _T2[q]]
            offs = np.array([ra * wb + rb for _, ra, _, rb in taps], np.int64)
            wt = np.stack([w[:, :, a, b] for a, _, b, _ in taps], axis=-1)[:, :, None, :]   # (Co, Ci, 1, taps)
            _run(flat, yp[0].size * ci * len(taps) // 16, xb, offs, pack_weights(wt, shape.rows), yp[2 * p + q])
    _run(_from_phases, out.size, yp, out, accumulate)
    return out


def pointwise(x, w, b_in, b_out=None, *, relu_out=False, out=None, driver=None, shape=TILE):
    """The 1×1 convolution of the ReLU of ``x (Ci, P) + b_in`` by ``w (Co, Ci)``, plus ``b_out`` (and its
    ReLU with ``relu_out``) if given: ``(Co, P)`` float32 into ``out`` if given, in one pass over
    ``x`` and one store of ``out`` (:func:`make_pointwise_tile`; the pixels after the last whole
    tile by NumPy). ``driver``/``shape`` select another tile shape (:func:`build_pointwise`)."""
    ci, p = x.shape
    co = w.shape[0]
    if out is None:
        out = np.empty((co, p), np.float32)
    assert out.flags.c_contiguous and out.dtype == np.float32 and out.shape == (co, p) and x.flags.c_contiguous
    w = w.reshape(co, ci).astype(np.float32, copy=False)
    ot = -(-co // shape.rows)
    bout = np.zeros(ot * shape.rows, np.float32)
    if b_out is not None:
        bout[:co] = b_out
    b_in = np.ascontiguousarray(b_in, np.float32)
    epilogue = 0 if b_out is None else 2 if relu_out else 1
    whole = p - p % (shape.lanes * shape.vectors)
    if whole:
        _run(driver or pointwise_rows, co * ci * whole // 16, x, pack_weights(w[:, :, None, None], shape.rows),
             b_in, bout, epilogue, out)
    if whole < p:                                      # the last, partial tile's pixels
        z = w @ np.maximum(x[:, whole:] + b_in[:, None], 0, dtype=np.float32)
        if b_out is not None:
            z += bout[:co, None]
            if relu_out:
                np.maximum(z, 0, out=z)
        out[:, whole:] = z
    return out
