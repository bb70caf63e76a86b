"""Deep filter visualisation: exactness of Theorem 1 on Set5 at ×4 and the cost of a row of F.

Three tables, measured in one run (the figure command first, in a fresh process, so that the
memory of the other two does not add to its own):

1. The whole-figure command ``mgbp-classic visualize`` for 8 pixels of one Set14 image (its
   protocol LR image, bicubic ×1/4) at ×4, timed as a separate process.
2. Exactness (float32, µ = 2, ×4, reflection margin 16 as inference uses): for every Set5 image,
   ``‖F X + R − net(X)‖∞`` over the whole output, with ``F X`` (the bias-free frozen pass) and
   ``R`` (the frozen pass on a black image) computed separately from ``net(X)``; and at a few
   pixels from their rows (one backward pass each): ``|⟨row, X⟩ + R − net(X)|`` of the output luma.
3. Cost on that Set14 image: one forward pass of the network, the forward pass that records the
   gains (with the graph the rows need), the residual R (one frozen pass), one row (one windowed
   backward pass), the same row by the full backward pass of the frozen network (without the
   once-per-image recording of its caches), and the ratio row / forward.

Last line: ``max_abs_error=<x> row_cost_ratio=<y>`` (the largest error of table 2; row cost over
forward cost from table 3).

Usage: python benchmarks/deepfilter.py [--model PATH] [--image baboon] [--quick] [--no-figure]
(``--quick``: 40×40 LR crops, for trying the script out).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mgbp_classic.deepfilter import DeepFilter
from mgbp_classic.inference import DEFAULT_MARGIN, default_model_path, load_model
from mgbp_classic.imaging.io import read_image
from mgbp_classic.metrics import make_lr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test"
LEVELS, MU = 2, 2


def spread_pixels(shape, count, seed=0):
    """``count`` output pixels spread over the image (a jittered grid, fixed seed), as (y, x)."""
    h, w = shape
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(count * w / h)))
    rows = int(np.ceil(count / cols))
    ys = ((np.arange(rows) + 0.5) / rows * h).astype(int)
    xs = ((np.arange(cols) + 0.5) / cols * w).astype(int)
    grid = [(y, x) for y in ys for x in xs][:count]
    return [(int(min(h - 1, max(0, y + rng.integers(-3, 4)))), int(min(w - 1, max(0, x + rng.integers(-3, 4)))))
            for y, x in grid]


def lr_of(path, quick):
    hr = read_image(path)
    if hr.ndim == 2:
        hr = np.repeat(hr[:, :, None], 3, axis=2)
    lr = make_lr(hr, 2 ** LEVELS)
    if quick:
        h, w = lr.shape[:2]
        lr = lr[(h - 40) // 2:(h - 40) // 2 + 40, (w - 40) // 2:(w - 40) // 2 + 40]
    return lr


def exactness(net, quick):
    print(f"## 2. Theorem 1 on Set5, x{2 ** LEVELS}, mu = {MU}, float32, margin {DEFAULT_MARGIN}\n")
    print("| image | LR size | max abs(F X + R - net(X)), whole output | max abs at 3 pixels (rows) "
          "| max abs(R) | time |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for path in sorted((DATA / "Set5").glob("*.png")):
        lr = lr_of(path, quick)
        t = time.perf_counter()
        df = DeepFilter(net, lr, levels=LEVELS, mu=MU)
        pixels = spread_pixels(df.output_shape, 3, seed=1)
        rows = df.pixel_errors(pixels, df.filters(pixels)).max()      # also gives R (module notes)
        whole = df.max_error()
        dt = time.perf_counter() - t
        worst = max(worst, whole, rows)
        print(f"| {path.stem} | {lr.shape[1]}x{lr.shape[0]} | {whole:.2e} | {rows:.2e} "
              f"| {np.abs(df.residual).max():.3f} | {dt:.0f} s |", flush=True)
        del df
    print()
    return worst


def cost(net, path, quick):
    lr = lr_of(path, quick)
    m = DEFAULT_MARGIN
    padded = np.pad(lr, ((m, m), (m, m), (0, 0)), mode="symmetric")
    x = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
    print(f"## 3. Cost on {path.name} at x{2 ** LEVELS} (LR {lr.shape[1]}x{lr.shape[0]}, "
          f"{padded.shape[1]}x{padded.shape[0]} with the margin), mu = {MU}\n")
    net.forward(x[:, :, :24, :24], levels=LEVELS, mu=MU)           # warm up (JIT caches)
    t = time.perf_counter()
    net.forward(x, levels=LEVELS, mu=MU)
    forward = time.perf_counter() - t
    t = time.perf_counter()
    df = DeepFilter(net, lr, levels=LEVELS, mu=MU)
    record = time.perf_counter() - t
    t = time.perf_counter()
    df.residual
    residual = time.perf_counter() - t
    pixels = spread_pixels(df.output_shape, 3, seed=2)
    times = []
    for p in pixels:
        t = time.perf_counter()
        df.filters([p])
        times.append(time.perf_counter() - t)
    row = float(np.median(times))
    df.frozen._ensure_graph()                                       # the full pass's caches (once per image)
    t = time.perf_counter()
    df.frozen.rows([pixels[0]], weights=[0.299, 0.587, 0.114], method="full")
    full = time.perf_counter() - t
    print("| step | time | / forward |")
    print("|---|---|---|")
    for name, value in [("forward pass net(X)", forward),
                        ("forward pass recording the gains (and the row graph: gains and shapes only)", record),
                        ("effective residual R (one frozen pass on X = 0)", residual),
                        ("one row of F, windowed backward pass (median of 3)", row),
                        ("one row of F, full backward pass of the frozen network (reference)", full)]:
        print(f"| {name} | {value:.2f} s | {value / forward:.2f} |")
    print(f"\npeak memory of this process so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB\n")
    return row / forward


def figure(model, path, quick):
    lr = lr_of(path, quick)
    s = 2 ** LEVELS
    pixels = spread_pixels((lr.shape[0] * s, lr.shape[1] * s), 8, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        from mgbp_classic.imaging.io import write_image
        args_img = Path(tmp) / f"{path.stem}_lr.png"             # the protocol's LR image (x1/4 bicubic)
        write_image(args_img, lr)
        cmd = [str(Path(sys.executable).parent / "mgbp-classic"), "visualize", "--levels", str(LEVELS), "--mu", str(MU),
               *sum((["--pixel", f"{x},{y}"] for y, x in pixels), []), "--model", str(model), str(args_img),
               "-o", str(Path(tmp) / "fig.png")]
        t = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t
    print(f"## 1. Whole-figure command, 8 pixels of {path.name} (LR {lr.shape[1]}x{lr.shape[0]}) at x{s}\n")
    print(f"`mgbp-classic visualize --levels {LEVELS} --mu {MU} --pixel X,Y (x8) {path.stem}_lr.png -o fig.png`: "
          f"{dt:.1f} s (exit status {done.returncode})")
    print(f"output: {done.stdout.strip() or done.stderr.strip()[-300:]}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the shipped pretrained model)")
    parser.add_argument("--image", default="baboon", help="Set14 image for the cost and figure tables")
    parser.add_argument("--quick", action="store_true", help="40x40 LR crops")
    parser.add_argument("--no-figure", action="store_true", help="skip the whole-figure command")
    parser.add_argument("--no-exactness", action="store_true", help="skip table 1")
    args = parser.parse_args()
    model = args.model or default_model_path()
    net, meta = load_model(model)
    print(f"model: {model} ({meta.get('steps', '?')} training steps); load average at start "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    path = DATA / "Set14" / f"{args.image}.png"
    if not args.no_figure:
        figure(model, path, args.quick)
    worst = float("nan") if args.no_exactness else exactness(net, args.quick)
    ratio = cost(net, path, args.quick)
    print(f"max_abs_error={worst:.3g} row_cost_ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
