"""Speed of the hand-written network engine (mgbp_classic.nn) against PyTorch on the CPU.

Every layer on the network's real shapes (batch 16), a whole FilterBlock(48) and FilterBlock(96):
forward and forward+backward times, GFLOP/s, and -- side by side in the same run, with the same
weights and the same number of threads -- PyTorch's times, the ratio (PyTorch time / ours, > 1
means we are faster) and the largest difference of outputs and gradients from PyTorch (relative to
the largest PyTorch value: "out diff" for the output, "grad diff" for the input and parameter
gradients, "grad L2" the same with ||ours - torch|| / ||torch||). The last two columns give each
float32 result's gradient error against PyTorch in float64 on the same weights and inputs (the
exact answer to ~1e-15), which says whose rounding a difference comes from. PyTorch is optional: without it those columns are skipped.

Times are the minimum over ``--repeat`` interleaved runs (ours, PyTorch, ours, ...), which is the
most stable statistic on a shared machine. The last line is

    filterblock_ratio_vs_torch=<x> filterblock_gflops=<y>

for FilterBlock(48), batch 16, 64×64, forward+backward.

Usage: python benchmarks/nn_speed.py [--threads 2] [--repeat 5] [--quick]
"""
import argparse
import os
import sys
import time

_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, _THREADS)

import numba  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic import nn  # noqa: E402
from mgbp_classic._parallel import sleeping_idle_threads  # noqa: E402

sleeping_idle_threads()          # as the mgbp-classic command runs (before PyTorch or Numba load OpenMP)

try:  # PyTorch is for this benchmark only, never a dependency of the package
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None


# ---------------------------------------------------------------------------------------- cases
class Case:
    """One benchmarked layer: our forward/backward and (optionally) PyTorch's on the same weights."""

    def __init__(self, label, shape, flops_fwd, build):
        self.label, self.shape, self.flops_fwd = label, shape, flops_fwd
        self.build = build


def conv_flops(n, ci, co, k, ho, wo):
    return 2.0 * n * ci * co * k * k * ho * wo


def fb_flops(n, c, h, w, growth=16, bottleneck=64, layers=3):
    f = 0.0
    for i in range(layers):
        ci = c + i * growth
        f += conv_flops(n, ci, bottleneck, 1, h, w) + conv_flops(n, bottleneck, growth, 3, h, w)
    return f + conv_flops(n, c + layers * growth, c, 1, h, w)


def _t(a, grad=False):
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.requires_grad_(grad)


def make_module_case(label, make_ours, xshape, flops, torch_fn, seed=0):
    """A case for a module of mgbp_classic.nn and a PyTorch function of (x, params dict)."""

    def build():
        store = nn.ParamStore(seed=seed)
        mod = make_ours(store)
        store.finalize()
        rng = np.random.default_rng(seed)
        store.params[...] += (0.05 * rng.standard_normal(store.size)).astype(np.float32)   # non-zero biases
        x = rng.standard_normal(xshape).astype(np.float32)
        y0, _ = mod.forward(x)
        dy = rng.standard_normal(y0.shape).astype(np.float32)

        def ours_fwd():
            return mod.forward(x)

        def ours_fb():
            store.zero_grad()
            y, cache = mod.forward(x)
            dx = mod.backward(dy, cache)
            return y, dx

        def ours_result():
            y, dx = ours_fb()
            return [y, dx] + [store.grad(n).copy() for n in store.names]

        def relu_flips():
            """ReLU decisions of our float32 forward that differ from the same forward in float64."""
            s64 = nn.ParamStore(seed=seed, dtype=np.float64)
            m64 = make_ours(s64)
            s64.finalize()
            s64.params[...] = store.params
            e32, e64 = nn.Engine(), nn.Engine()
            with e32.record() as t32:
                mod.forward(x, engine=e32)
            with e64.record() as t64:
                m64.forward(x.astype(np.float64), engine=e64)
            return sum(int((a != b).sum()) for a, b in zip(t32, t64)), sum(a.size for a in t32)

        ours_result.relu_flips = relu_flips

        if torch is None or torch_fn is None:
            return ours_fwd, ours_fb, None, None, ours_result, None, None
        tp = {n: _t(store[n], True) for n in store.names}
        tx = _t(x, True)
        tdy = _t(dy)

        def torch64_result():
            p64 = {n: _t(store[n].astype(np.float64), True) for n in store.names}
            x64 = _t(x.astype(np.float64), True)
            y = torch_fn(x64, p64)
            y.backward(_t(dy.astype(np.float64)))
            return [y.detach().numpy(), x64.grad.numpy()] + [p64[n].grad.numpy() for n in store.names]

        def torch_fwd():
            with torch.no_grad():
                return torch_fn(tx, tp)

        def torch_fb():
            for p in list(tp.values()) + [tx]:
                p.grad = None
            y = torch_fn(tx, tp)
            y.backward(tdy)
            return y

        def torch_result():
            y = torch_fb()
            return [y.detach().numpy(), tx.grad.numpy()] + [tp[n].grad.numpy() for n in store.names]

        return ours_fwd, ours_fb, torch_fwd, torch_fb, ours_result, torch_result, torch64_result

    return Case(label, xshape, flops, build)


def torch_dense(x, p, name):
    a1 = torch.relu(x + p[name + ".bias1"][None, :, None, None])
    z = F.conv2d(a1, p[name + ".conv1.weight"])
    a2 = torch.relu(z + p[name + ".bias2"][None, :, None, None])
    return torch.cat([x, F.conv2d(a2, p[name + ".conv3.weight"], padding=1)], 1)


def torch_fb(x, p, name, layers=3):
    h = x
    for i in range(layers):
        h = torch_dense(h, p, f"{name}.dense{i}")
    return F.conv2d(torch.relu(h + p[name + ".bias"][None, :, None, None]), p[name + ".conv.weight"])


def torch_upsample2x(x, p, name="up"):
    """Symmetric pad 2 ('reflect' in scipy.ndimage terms), depthwise stride-2 transposed conv, crop 7."""
    c = x.shape[1]
    xp = torch.cat([x[:, :, 1:2], x[:, :, 0:1], x, x[:, :, -1:], x[:, :, -2:-1]], 2)
    xp = torch.cat([xp[:, :, :, 1:2], xp[:, :, :, 0:1], xp, xp[:, :, :, -1:], xp[:, :, :, -2:-1]], 3)
    z = F.conv_transpose2d(xp, p[name + ".weight"][:, None], stride=2, groups=c)
    h, w = x.shape[2], x.shape[3]
    return z[:, :, 7:7 + 2 * h, 7:7 + 2 * w]


def cases(quick):
    n = 16
    s = 32 if quick else 64          # the "64×64" level (128 → 64 for the strided conv)
    out = [
        make_module_case("conv3x3 3->48 (analysis)", lambda st: nn.Conv2d(st, "c", 3, 48, 3), (n, 3, 2 * s, 2 * s),
                         conv_flops(n, 3, 48, 3, 2 * s, 2 * s),
                         lambda x, p: F.conv2d(x, p["c.weight"], padding=1)),
        make_module_case("conv3x3 48->3 +b (synthesis)", lambda st: nn.Conv2d(st, "c", 48, 3, 3, bias=True),
                         (n, 48, 2 * s, 2 * s), conv_flops(n, 48, 3, 3, 2 * s, 2 * s),
                         lambda x, p: F.conv2d(x, p["c.weight"], p["c.bias"], padding=1)),
        make_module_case("conv3x3/2 48->48 (downscale)", lambda st: nn.Conv2d(st, "c", 48, 48, 3, stride=2),
                         (n, 48, 2 * s, 2 * s), conv_flops(n, 48, 48, 3, s, s),
                         lambda x, p: F.conv2d(x, p["c.weight"], stride=2, padding=1)),
        make_module_case("convT3x3/2 96->48 (upscale)", lambda st: nn.ConvTranspose2d(st, "t", 96, 48, 3),
                         (n, 96, s // 2, s // 2), conv_flops(n, 48, 96, 3, s // 2, s // 2),
                         lambda x, p: F.conv_transpose2d(x, p["t.weight"], stride=2, padding=1, output_padding=1)),
        make_module_case("conv1x1 96->48", lambda st: nn.Conv2d(st, "c", 96, 48, 1), (n, 96, s, s),
                         conv_flops(n, 96, 48, 1, s, s), lambda x, p: F.conv2d(x, p["c.weight"])),
        make_module_case("conv3x3 64->16 (dense)", lambda st: nn.Conv2d(st, "c", 64, 16, 3), (n, 64, s, s),
                         conv_flops(n, 64, 16, 3, s, s), lambda x, p: F.conv2d(x, p["c.weight"], padding=1)),
        make_module_case("bias+relu 48", lambda st: nn.BiasReLU(st, "r", 48), (n, 48, s, s), 0.0,
                         lambda x, p: torch.relu(x + p["r.bias"][None, :, None, None])),
        make_module_case("upsample2x 3 (classic)", lambda st: nn.Upsample2x(st, "up", 3), (n, 3, s, s),
                         2.0 * 16 * n * 3 * 4 * s * s, torch_upsample2x),
        make_module_case("DenseLayer(48)", lambda st: nn.DenseLayer(st, "d", 48), (n, 48, s, s),
                         conv_flops(n, 48, 64, 1, s, s) + conv_flops(n, 64, 16, 3, s, s),
                         lambda x, p: torch_dense(x, p, "d")),
    ]
    sizes = [(48, s // 2), (48, s), (96, s // 2), (96, s)] if not quick else [(48, s), (96, s)]
    if not quick:
        sizes.append((48, 2 * s))
    for c, sz in sizes:
        out.append(make_module_case(f"FilterBlock({c})", lambda st, c=c: nn.FilterBlock(st, "fb", c),
                                    (n, c, sz, sz), fb_flops(n, c, sz, sz),
                                    lambda x, p: torch_fb(x, p, "fb")))
    return out


# ---------------------------------------------------------------------------------------- timing
def best_times(fns, repeat):
    """Minimum wall time of each function over ``repeat`` interleaved rounds (after one warm-up)."""
    for f in fns:
        f()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def max_rel_diff(ours, theirs):
    """Largest over the output and every gradient of ``max |a - b| / max |b|`` (max norm)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(np.abs(b).max(), 1e-30)
        worst = max(worst, float(np.abs(a - b).max() / scale))
    return worst


def l2_rel_diff(ours, theirs):
    """Largest over the output and every gradient of ``||a - b|| / ||b||`` (Frobenius norm)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        worst = max(worst, float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)))
    return worst


COLD_START = """
import time
t0 = time.perf_counter()
import numpy as np
from mgbp_classic import nn
t1 = time.perf_counter()
store = nn.ParamStore(seed=0)
fb = nn.FilterBlock(store, "fb", 48)
up = nn.Upsample2x(store, "up", 3)
cv = nn.Conv2d(store, "c", 48, 48, 3, stride=2)
ct = nn.ConvTranspose2d(store, "t", 48, 48, 3)
store.finalize()
x = np.random.default_rng(0).standard_normal((2, 48, 64, 64)).astype(np.float32)
def once():
    y, c = fb.forward(x); fb.backward(y, c)
    y, c = cv.forward(x); cv.backward(y, c)
    y, c = ct.forward(x[:, :, :16, :16]); ct.backward(y, c)
    y, c = up.forward(x[:, :3]); up.backward(y, c)
t2 = time.perf_counter(); once(); t3 = time.perf_counter(); once(); t4 = time.perf_counter()
print(f"{t1 - t0:.2f} {t3 - t2:.2f} {t4 - t3:.2f}")
"""


def cold_start():
    """Import time and first-call time in a fresh process (Numba cache warm) against a second call."""
    import subprocess
    subprocess.run([sys.executable, "-c", COLD_START], check=True, capture_output=True)   # warm the cache
    out = subprocess.run([sys.executable, "-c", COLD_START], check=True, capture_output=True, text=True)
    imp, first, second = (float(v) for v in out.stdout.split())
    return imp, first, second


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller images (a smoke run)")
    args = ap.parse_args(argv)
    numba.set_num_threads(args.threads)
    have_torch = torch is not None
    if have_torch:
        torch.set_num_threads(args.threads)
    print(f"threads={args.threads} numba={numba.__version__} numpy={np.__version__} "
          f"torch={torch.__version__ if have_torch else 'absent'} repeat={args.repeat} (min of interleaved runs)")
    hdr = (f"{'layer':30s} {'input shape':18s} {'fwd ms':>8s} {'f+b ms':>8s} {'GFLOP/s':>8s}"
           + (f" {'torch fwd':>9s} {'torch f+b':>9s} {'ratio fwd':>9s} {'ratio f+b':>9s}"
              + f" {'out diff':>9s} {'grad diff':>9s} {'grad L2':>9s} {'ours err':>9s} {'torch err':>9s}"
              if have_torch else ""))
    print(hdr)
    print("-" * len(hdr))
    final = None
    notes = []
    for case in cases(args.quick):
        ours_fwd, ours_fb, t_fwd, t_fb, ours_res, t_res, t_res64 = case.build()
        if have_torch and t_fwd is not None:
            of, ob, tf, tb = best_times([ours_fwd, ours_fb, t_fwd, t_fb], args.repeat)
            mine, theirs, exact = ours_res(), t_res(), t_res64()
            dout = max_rel_diff(mine[:1], theirs[:1])
            diff, l2 = max_rel_diff(mine[1:], theirs[1:]), l2_rel_diff(mine[1:], theirs[1:])
            err_ours, err_torch = max_rel_diff(mine[1:], exact[1:]), max_rel_diff(theirs[1:], exact[1:])
        else:
            of, ob = best_times([ours_fwd, ours_fb], args.repeat)
            tf = tb = diff = None
        gflops = 3 * case.flops_fwd / ob / 1e9 if case.flops_fwd else float("nan")
        line = (f"{case.label:30s} {str(case.shape):18s} {of * 1e3:8.1f} {ob * 1e3:8.1f} "
                f"{gflops:8.1f}")
        if tf is not None:
            line += (f" {tf * 1e3:9.1f} {tb * 1e3:9.1f} {tf / of:9.2f} {tb / ob:9.2f} {dout:9.1e}"
                     f" {diff:9.1e} {l2:9.1e} {err_ours:9.1e} {err_torch:9.1e}")
            if diff > 1e-4:
                flips, total = ours_res.relu_flips()
                notes.append(f"{case.label} {case.shape}: gradient max-norm difference {diff:.1e} (L2 {l2:.1e}) "
                             f"with outputs equal to {dout:.1e}: gradients jump where a ReLU input lies within "
                             f"float32 rounding of 0 and the two float32 passes, summing in different orders, "
                             f"decide differently. Against float64: ours {err_ours:.1e} ({flips} of {total} "
                             f"ReLU decisions differ), PyTorch {err_torch:.1e}.")
        print(line, flush=True)
        if case.label == "FilterBlock(48)" and case.shape[2] == (32 if args.quick else 64):
            final = (tb / ob if tb is not None else float("nan"), gflops)
    for note in notes:
        print("note:", note)
    imp, first, second = cold_start()
    print(f"cold start (new process, warm Numba cache): import {imp:.2f} s; first FilterBlock(48) + strided conv"
          f" + transposed conv + upscaler forward+backward (batch 2) {first:.2f} s, second {second:.2f} s"
          f" -> {first - second:.2f} s of loading")
    ratio, gflops = final
    print(f"filterblock_ratio_vs_torch={ratio:.2f} filterblock_gflops={gflops:.1f}")


if __name__ == "__main__":
    main()
