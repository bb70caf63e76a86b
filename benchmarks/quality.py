"""PSNR/SSIM and run time of the upscaling methods on Set5, Set14 and BSD100 under the standard protocol.

Prints Markdown tables (one row per set and scale, one column per method) and, last, whether every
back-projection method beats bicubic everywhere::

    python benchmarks/quality.py                                   # everything (BSD100 takes minutes)
    python benchmarks/quality.py --sets Set5 --scales 4            # a quick look
    python benchmarks/quality.py --methods bicubic,mgbp:mu=2,net   # choose the methods

A method is ``name`` or ``name:key=value+...`` with keys ``mu`` and ``iterations`` (``ibp:iterations=40``,
``mgbp:mu=1+iterations=2``), and ``tile`` for ``net`` (the LR tile side of tiled inference, ``0`` for
the whole image at once: ``net:tile=0`` is about three times faster than the default 48-pixel tiles on
BSD100 and, rounded to 8 bits as the protocol does, gives the same scores);
``net`` is added to the default list when the learned network is registered. The protocol is the one of
``../shared/data/README.md`` (``mgbp_classic.pipeline.upscale.evaluate_image``).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mgbp_classic.pipeline import upscale as up
from mgbp_classic.imaging.io import read_image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test"
SETS = ("Set5", "Set14", "BSD100")
SCALES = (2, 4, 8)
DEFAULT_METHODS = ("bicubic", "ibp", "mgbp:mu=1", "mgbp:mu=2")

# ../shared/data/README.md, bicubic under the standard protocol (for the check column)
PUBLISHED_BICUBIC = {("Set5", 2): (33.66, 0.930), ("Set5", 4): (28.42, 0.810), ("Set5", 8): (24.40, 0.658),
                     ("Set14", 2): (30.22, 0.868), ("Set14", 4): (25.99, 0.702), ("Set14", 8): (23.09, 0.563),
                     ("BSD100", 2): (29.55, 0.843), ("BSD100", 4): (25.96, 0.667),
                     ("BSD100", 8): (23.67, 0.544)}


def net_available():
    """Whether the learned network is registered and its default model loads."""
    if "net" not in up.available_methods():
        return False
    try:
        up.upscale(np.full((8, 8, 3), 0.5), levels=1, method="net")
    except Exception as exc:                      # e.g. ModelFileError: no trained model yet
        print(f"net is registered but not usable, left out: {exc}", file=sys.stderr)
        return False
    return True


def parse_method(text):
    """``"mgbp:mu=1,iterations=2"`` -> ``("mgbp:mu=1,iterations=2", "mgbp", {"mu": 1, "iterations": 2})``."""
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in ("mu", "iterations", "tile") or not value.isdigit() or (key == "tile" and name != "net"):
            raise SystemExit(f"error: method option must be mu=<int>, iterations=<int> or (net) tile=<int>, "
                             f"got {item!r} in {text!r}")
        options[key] = None if (key, int(value)) == ("tile", 0) else int(value)
    if name not in up.available_methods():
        raise SystemExit(f"error: method must be one of {', '.join(up.available_methods())}, got {name!r}")
    return text, name, options


def label(spec):
    text, name, options = spec
    parts = [f"µ={options['mu']}"] if "mu" in options else []
    if "tile" in options:
        parts.append(f"tile {options['tile']}" if options["tile"] else "whole image")
    its = options.get("iterations", up.default_iterations(name))
    if its is not None:
        parts.append(f"{its} it")
    return name + (f" ({', '.join(parts)})" if parts else "")


def run(sets, scales, specs, *, data=DATA, limit=None):
    """``results[(set, scale, method_text)] = (mean psnr, mean ssim, total seconds, n images)``."""
    results = {}
    images = {}
    for name in sets:
        files = sorted(p for p in (data / name).iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
        images[name] = [read_image(p) for p in files[:limit]]
    for name in sets:
        for scale in scales:
            for text, method, options in specs:
                start = time.perf_counter()
                scores = [up.evaluate_image(hr, scale=scale, method=method, **options) for hr in images[name]]
                results[name, scale, text] = (float(np.mean([s["psnr"] for s in scores])),
                                              float(np.mean([s["ssim"] for s in scores])),
                                              float(sum(s["seconds"] for s in scores)), len(scores))
                print(f"  {name:7s} x{scale} {text:24s} {results[name, scale, text][0]:6.2f} dB "
                      f"{results[name, scale, text][1]:.4f}  ({time.perf_counter() - start:.1f} s)",
                      file=sys.stderr, flush=True)
    return results


def tables(results, sets, scales, specs):
    """The quality table (PSNR / SSIM), the run-time table, and the summary lines."""
    heads = [label(s) for s in specs]
    lines = ["| set | scale | " + " | ".join(heads) + " |",
             "|---|---|" + "---|" * len(specs)]
    for name in sets:
        for scale in scales:
            cells = []
            for text, _, _ in specs:
                p, q, _, _ = results[name, scale, text]
                cells.append(f"{p:.2f} / {q:.4f}")
            lines.append(f"| {name} | ×{scale} | " + " | ".join(cells) + " |")
    lines += ["", "Run time of the method alone (seconds, whole set; LR→SR, one process, this machine):", "",
              "| set | scale | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(specs)]
    for name in sets:
        for scale in scales:
            cells = [f"{results[name, scale, t][2]:.2f}" for t, _, _ in specs]
            lines.append(f"| {name} | ×{scale} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(results, sets, scales, specs):
    """Lines checking that every non-bicubic method beats bicubic in PSNR and SSIM on every set and
    scale, and bicubic against the published table."""
    base = next((t for t, m, _ in specs if m == "bicubic"), None)
    if base is None:
        return []
    out, beats = [], True
    for text, method, _ in specs:
        if method == "bicubic":
            continue
        dp = min(results[n, s, text][0] - results[n, s, base][0] for n in sets for s in scales)
        dq = min(results[n, s, text][1] - results[n, s, base][1] for n in sets for s in scales)
        ok = dp > 0 and dq > 0
        beats &= ok
        out.append(f"{label((text, method, _))}: smallest gain over bicubic {dp:+.2f} dB PSNR, {dq:+.4f} SSIM"
                   f" -> {'beats' if ok else 'does NOT beat'} bicubic everywhere")
    published = [abs(results[n, s, base][0] - PUBLISHED_BICUBIC[n, s][0])
                 for n in sets for s in scales if (n, s) in PUBLISHED_BICUBIC]
    if published:
        out.append(f"bicubic against ../shared/data/README.md: max |ΔPSNR| = {max(published):.3f} dB")
    out.append(f"all_beat_bicubic={beats}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, from Set5, Set14, BSD100")
    parser.add_argument("--scales", default=",".join(map(str, SCALES)), help="comma-separated powers of two")
    parser.add_argument("--methods", default=None,
                        help="comma-separated; options after ':' separated by '+', e.g. mgbp:mu=1+iterations=2 "
                             f"(default: {', '.join(DEFAULT_METHODS)}, and net when registered)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per set")
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding Set5/, Set14/, BSD100/")
    args = parser.parse_args(argv)
    sets = [s for s in args.sets.split(",") if s]
    scales = [int(s) for s in args.scales.split(",") if s]
    if args.methods is None:
        texts = list(DEFAULT_METHODS) + (["net"] if net_available() else [])
    else:
        texts = [t.replace("+", ",") for t in args.methods.split(",") if t]
    specs = [parse_method(t) for t in texts]
    start = time.perf_counter()
    results = run(sets, scales, specs, data=args.data, limit=args.limit)
    print(f"Standard protocol (../shared/data/README.md): mean PSNR (dB) / SSIM on Y; "
          f"default iterations: ibp {up.IBP_DEFAULT_ITERATIONS}, mgbp {up.MGBP_DEFAULT_ITERATIONS}.\n")
    print(tables(results, sets, scales, specs))
    print()
    for line in summary(results, sets, scales, specs):
        print(line)
    print(f"(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
