"""Speed of the MGBP network: our Numba engine against PyTorch (CPU) and ONNX Runtime on the same weights.

The PyTorch network is built from the *same* Algorithm-1 recursion (mgbp_classic.multigrid) with
torch operators, and loads our parameters, so both compute the same function; the script first
checks that (outputs and gradients), then times them one after the other in this script, with
the same thread count. For inference the same PyTorch twin is also exported with ``torch.onnx`` (one graph per
input size, the recursion unrolled) and run by ONNX Runtime's CPU provider on the same number of
threads; the three outputs must agree within 1e-4.

- one training step: loss (7) forward + backward for batch 16 of 128×128 HR patches, µ = 2;
- inference of a 256×256 image at ×4 and of a 128×128 image at ×8 (µ = 2);
- peak memory (max RSS of a fresh process) of a tiled ×8 output (``--memory-size``² input, default
  144² → 1152², nine 48² tiles: the peak is that of one tile, whatever the image size).

Ratios are peer time / ours (> 1: we are faster); the inference ratios are geometric means over
the two cases. PyTorch runs twice, in the NCHW and in the channels-last memory format (weights and
inputs), and the faster of the two is the peer. ``train_gflops`` is the FLOP count of the training
step, from the layer shapes (``profile_net.train_step_flops``), over our time;
``train_fraction_of_peak`` divides it by this machine's FMA peak, measured first by a kernel of
twelve independent vector FMA chains (:func:`fma_peak`). Ours runs in child processes without
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` (``--pinned-blas`` keeps them): the way a user's machine
runs it. PyTorch, onnx and onnxruntime are used here only (``pip install -e ".[bench]"``); the
package never imports them. Last line: ``train_ratio_vs_torch=<a> infer_ratio_vs_ort=<c>
infer_ratio_vs_torch=<b> train_gflops=<d> train_fraction_of_peak=<e>``.

Every timed case of every peer runs in a process of its own, one after the other (see
:func:`parent`): the best of ``--repeats`` calls after a warm one. Each process keeps freed memory
mapped (:func:`mgbp_classic._heap.retain_freed_memory`), as the ``mgbp-classic`` command does,
PyTorch's included (its CPU tensors come from malloc; ONNX Runtime has its own arena). Ours lets
Numba's idle OpenMP threads sleep (:func:`mgbp_classic._parallel.sleeping_idle_threads`), as the
command does; PyTorch keeps OpenMP's default; ``--spinning-threads`` leaves the default for ours
too.

Usage: python benchmarks/net_speed.py [--threads 2] [--repeats 2] [--quick] [--no-memory] [--spinning-threads]
       [--pinned-blas]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import numpy as np  # noqa: E402

from mgbp_classic._heap import release_freed_memory, retain_freed_memory  # noqa: E402
from mgbp_classic._parallel import sleeping_idle_threads  # noqa: E402
from profile_net import train_step_flops  # noqa: E402  (benchmarks/ is the script's directory)


def torch_network(net, torch, channels_last=False):
    """A PyTorch twin of ``net`` on the same recursion, with tensors copied from its store
    (convolution weights in the channels-last memory format with ``channels_last``)."""
    import torch.nn.functional as F
    from mgbp_classic.multigrid import multigrid

    def leaf(a):
        t = torch.tensor(np.array(a))
        if channels_last and t.ndim == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.requires_grad_(True)

    P = {n: leaf(net.store[n]) for n in net.store.names}
    cfg = net.config

    def brelu(x, b):
        return F.relu(x + b.view(1, -1, 1, 1))

    def dense(x, name):
        h = F.conv2d(brelu(x, P[f"{name}.bias1"]), P[f"{name}.conv1.weight"])
        h = F.conv2d(brelu(h, P[f"{name}.bias2"]), P[f"{name}.conv3.weight"], padding=1)
        return torch.cat([x, h], 1)

    def block(x, name):
        for i in range(cfg.dense_layers):
            x = dense(x, f"{name}.dense{i}")
        return F.conv2d(brelu(x, P[f"{name}.bias"]), P[f"{name}.conv.weight"])

    def analysis(x):
        return block(F.conv2d(x, P["analysis.conv.weight"], padding=1), "analysis.block")

    def synthesis(r):
        r = brelu(block(r, "synthesis.block"), P["synthesis.act.bias"])
        return F.conv2d(r, P["synthesis.conv.weight"], P["synthesis.conv.bias"], padding=1)

    def upscale(x):
        x = brelu(block(x, "upscale.block"), P["upscale.act.bias"])
        return F.conv_transpose2d(x, P["upscale.conv.weight"], stride=2, padding=1, output_padding=1)

    def downscale(u):
        return block(F.conv2d(u, P["downscale.conv.weight"], stride=2, padding=1), "downscale.block")

    def classic(x):
        H, W = int(x.shape[2]), int(x.shape[3])          # plain ints (also while tracing for ONNX)
        iy = torch.tensor(_symmetric_index(H, 2))
        ix = torch.tensor(_symmetric_index(W, 2))
        xp = x[:, :, iy][:, :, :, ix]
        z = F.conv_transpose2d(xp, P["classic.weight"][:, None], stride=2, groups=x.shape[1])
        return z[:, :, 7:7 + 2 * H, 7:7 + 2 * W]

    class Ops:
        def __init__(self):
            self.images, self.up = [], None

        def initial(self, x):
            r0 = analysis(x)
            self.images.append(x + synthesis(r0))
            return r0

        def finish(self, ys):
            if len(self.images) < len(ys):
                self.images.append(self.up + synthesis(ys[-1]))

        def lift(self, ys):
            self.finish(ys)
            self.up = classic(self.images[-1])
            return upscale(torch.cat([ys[-1], downscale(analysis(self.up))], 1))

        def down(self, u):
            return downscale(u)

        def correct(self, u, y, d):
            return u + upscale(torch.cat([y, d], 1))

    def run(x, levels, mu):
        ops = Ops()
        ys = multigrid(x, levels=levels, mu=mu, ops=ops)
        ops.finish(ys)
        return ops.images[1:]

    return run, P


def _symmetric_index(n, pad):
    i = np.arange(-pad, n + pad)
    i = np.where(i < 0, -i - 1, i)
    return np.where(i >= n, 2 * n - 1 - i, i)


def torch_loss(run, pyramid_t, mu, levels=3):
    total = 0.0
    for L in range(1, levels + 1):
        outs = run(pyramid_t[L], L, mu)
        for k, o in enumerate(outs, 1):
            total = total + (o - pyramid_t[L - k]).abs().mean()
    return total


def onnx_session(run, P, torch, x, levels, mu, threads, tmpdir):
    """Export the PyTorch twin for input ``x`` (levels, mu fixed) and open it in ONNX Runtime (CPU).

    The weights ``P`` are traced as constants (the graph's initializers): their ``requires_grad``
    is switched off during the export.
    """
    import onnxruntime as ort

    class Twin(torch.nn.Module):
        def forward(self, inp):
            return tuple(run(inp, levels, mu))

    path = os.path.join(tmpdir, f"mgbp_{x.shape[2]}x{x.shape[3]}_l{levels}.onnx")
    for p in P.values():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            torch.onnx.export(Twin(), (torch.from_numpy(x),), path, input_names=["x"],
                              output_names=[f"x{2 ** k}" for k in range(1, levels + 1)],
                              opset_version=17, dynamo=False)
    finally:
        for p in P.values():
            p.requires_grad_(True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})


def memory_child(levels, size, tile):
    """Run in a fresh process: tiled inference of a size×size image; print max RSS (MiB)."""
    from mgbp_classic.inference import upscale_rgb
    from mgbp_classic.net import MGBPNet
    net = MGBPNet()
    img = np.random.default_rng(0).random((size, size, 3))
    t = time.perf_counter()
    out = upscale_rgb(net, img, levels=levels, mu=2, tile=tile)[-1]
    dt = time.perf_counter() - t
    # VmHWM is this process image's own peak: ru_maxrss would carry the parent's peak across exec
    with open("/proc/self/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    print(json.dumps({"shape": list(out.shape), "max_rss_mib": rss, "seconds": dt}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--pinned-blas", action="store_true",
                    help="run ours with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as this environment sets them "
                         "(default: a child without them, as on a user's machine)")
    ap.add_argument("--memory-size", type=int, default=144, help="input side of the tiled memory run (x8)")
    ap.add_argument("--memory-child", nargs=3, type=int, metavar=("LEVELS", "SIZE", "TILE"))
    ap.add_argument("--spinning-threads", action="store_true",
                    help="leave OpenMP's default wait policy (idle threads spin; the command lets them sleep)")
    ap.add_argument("--phase", choices=("agree", "train", "inference 0", "inference 1"), help=argparse.SUPPRESS)
    ap.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    retain_freed_memory()            # as the mgbp-classic command does (PyTorch's CPU tensors use malloc too)
    if args.memory_child:
        if not args.spinning_threads:
            sleeping_idle_threads()  # as the command does
        memory_child(*args.memory_child)
        return
    if args.phase is None:
        return parent(args)

    torch = None
    if args.peer != "ours":          # the timed "ours" process never loads PyTorch (nor its OpenMP)
        try:
            import torch
        except ImportError:
            if args.peer in ("torch", "torch_cl", "ort"):
                sys.exit("PyTorch is not installed (pip install torch==2.13.0)")
            print("PyTorch not installed: only our timings are printed (pip install torch==2.13.0)")
    if torch is not None:
        import warnings
        torch.set_num_threads(args.threads)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)     # fixed shapes, as intended
    if args.peer == "ours" and not args.spinning_threads:
        sleeping_idle_threads()      # as the command does
    import numba
    numba.set_num_threads(args.threads)
    from mgbp_classic.net import MGBPNet, multiscale_loss

    net = MGBPNet()
    rng = np.random.default_rng(0)
    batch, patch = (4, 64) if args.quick else (16, 128)
    pyramid = [rng.random((batch, 3, patch >> j, patch >> j), dtype=np.float32) for j in range(4)]
    run = P = None
    if torch is not None:
        run, P = torch_network(net, torch, channels_last=args.peer == "torch_cl")
    cl = (lambda t: t.contiguous(memory_format=torch.channels_last)) if args.peer == "torch_cl" else (lambda t: t)
    tmpdir = tempfile.mkdtemp(prefix="mgbp_onnx_")

    def infer_fns(x, levels, peers):
        fns = {}
        if "ours" in peers:
            fns["ours"] = lambda: net.forward(x, levels=levels, mu=2)
        torch_peer = next((p for p in ("torch", "torch_cl") if p in peers), None)
        if torch_peer and torch is not None:
            xt = cl(torch.from_numpy(x))

            def torch_infer():
                with torch.no_grad():
                    return [o.numpy() for o in run(xt, levels, 2)]
            fns[torch_peer] = torch_infer
        if "ort" in peers and torch is not None:
            try:
                fns["ort"] = onnx_session(run, P, torch, x, levels, 2, args.threads, tmpdir)
            except ImportError as exc:
                if args.peer == "ort":
                    sys.exit(f"ONNX Runtime is not installed ({exc}; pip install -e \".[bench]\")")
                print(f"ONNX Runtime peer skipped ({exc}; pip install -e \".[bench]\")")
        return fns

    if args.phase == "agree":
        if torch is not None:
            # --- agreement: outputs and gradients on the same weights
            x = rng.random((1, 3, 24, 20), dtype=np.float32)
            ours = net.forward(x, levels=3, mu=2)
            with torch.no_grad():
                theirs = run(torch.from_numpy(x), 3, 2)
            out_rel = max(float(np.abs(a - b.numpy()).max() / np.abs(b.numpy()).max()) for a, b in zip(ours, theirs))
            small = [p[:2, :, :32 >> j, :32 >> j].copy() for j, p in enumerate(pyramid)]
            net.store.zero_grad()
            loss_ours, _ = multiscale_loss(net, small, mu=2)
            for p in P.values():
                p.grad = None
            loss_t = torch_loss(run, [torch.from_numpy(p) for p in small], 2)
            loss_t.backward()
            grad_rel = grad_l2 = 0.0
            for n in net.store.names:
                a, b = net.store.grad(n), P[n].grad.numpy()
                grad_rel = max(grad_rel, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)))
                grad_l2 = max(grad_l2, float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)))
            # both float32 gradients against the exact (float64) one: which is closer?
            net64 = MGBPNet(dtype=np.float64)
            net64.store.params[...] = net.store.params
            net64.store.zero_grad()
            multiscale_loss(net64, [p.astype(np.float64) for p in small], mu=2)
            g64 = net64.store.grads
            err_ours = float(np.linalg.norm(net.store.grads - g64) / np.linalg.norm(g64))
            g_t = np.concatenate([P[n].grad.numpy().ravel() for n in net.store.names])
            err_torch = float(np.linalg.norm(g_t - g64) / np.linalg.norm(g64))
            print(f"agreement with PyTorch: outputs max rel diff {out_rel:.2e}, loss {loss_ours:.6f} vs "
                  f"{float(loss_t.detach()):.6f}; gradients per tensor: max |diff| / max |g| {grad_rel:.2e}, "
                  f"relative L2 {grad_l2:.2e}; whole gradient vs float64: ours {err_ours:.2e}, PyTorch {err_torch:.2e}")
            if grad_rel > 1e-4:
                print("  (float32 rounding flips a few ReLUs whose input is within rounding of 0; the two libraries "
                      "sum in different orders and flip different ones, which moves single gradient entries)")
        # the outputs of the timed cases, all peers on the same input
        for size, levels, label in infer_cases(args.quick):
            release_freed_memory()
            x = np.random.default_rng(size).random((1, 3, size, size), dtype=np.float32)
            outs = {k: [np.asarray(o) for o in f()] for k, f in infer_fns(x, levels, PEERS).items()}
            for a, b in (("ours", "torch"), ("ours", "ort"), ("torch", "ort")):
                if a in outs and b in outs:
                    d = max(float(np.abs(p - q).max()) for p, q in zip(outs[a], outs[b]))
                    print(f"{label}: max |{a} − {b}| over the {levels} outputs = {d:.1e}"
                          + ("" if d <= 1e-4 else "   ** MORE THAN 1e-4 **"))
            del outs
        print(json.dumps({"peers": ["ours"] + (["torch", "torch_cl", "ort"] if torch is not None else [])}))
        return

    if args.phase == "train":
        if args.peer == "ours":
            def step():
                net.store.zero_grad()
                multiscale_loss(net, pyramid, mu=2)
        else:
            pyr_t = [cl(torch.from_numpy(p)) for p in pyramid]

            def step():
                for p in P.values():
                    p.grad = None
                torch_loss(run, pyr_t, 2).backward()
        fn = step
    else:                            # "inference <case>"
        size, levels, _ = infer_cases(args.quick)[int(args.phase.split()[1])]
        x = np.random.default_rng(size).random((1, 3, size, size), dtype=np.float32)
        fn = infer_fns(x, levels, [args.peer])[args.peer]
    print(json.dumps({"seconds": best_of(fn, args.repeats)}))


PEERS = ("ours", "torch", "torch_cl", "ort")

#: Variables that hold OpenBLAS to a kernel family in this development environment; a user's machine
#: has none, so "ours" runs in a child without them (the parent prints what it removed).
PINNED_BLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def fma_peak(threads, seconds=0.5):
    """This machine's float32 FMA peak (GFLOP/s) over ``threads`` cores: twelve independent chains of
    fused multiply-adds on the widest vectors the host has, written in LLVM IR (no memory traffic)."""
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.extending import intrinsic
    from mgbp_classic.nn.tiles import TILE

    lanes, chains = TILE.lanes, 12
    vt = ir.VectorType(ir.FloatType(), lanes)

    @intrinsic
    def chains_of_fma(typingctx, n):
        def codegen(context, builder, sig, args):
            name = f"llvm.fma.v{lanes}f32"
            fma = builder.module.globals.get(name) or ir.Function(builder.module, ir.FunctionType(vt, [vt] * 3), name=name)
            a = ir.Constant(vt, [0.999999] * lanes)
            b = ir.Constant(vt, [1e-7] * lanes)
            entry = builder.basic_block
            loop = builder.append_basic_block("peak.loop")
            done = builder.append_basic_block("peak.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            i = builder.phi(ir.IntType(64))
            i.add_incoming(ir.Constant(ir.IntType(64), 0), entry)
            accs = [builder.phi(vt) for _ in range(chains)]
            for k, acc in enumerate(accs):
                acc.add_incoming(ir.Constant(vt, [float(k)] * lanes), entry)
            new = [builder.call(fma, [acc, a, b]) for acc in accs]
            nxt = builder.add(i, ir.Constant(ir.IntType(64), 1))
            i.add_incoming(nxt, loop)
            for acc, v in zip(accs, new):
                acc.add_incoming(v, loop)
            builder.cbranch(builder.icmp_signed("<", nxt, args[0]), loop, done)
            builder.position_at_end(done)
            total = new[0]
            for v in new[1:]:
                total = builder.fadd(total, v)
            return builder.extract_element(total, ir.Constant(ir.IntType(32), 0))
        return types.float32(types.int64), codegen

    @njit(parallel=True)
    def run(n, out):
        for t in prange(out.size):
            out[t] = chains_of_fma(n)

    out = np.zeros(threads, np.float32)
    run(1000, out)
    n = 1 << 20
    while True:
        t = time.perf_counter()
        run(n, out)
        dt = time.perf_counter() - t
        if dt > seconds / 4:
            break
        n *= 2
    best = min(_timed(run, n, out) for _ in range(3))
    return threads * n * chains * lanes * 2 / best / 1e9


def _timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def infer_cases(quick):
    """``(size, levels, label)`` of the two inference cases."""
    return [(s, levels, f"{s}x{s} x{2 ** levels}")
            for s, levels in ((64 if quick else 256, 2), (32 if quick else 128, 3))]


def best_of(fn, repeats):
    """Best time of ``repeats`` calls of ``fn`` after a warm call (which compiles and fills the heap)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def child(args, phase, peer=None):
    """Run one phase (and peer) of this script in a fresh process; its output lines are passed on,
    its last line (JSON) is returned."""
    cmd = [sys.executable, __file__, *sys.argv[1:], "--phase", phase] + (["--peer", peer] if peer else [])
    env = None
    if peer == "ours":                                    # as the command runs it (cli/main.py)
        env = {"OPENBLAS_THREAD_TIMEOUT": "4", **os.environ}
        if not args.pinned_blas:                          # as a user's machine runs it
            env = {k: v for k, v in env.items() if k not in PINNED_BLAS}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    last = None
    for line in proc.stdout:
        if last is not None:
            print(last, flush=True)
        last = line.rstrip("\n")
    if proc.wait() != 0 or last is None:
        sys.exit(f"the {phase} phase{' of ' + peer if peer else ''} failed (exit status {proc.returncode})")
    return json.loads(last)


def parent(args):
    """The agreement check, then every timed case of every peer, each in a fresh process; then the table.

    One process per peer and case, one after the other: each peer runs as it would on its own,
    with its own settings (ours as under the command, with sleeping idle OpenMP threads; PyTorch
    with OpenMP's default, spinning ones, which in a shared process took the cores from the other
    peers' calls), and no process carries the heaps that an earlier case left (PyTorch's and our
    batch-16 training steps keep about 13 GiB).
    """
    from mgbp_classic.inference import DEFAULT_TILE
    from mgbp_classic.net import MGBPNet
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "unknown")
    from mgbp_classic.nn.tiles import TILE
    print(f"CPU: {model}; tile shape {TILE.name}; load average at the start: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    pinned = {k: os.environ[k] for k in PINNED_BLAS if k in os.environ}
    if args.pinned_blas:
        print(f"ours runs with this environment's OpenBLAS settings: {pinned or 'none set'}")
    else:
        print(f"ours runs in children without {', '.join(PINNED_BLAS)} (as on a user's machine; "
              f"here they are {pinned or 'not set anyway'}); the peers with this environment")
    peak = fma_peak(args.threads)
    print(f"FMA peak of this machine, {args.threads} threads, {TILE.lanes}-lane vectors: {peak:.0f} GFLOP/s")
    peers = child(args, "agree")["peers"]
    batch, patch = (4, 64) if args.quick else (16, 128)
    flops, _, _ = train_step_flops(MGBPNet().config, batch, patch, mu=2)
    t = {peer: child(args, "train", peer)["seconds"] for peer in peers if peer != "ort"}
    t_ours = t["ours"]
    t_torch = min((t[p] for p in ("torch", "torch_cl") if p in t), default=None)

    def layouts(tt):
        return (f" (NCHW {tt['torch']:.3f}, channels-last {tt['torch_cl']:.3f})"
                if "torch" in tt and "torch_cl" in tt else "")
    rows = [(f"train step, batch {batch}, {patch}² patches, loss (7), µ=2 ({flops / 1e9:.0f} GFLOP){layouts(t)}",
             t_ours, t_torch, None)]
    torch_ratios, ort_ratios = [], []
    for i, (_, _, label) in enumerate(infer_cases(args.quick)):
        t = {peer: child(args, f"inference {i}", peer)["seconds"] for peer in peers}
        best_torch = min((t[p] for p in ("torch", "torch_cl") if p in t), default=None)
        if best_torch is not None:
            torch_ratios.append(best_torch / t["ours"])
        if "ort" in t:
            ort_ratios.append(t["ort"] / t["ours"])
        rows.append((f"inference {label}, µ=2{layouts(t)}", t["ours"], best_torch, t.get("ort")))
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    def cell(v, ref=None):
        if v is None:
            return "—"
        return f"{v:.3f}" if ref is None else f"{v / ref:.2f}"

    print()
    print(f"threads: {args.threads}")
    print("| case | ours (s) | PyTorch, faster layout (s) | ONNX Runtime (s) | PyTorch / ours | ORT / ours |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, a, b, c in rows:
        print(f"| {label} | {a:.3f} | {cell(b)} | {cell(c)} | {cell(b, a)} | {cell(c, a)} |")

    if not args.no_memory:
        size = 64 if args.quick else args.memory_size
        res = subprocess.run([sys.executable, __file__, "--memory-child", "3", str(size), str(DEFAULT_TILE)],
                             capture_output=True, text=True, env={**os.environ, "NUMBA_NUM_THREADS": str(args.threads)})
        if res.returncode == 0:
            info = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"\ntiled inference {size}² → {info['shape'][0]}×{info['shape'][1]} (tile {DEFAULT_TILE}, margin 16): "
                  f"peak RSS {info['max_rss_mib']:.0f} MiB, {info['seconds']:.0f} s")
        else:
            print("memory run failed:", res.stderr.strip().splitlines()[-1:])

    def gmean(r):
        return float(np.exp(np.mean(np.log(r)))) if r else float("nan")

    train_ratio = (t_torch / t_ours) if t_torch else float("nan")
    gflops = flops / t_ours / 1e9
    print(f"train_ratio_vs_torch={train_ratio:.3f} infer_ratio_vs_ort={gmean(ort_ratios):.3f} "
          f"infer_ratio_vs_torch={gmean(torch_ratios):.3f} train_gflops={gflops:.1f} "
          f"train_fraction_of_peak={gflops / peak:.3f}")


if __name__ == "__main__":
    main()
