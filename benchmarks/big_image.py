"""Big photos through the command line: peak memory within the budget, wall time, tiled = untiled.

1. Makes a 2000×1500 "photo" (a Set14 image, or the bundled sample, resized with MATLAB bicubic).
2. Runs ``mgbp-classic upscale --levels 2 --memory 1GiB`` on it in a fresh process (48 MP out, the
   learned network, streamed) and reports its peak resident memory (max RSS of the child) and wall time.
3. Checks tiled = untiled: the network run untiled on a 128×128 crop (around a tile corner) against the
   same pixels of the written output, away from the crop's border (within 1/255 required).
4. Makes a 4000×3000 photo and prints the ``--dry-run`` plan of its ×4 (192 MP out): tiles, memory,
   estimated time.

Usage: python benchmarks/big_image.py [--size 2000x1500] [--memory 1GiB] [--crop 128] [--workdir DIR] [--keep]
(``--size 320x240 --crop 96`` is the same check at a size that runs in minutes on a busy machine.)
Last line: ``peak_rss_gib=<x> wall_s=<t> tiled_vs_untiled_max_levels=<d>``.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from mgbp_classic_cli.main import cli; cli()"]


def make_photo(path, width, height):
    """A photo-like test image of the given size, written as PNG."""
    from mgbp_classic.imaging.io import read_image, write_image
    from mgbp_classic.resize import imresize

    source = ROOT.parent / "shared" / "data" / "test" / "Set14" / "lenna.png"
    if not source.exists():
        source = ROOT / "mgbp_classic" / "assets" / "sample_gulls.png"
    image = read_image(source)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.clip(imresize(image[..., :3], output_shape=(height, width)), 0, 1)
    write_image(path, image)
    return path


def run_fresh(args):
    """Run the CLI in a new process; (wall seconds, peak RSS bytes, output, CPU seconds) of that process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu0 = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    proc = subprocess.run(CLI + args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    if peak < before * 1024:
        peak = before * 1024
    return wall, peak, proc.stdout, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", default="1GiB")
    parser.add_argument("--size", default="2000x1500", help="WxH of the photo upscaled x4")
    parser.add_argument("--crop", type=int, default=128, help="side of the untiled crop (LR pixels)")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="big_image_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        W, H = (int(v) for v in args.size.lower().split("x"))
        photo = make_photo(work / f"photo_{W}x{H}.png", W, H)
        out = work / "photo_x4.png"
        print(f"input {photo} ({W}x{H}), output {out} ({4 * W}x{4 * H}), --memory {args.memory}", flush=True)
        _, _, plan, _ = run_fresh(["upscale", "--levels", "2", "--memory", args.memory, "--dry-run", str(photo),
                                "-o", str(out)])
        print(plan.strip(), flush=True)
        wall, peak, text, cpu = run_fresh(["upscale", "--levels", "2", "--memory", args.memory, str(photo), "-o", str(out)])
        print(text.strip())
        print(f"| run | peak RSS | wall time | CPU time | CPU s per output MP |\n|---|---|---|---|---|\n"
              f"| {W}x{H} x4, --memory {args.memory} | {peak / 2 ** 30:.2f} GiB | {wall:.0f} s | {cpu:.0f} s | "
              f"{cpu / (16 * W * H / 1e6):.0f} |", flush=True)
        print(f"peak RSS under 1.5 GiB: {'yes' if peak < 1.5 * 2 ** 30 else 'NO'}")

        # tiled = untiled on a crop around a tile corner
        from mgbp_classic.inference import load_model, upscale_rgb
        from mgbp_classic.imaging.io import read_image
        from mgbp_classic._validate import parse_memory
        from mgbp_classic.pipeline.plan import plan_upscale
        from mgbp_classic.pipeline.upscale import get_method

        tile = plan_upscale((H, W, 3), method=get_method("net"), levels=2, output_shape=(4 * H, 4 * W),
                            memory=parse_memory(args.memory)).tile
        lr = read_image(photo)
        n, inner = args.crop, args.crop // 4
        cy, cx = max(tile, tile * ((H // 2) // tile)), max(tile, tile * ((W // 2) // tile))   # a tile corner
        y0, x0 = min(max(0, cy - n // 2), H - n), min(max(0, cx - n // 2), W - n)
        net, _ = load_model()
        untiled = upscale_rgb(net, lr[y0:y0 + n, x0:x0 + n], levels=2, mu=2, tile=None)[-1]
        written = read_image(out)[4 * y0:4 * (y0 + n), 4 * x0:4 * (x0 + n)]
        a, b = 4 * inner, 4 * (n - inner)
        diff = np.abs(np.round(untiled[a:b, a:b] * 255) - np.round(written[a:b, a:b] * 255)).max()
        print(f"tiled (tile {tile}) vs untiled on a {n}x{n} crop around the tile corner ({cx}, {cy}), "
              f"{n - 2 * inner}x{n - 2 * inner} centre: max difference {diff:.0f}/255 "
              f"({'within' if diff <= 1 else 'NOT within'} 1/255)", flush=True)

        # the 4000x3000 photo at x4: accepted, planned
        big = make_photo(work / "photo_4000x3000.png", 4000, 3000)
        for memory in ("2GiB", args.memory):
            _, _, plan, _ = run_fresh(["upscale", "--levels", "2", "--memory", memory, "--dry-run", str(big)])
            print(plan.strip())
        print(f"peak_rss_gib={peak / 2 ** 30:.2f} wall_s={wall:.0f} tiled_vs_untiled_max_levels={diff:.0f}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
