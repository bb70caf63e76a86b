"""Where the MGBP network's time goes: a training step and a tiled upscale, broken down by kernel kind.

Cases (the shipped architecture, float32, µ = 2):

- one training step of loss (7) (levels L = 1, 2, 3), batch 16, for 64² and for 128² HR patches:
  zero the gradients, forward + backward, one Adam step;
- ``upscale`` through the CLI's path (tiles from the memory budget, ``--memory``, streamed bands) of
  the bundled 72×96 sample at ×4 and ×8, a 256² image at ×4 and a 128² image at ×8, and the same
  images untiled (one pass, same margin): the CLI / untiled time ratio.

Each case is first run once to compile and warm, then timed once with wrappers that this script
installs around the engine's calls (nothing in the package is changed on disk; the package's hot
path has no profiling hooks):

=================  ==========================================================================
kind               what is timed
=================  ==========================================================================
BLAS product       ``numpy.matmul``/``dot`` (shape ``M×K @ K×N``, FLOP = 2 M K N, GFLOP/s)
tiled product      the register-tiled kernels of ``mgbp_classic.nn.tiles`` (3×3 convolution and its
                   weight gradient; FLOP = 2 Co Ci 9 pixels, GFLOP/s per shape)
tap gather/scatter the 3×3 im2col / col2im kernels (and their Winograd transforms, if any)
bias+ReLU          the bias, ReLU, ReLU-backward and bias-gradient kernels
layout/concat      ``(N, C) <-> (C, N)`` swaps, ``concatenate``, ``ascontiguousarray``, ``pad``
upscaler           the depthwise 2× classic upscaler's kernels
loss               the mean-absolute-error kernel
tensor add         the recursion's ``u + Upscale(...)`` and gradient accumulation (NumPy ``+``)
allocation         ``numpy.empty/zeros/…`` called by the engine
optimiser          the Adam step
Python/other       wall time minus all of the above (interpreter, dispatch, small NumPy ops)
=================  ==========================================================================

Times are exclusive (a timed call inside another timed call is subtracted from its parent) and the
wrappers themselves cost ~1 µs per call. The process's user and system CPU time per case show how
busy both cores were and how much went to the kernel (page faults, thread wake-ups).

The FLOP count of a step is computed from the layer shapes alone (a shape-only walk of the same
Algorithm-1 recursion, :func:`network_flops`), independently of the timed products.

Usage: python benchmarks/profile_net.py [--threads 2] [--quick] [--only train|upscale] [--memory 2GiB] [--page-faults]
"""
import argparse
import os
import sys
import time
import types
from collections import defaultdict

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")     # as the command runs (cli/main.py), before NumPy loads

_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import numpy as np  # noqa: E402

KINDS = ["BLAS product", "tiled product", "tap gather/scatter", "bias+ReLU", "layout/concat", "upscaler", "loss",
         "tensor add", "allocation", "optimiser", "Python/other"]


# ------------------------------------------------------------------------------------ FLOP count
def conv_flops(n, ci, co, k, ho, wo):
    """Multiply-adds ×2 of a k×k convolution producing ``(n, co, ho, wo)`` from ``ci`` channels."""
    return 2.0 * n * ci * co * k * k * ho * wo


def filter_block_flops(n, c, h, w, *, growth=16, bottleneck=64, layers=3):
    f = 0.0
    for i in range(layers):
        ci = c + i * growth
        f += conv_flops(n, ci, bottleneck, 1, h, w) + conv_flops(n, bottleneck, growth, 3, h, w)
    return f + conv_flops(n, c + layers * growth, c, 1, h, w)


class ShapeOps:
    """Algorithm 1's latent operators on shapes ``(N, C, H, W)``, adding up forward FLOPs per module.

    ``first`` collects the forward FLOPs of the layers whose input is the network input (no input
    gradient needed in training: their backward costs one product, not two).
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.flops = defaultdict(float)
        self.images = []
        self.first = 0.0

    def _fb(self, who, s):
        n, c, h, w = s
        cfg = self.cfg
        self.flops[who] += filter_block_flops(n, c, h, w, growth=cfg.growth, bottleneck=cfg.bottleneck,
                                              layers=cfg.dense_layers)

    def analysis(self, s, *, on_input=False):
        n, _, h, w = s
        f = conv_flops(n, self.cfg.channels, self.cfg.features, 3, h, w)
        self.flops["analysis"] += f
        if on_input:
            self.first += f
        self._fb("analysis", (n, self.cfg.features, h, w))
        return (n, self.cfg.features, h, w)

    def synthesis(self, s):
        n, c, h, w = s
        self._fb("synthesis", s)
        self.flops["synthesis"] += conv_flops(n, c, self.cfg.channels, 3, h, w)
        return (n, self.cfg.channels, h, w)

    def upscale(self, s):
        n, c, h, w = s
        self._fb("upscale", s)
        self.flops["upscale"] += conv_flops(n, c // 2, c, 3, h, w)          # transposed conv 2c -> c
        return (n, c // 2, 2 * h, 2 * w)

    def downscale(self, s):
        n, c, h, w = s
        ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        self.flops["downscale"] += conv_flops(n, c, c, 3, ho, wo)
        self._fb("downscale", (n, c, ho, wo))
        return (n, c, ho, wo)

    def classic(self, s):
        n, c, h, w = s
        self.flops["classic upscaler"] += 2.0 * 16 * n * c * 4 * h * w
        return (n, c, 2 * h, 2 * w)

    # the protocol of mgbp_classic.multigrid.multigrid
    def initial(self, x):
        r0 = self.analysis(x, on_input=True)
        self.synthesis(r0)
        self.images.append(x)
        return r0

    def finish(self, ys):
        if len(self.images) < len(ys):
            self.synthesis(ys[-1])
            self.images.append(self._up)

    def lift(self, ys):
        self.finish(ys)
        self._up = self.classic(self.images[-1])
        d = self.downscale(self.analysis(self._up))
        y = ys[-1]
        return self.upscale((y[0], y[1] + d[1], y[2], y[3]))

    def down(self, u):
        return self.downscale(u)

    def correct(self, u, y, d):
        self.upscale((y[0], y[1] + d[1], y[2], y[3]))
        return u


def network_flops(cfg, shape, *, levels, mu):
    """Forward FLOPs of the network on an input of ``shape`` (N, C, H, W): ``(total, per module, first)``."""
    from mgbp_classic.multigrid import multigrid
    ops = ShapeOps(cfg)
    ys = multigrid(tuple(shape), levels=levels, mu=mu, ops=ops)
    ops.finish(ys)
    return sum(ops.flops.values()), dict(ops.flops), ops.first


def train_step_flops(cfg, batch, patch, *, mu, max_levels=3):
    """FLOPs of one training step of loss (7): forward + backward (2 products per layer, 1 for the
    layers on the network input, whose input gradient is not needed)."""
    fwd = first = 0.0
    per = defaultdict(float)
    for L in range(1, max_levels + 1):
        s = patch >> L
        t, p, f1 = network_flops(cfg, (batch, cfg.channels, s, s), levels=L, mu=mu)
        fwd += t
        first += f1
        for k, v in p.items():
            per[k] += v
    return 3.0 * fwd - first, fwd, dict(per)


# ------------------------------------------------------------------------------------ timing wrappers
class Profile:
    """Exclusive time and call counts per kind, and per product shape."""

    def __init__(self):
        self.time = defaultdict(float)
        self.calls = defaultdict(int)
        self.products = defaultdict(lambda: [0.0, 0, 0.0])    # (M, K, N) -> [seconds, calls, flops]
        self.functions = defaultdict(lambda: [0.0, 0])          # (kind, name) -> [seconds, calls]
        self.tiles = defaultdict(lambda: [0.0, 0, 0.0])       # (op, Co, Ci, pixels) -> [seconds, calls, flops]
        self._stack = []
        self.enabled = False

    def reset(self):
        self.time.clear()
        self.calls.clear()
        self.products.clear()
        self.functions.clear()
        self.tiles.clear()

    def wrap(self, kind, fn, on_call=None, name=None):
        prof = self
        key = (kind, name or getattr(fn, "__name__", kind))

        def timed(*args, **kwargs):
            if not prof.enabled:
                return fn(*args, **kwargs)
            prof._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                inner = prof._stack.pop()
                own = dt - inner
                if prof._stack:
                    prof._stack[-1] += dt
                prof.time[kind] += own
                prof.calls[kind] += 1
                rec = prof.functions[key]
                rec[0] += own
                rec[1] += 1
                if on_call is not None:
                    on_call(own, args)
        timed.__wrapped__ = fn
        timed.__name__ = getattr(fn, "__name__", kind)
        return timed


def _product_shape(args):
    a, b = args[0], args[1]
    if getattr(a, "ndim", 0) == 2 and getattr(b, "ndim", 0) == 2:
        return a.shape[0], a.shape[1], b.shape[1]
    if getattr(a, "ndim", 0) >= 2 and getattr(b, "ndim", 0) >= 1:
        m, k = a.shape[-2], a.shape[-1]
        nn_ = b.shape[-1] if b.ndim >= 2 else 1
        batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2] if b.ndim >= 2 else ())))
        return batch * m, k, nn_
    return None


_KERNEL_KINDS = [
    ("tap gather/scatter", ("gather", "scatter", "tap", "winograd", "wino", "im2col", "col2im")),
    ("upscaler", ("upsample", "fold_symmetric")),
    ("loss", ("mae",)),
    ("optimiser", ("adam",)),
    ("layout/concat", ("swap", "transpose", "layout", "copy", "concat", "pack", "border")),
    ("bias+ReLU", ("relu", "bias", "gain", "channel_sums")),
]


def kernel_kind(name):
    name = name.lower()
    for kind, keys in _KERNEL_KINDS:
        if any(k in name for k in keys):
            return kind
    return "Python/other"


def install(prof):
    """Wrap NumPy calls made by the package's modules, every Numba kernel, the tape's adds and Adam."""
    import numba.core.registry
    import mgbp_classic  # noqa: F401
    import mgbp_classic.net  # noqa: F401
    import mgbp_classic.inference  # noqa: F401

    def on_product(own, args):
        shape = _product_shape(args)
        if shape is not None:
            rec = prof.products[shape]
            rec[0] += own
            rec[1] += 1
            rec[2] += 2.0 * shape[0] * shape[1] * shape[2]

    overrides = {
        "matmul": ("BLAS product", on_product), "dot": ("BLAS product", on_product),
        "empty": ("allocation", None), "zeros": ("allocation", None), "empty_like": ("allocation", None),
        "zeros_like": ("allocation", None), "ones": ("allocation", None), "full": ("allocation", None),
        "concatenate": ("layout/concat", None), "ascontiguousarray": ("layout/concat", None),
        "pad": ("layout/concat", None), "stack": ("layout/concat", None), "copyto": ("layout/concat", None),
    }

    class NumpyProxy(types.ModuleType):
        def __getattr__(self, name):
            return getattr(np, name)

    proxy = NumpyProxy("numpy")
    for name, (kind, cb) in overrides.items():
        setattr(proxy, name, prof.wrap(kind, getattr(np, name), cb, name=f"numpy.{name}"))

    def is_dispatcher(v):
        return isinstance(v, numba.core.registry.CPUDispatcher)

    modules = [m for n, m in list(sys.modules.items()) if n.startswith("mgbp_classic") and m is not None]
    # Modules that define Numba kernels stay untouched (a kernel compiled later must see the real
    # globals); their users get a proxy module whose kernels are wrapped.
    kernel_modules = {id(m) for m in modules if any(is_dispatcher(v) for v in vars(m).values())}
    wrapped = {}

    def wrapped_kernel(attr, val):
        if id(val) not in wrapped:
            wrapped[id(val)] = prof.wrap(kernel_kind(attr), val, name=attr)
        return wrapped[id(val)]

    proxies = {}
    for m in modules:
        if id(m) in kernel_modules:
            continue
        for attr, val in list(vars(m).items()):
            if val is np:
                setattr(m, attr, proxy)
            elif is_dispatcher(val):
                setattr(m, attr, wrapped_kernel(attr, val))
            elif isinstance(val, types.ModuleType) and id(val) in kernel_modules:
                if id(val) not in proxies:
                    kp = types.ModuleType(val.__name__)
                    for a, v in vars(val).items():
                        setattr(kp, a, wrapped_kernel(a, v) if is_dispatcher(v) else v)
                    proxies[id(val)] = kp
                setattr(m, attr, proxies[id(val)])
    # the register-tiled kernels: called from Python only (no kernel calls them), so they are wrapped
    # in their own module (the module itself: ``mgbp_classic.nn.tiles`` is a proxy by now)
    tiles = sys.modules["mgbp_classic.nn.tiles"]

    def on_tile(op):
        def record(own, args):
            if op == "1×1":                                # (x, wp, b_in, b_out, epilogue, y)
                x, y = args[0], args[5]
                px = x.shape[1] - x.shape[1] % (tiles.TILE.lanes * tiles.TILE.vectors)   # its whole tiles
                rec = prof.tiles[("1×1 + ReLUs", y.shape[0], x.shape[0], px)]
                rec[0] += own
                rec[1] += 1
                rec[2] += 2.0 * y.shape[0] * x.shape[0] * px
                return
            if op == "dW":                                 # (dyb, xb, roffs, coffs, acc), both bordered
                dyb, xb, offs = args[0], args[1], args[2]
                co, ci, taps = dyb.shape[0], xb.shape[0], 9
                px = dyb.shape[1] * (dyb.shape[2] - 2) * (dyb.shape[3] - 2)
                strided = offs.max() > 2 * dyb.shape[3]
            else:                                          # (xb, offs, wp, y (+ accumulate)): rows or flat
                xb, offs, y = args[0], args[1], args[3]
                co, ci, taps = y.shape[0], xb.shape[0], offs.size
                px = y.shape[1] * y.shape[2] * y.shape[3] if op == "rows" else \
                    y.shape[1] * (y.shape[2] - 2) * (y.shape[3] - 2)
                strided = offs.max() > 2 * xb.shape[3] + 2
            label = ("3×3 dW" if op == "dW" else f"{taps}-tap {op}") + (" (stride 2)" if strided else "")
            rec = prof.tiles[(label, co, ci, px)]
            rec[0] += own
            rec[1] += 1
            rec[2] += 2.0 * co * ci * taps * px
        return record

    tiles.conv3x3_rows = prof.wrap("tiled product", tiles.conv3x3_rows, on_tile("rows"), name="conv3x3_rows")
    tiles.conv3x3_flat = prof.wrap("tiled product", tiles.conv3x3_flat, on_tile("flat"), name="conv3x3_flat")
    tiles.pointwise_rows = prof.wrap("tiled product", tiles.pointwise_rows, on_tile("1×1"), name="pointwise_rows")
    tiles.conv3x3_wgrad_rows = prof.wrap("tiled product", tiles.conv3x3_wgrad_rows, on_tile("dW"),
                                         name="conv3x3_wgrad_rows")
    for name in ("_to_bordered", "_from_bordered", "_to_phases", "_from_phases"):
        setattr(tiles, name, prof.wrap("layout/concat", getattr(tiles, name), name=name))
    # the tape's tensor additions and gradient accumulation, and the optimiser (wherever they live)
    for m in modules:
        for attr, val in list(vars(m).items()):
            if not isinstance(val, type) or val.__module__ != m.__name__:
                continue
            if attr == "Graph" and hasattr(val, "add"):
                val.add = prof.wrap("tensor add", val.add, name="Graph.add")
            elif attr == "Node" and hasattr(val, "accumulate"):
                val.accumulate = prof.wrap("tensor add", val.accumulate, name="Node.accumulate")
            elif attr == "Adam" and hasattr(val, "step"):
                val.step = prof.wrap("optimiser", val.step, name="Adam.step")


def measure(prof, fn):
    """Run ``fn`` once with the wrappers on: (wall seconds, user CPU, system CPU)."""
    prof.reset()
    prof.enabled = True
    t0, c0 = time.perf_counter(), os.times()
    try:
        fn()
    finally:
        prof.enabled = False
    c1 = os.times()
    return time.perf_counter() - t0, c1.user - c0.user, c1.system - c0.system


def print_breakdown(title, prof, wall, user, system, flops=None, top=8):
    print(f"\n### {title}")
    cores = int(os.environ.get("NUMBA_NUM_THREADS", _THREADS))
    line = (f"wall {wall:.3f} s; CPU user {user:.2f} s + system {system:.2f} s "
            f"= {(user + system) / wall:.2f} of {cores} cores busy, system {system / max(user + system, 1e-9):.0%}")
    if flops:
        line += f"; {flops / 1e9:.1f} GFLOP (layer shapes) at {flops / wall / 1e9:.1f} GFLOP/s"
    print(line)
    timed = sum(prof.time.values())
    times = dict(prof.time)
    times["Python/other"] = times.get("Python/other", 0.0) + max(wall - timed, 0.0)
    print("\n| kind | seconds | share | calls | ms/call |")
    print("|---|---:|---:|---:|---:|")
    for kind in KINDS:
        t, c = times.get(kind, 0.0), prof.calls.get(kind, 0)
        if t == 0 and c == 0:
            continue
        print(f"| {kind} | {t:.3f} | {t / wall:.1%} | {c if c else '—'} | {1e3 * t / c:.3f} |"
              if c else f"| {kind} | {t:.3f} | {t / wall:.1%} | — | — |")
    funcs = sorted(((k, v) for k, v in prof.functions.items() if k[0] not in ("BLAS product", "tiled product")),
                   key=lambda kv: -kv[1][0])
    if funcs:
        print(f"\nthe {min(top, len(funcs))} costliest calls outside BLAS:")
        print("\n| kind | function | calls | seconds | ms/call |")
        print("|---|---|---:|---:|---:|")
        for (kind, name), (t, c) in funcs[:top]:
            print(f"| {kind} | {name} | {c} | {t:.3f} | {1e3 * t / c:.3f} |")
    prods = sorted(prof.products.items(), key=lambda kv: -kv[1][0])
    tot_t = sum(v[0] for _, v in prods)
    tot_f = sum(v[2] for _, v in prods)
    if prods:
        print(f"\nBLAS products: {tot_f / 1e9:.1f} GFLOP in {tot_t:.3f} s = {tot_f / max(tot_t, 1e-9) / 1e9:.1f} GFLOP/s "
              f"over {sum(v[1] for _, v in prods)} calls; the {min(top, len(prods))} costliest shapes:")
        print("\n| M×K @ K×N | calls | seconds | GFLOP/s |")
        print("|---|---:|---:|---:|")
        for (m, k, n), (t, c, f) in prods[:top]:
            print(f"| {m}×{k} @ {k}×{n} | {c} | {t:.3f} | {f / max(t, 1e-9) / 1e9:.1f} |")
        small = [(s, v) for s, v in prods if v[2] / v[1] < 2e7]
        if small:
            st = sum(v[0] for _, v in small)
            sc = sum(v[1] for _, v in small)
            sf = sum(v[2] for _, v in small)
            print(f"| (products under 20 MFLOP each) | {sc} | {st:.3f} | {sf / max(st, 1e-9) / 1e9:.1f} |")
    tls = sorted(prof.tiles.items(), key=lambda kv: -kv[1][0])
    if tls:
        tt, tf = sum(v[0] for _, v in tls), sum(v[2] for _, v in tls)
        print(f"\ntiled products: {tf / 1e9:.1f} GFLOP in {tt:.3f} s = {tf / max(tt, 1e-9) / 1e9:.1f} GFLOP/s "
              f"over {sum(v[1] for _, v in tls)} calls; the {min(top, len(tls))} costliest shapes:")
        print("\n| kernel | Co × Ci × pixels | calls | seconds | GFLOP/s |")
        print("|---|---|---:|---:|---:|")
        for (op, co, ci, px), (t, c, f) in tls[:top]:
            print(f"| {op} | {co} × {ci} × {px} | {c} | {t:.3f} | {f / max(t, 1e-9) / 1e9:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=int(_THREADS))
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--only", choices=("train", "upscale"))
    ap.add_argument("--memory", default=None,
                    help="the upscale cases' memory budget, e.g. 2GiB (default: the CLI's, half the free memory)")
    ap.add_argument("--page-faults", action="store_true",
                    help="leave glibc's default of unmapping freed arrays (the command keeps them mapped)")
    ap.add_argument("--spinning-threads", action="store_true",
                    help="leave OpenMP's default wait policy (idle threads spin; the command lets them sleep)")
    args = ap.parse_args()
    if not args.page_faults:
        from mgbp_classic._heap import retain_freed_memory
        retain_freed_memory()                 # as the mgbp-classic command runs
    if not args.spinning_threads:
        from mgbp_classic._parallel import sleeping_idle_threads
        sleeping_idle_threads()               # as the command runs (before Numba loads OpenMP)

    import numba
    numba.set_num_threads(args.threads)
    from mgbp_classic import nn
    from mgbp_classic.inference import DEFAULT_MARGIN, load_model, upscale_rgb
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.net import MGBPNet, multiscale_loss

    prof = Profile()
    install(prof)
    print(f"threads: {args.threads} (Numba and BLAS); numpy {np.__version__}, numba {numba.__version__}")

    if args.only in (None, "train"):
        net = MGBPNet()
        adam = nn.Adam(net.store, lr=1e-4)
        rng = np.random.default_rng(0)
        batch = 4 if args.quick else 16
        for patch in ((32, 64) if args.quick else (64, 128)):
            pyramid = [rng.random((batch, 3, patch >> j, patch >> j), dtype=np.float32) for j in range(4)]

            def step():
                net.store.zero_grad()
                multiscale_loss(net, pyramid, mu=2, max_levels=3)
                adam.step()

            step()                                                            # compile, warm
            flops, fwd, per = train_step_flops(net.config, batch, patch, mu=2)
            wall, user, system = measure(prof, step)
            print_breakdown(f"training step: batch {batch}, {patch}² patches, loss (7) L=1..3, µ=2, Adam",
                            prof, wall, user, system, flops)
            print("\nforward FLOP by module (sum over L=1..3): " +
                  ", ".join(f"{k} {v / 1e9:.2f} G" for k, v in sorted(per.items(), key=lambda kv: -kv[1])) +
                  f"; step = 3 × forward {fwd / 1e9:.2f} G − the first layers' input gradients")

    if args.only in (None, "upscale"):
        from importlib import resources

        from mgbp_classic._validate import parse_memory
        from mgbp_classic.pipeline.plan import format_bytes, plan_upscale
        from mgbp_classic.pipeline.upscale import get_method
        from mgbp_classic.pipeline.runner import NetRunner
        from mgbp_classic.pipeline.stream import upscale_bands

        net, _ = load_model()
        tiles_fn = NetRunner(mu=2).tile                                        # the CLI's tile function
        sample = read_image(str(resources.files("mgbp_classic").joinpath("assets", "sample_gulls.png")))
        rng = np.random.default_rng(0)
        photo = np.clip(np.kron(rng.random((64, 64, 3)), np.ones((4, 4, 1))), 0, 1)   # 256², smooth blocks
        cases = [("sample", sample, 2), ("sample", sample, 3), ("256² image", photo, 2),
                 ("128² image", photo[:128, :128], 3)]
        if args.quick:
            cases = [("sample crop", sample[:24, :40], 2), ("sample crop", sample[:24, :40], 3)]
        budget = parse_memory(args.memory) if args.memory else None
        ratios = []
        for label, img, levels in cases:
            h, w = img.shape[:2]
            s = 2 ** levels
            plan = plan_upscale(img.shape, method=get_method("net"), levels=levels, output_shape=(h * s, w * s), memory=budget)
            t, m = plan.tile, DEFAULT_MARGIN
            upscale_rgb(net, img[:20, :20], levels=levels, mu=2, tile=None)    # compile, warm
            starts = [(y, x) for y in range(0, h, t) for x in range(0, w, t)]
            px = sum((min(t, h - y) + 2 * m) * (min(t, w - x) + 2 * m) for y, x in starts)
            flops = sum(network_flops(net.config, (1, 3, min(t, h - y) + 2 * m, min(t, w - x) + 2 * m),
                                      levels=levels, mu=2)[0] for y, x in starts)
            wall, user, system = measure(
                prof, lambda: list(upscale_bands(img, tiles_fn, levels=levels, tile=t, margin=m)))
            print_breakdown(f"upscale ×{s} of the {h}×{w} {label}, CLI path (budget "
                            f"{format_bytes(plan.budget)}: {len(starts)} tile(s) of {t}², margin {m}; "
                            f"{px / ((h + 2 * m) * (w + 2 * m)):.2f}× the untiled pixels)",
                            prof, wall, user, system, flops)
            flops_u = network_flops(net.config, (1, 3, h + 2 * m, w + 2 * m), levels=levels, mu=2)[0]
            wall_u, user_u, sys_u = measure(prof, lambda: upscale_rgb(net, img, levels=levels, mu=2, tile=None))
            print_breakdown(f"upscale ×{s} of the {h}×{w} {label}, untiled (one pass, margin {m})",
                            prof, wall_u, user_u, sys_u, flops_u)
            ratios.append((f"{label} {h}×{w} ×{s}", len(starts), t, wall, wall_u))
        print("\n| upscale | tiles | tile | CLI path (s) | untiled (s) | CLI / untiled |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, n, t, a, b in ratios:
            print(f"| {name} | {n} | {t} | {a:.3f} | {b:.3f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
