"""Speed of ``mgbp_classic.resize.imresize`` against Pillow and OpenCV bicubic resizing.

A 2048×2048 RGB image is resized by ×1/4 and ×4. Every method runs ``--repeats`` times,
interleaved (ours, Pillow, OpenCV, ours, ...), and the table shows the median wall-clock time
and the ratio to Pillow (> 1: slower than Pillow).

What each column computes (the comparison is not like for like, read it with this in mind):

* ``mgbp float64`` / ``mgbp float32`` -- :func:`imresize`, MATLAB's bicubic (Keys a = -0.5) on
  floating-point samples in [0, 1], with MATLAB's anti-aliasing on down-scaling (the kernel is
  widened ×4: 16 taps per axis at ×1/4, 4 taps at ×4). No rounding, no clipping: the output is
  float64 (8 bytes per sample) or float32 (4 bytes). Numba, NUMBA_NUM_THREADS threads.
* ``Pillow`` -- ``Image.resize(..., Image.BICUBIC)``: the same a = -0.5 kernel, also widened on
  down-scaling (so the same number of taps as ours), computed in fixed point on uint8 samples
  and rounded to uint8 (1 byte per sample, 4 bytes per pixel in Pillow's RGBX layout);
  single-threaded.
* ``OpenCV`` -- ``cv2.resize(..., interpolation=cv2.INTER_CUBIC)``: Keys a = -0.75, *no*
  anti-aliasing (always 4×4 taps, so at ×1/4 it does a quarter of the work and aliases), uint8,
  multi-threaded and SIMD.

* ``numpy fill f64`` -- ``np.full(output_shape, 0.5)``: no arithmetic at all, just allocating
  and writing a float64 array of the output's size; the floor for any float64 resize.

The ×4 output is 8192×8192×3: 1.6 GB in float64, 0.8 GB in float32, 0.2 GB in uint8; on this
size the float64 path is bounded by writing (and page-faulting) its output, compare it with the
``numpy fill f64`` row.

Also reported: the cold-start time in a fresh process with a warm Numba cache (import the
package and run the first ×1/4 and ×4 resizes of a 256×256 RGB image).

The last line is ``ratio_vs_pillow_down=<x> ratio_vs_pillow_up=<y>``: the float64 ``imresize``
(the package's default dtype, what ``read_image`` returns) time divided by Pillow's.

Usage: python benchmarks/resize_speed.py [--size 2048] [--repeats 5] [--threads 2]
"""
import argparse
import os
import subprocess
import sys
import time

_THREADS = "2"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
os.environ.setdefault("NUMBA_NUM_THREADS", _THREADS)
os.environ.setdefault("OMP_NUM_THREADS", _THREADS)

import numpy as np  # noqa: E402

from mgbp_classic.resize import imresize  # noqa: E402

try:  # benchmark-only dependencies; a missing one drops its column
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None
try:
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None


def make_image(size, seed=0):
    """A smooth-plus-texture uint8 RGB test image (content does not change the timings)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * xx + 2 * yy), np.cos(5 * yy - 3 * xx), np.sin(9 * xx * yy)], -1)
    img = 0.5 + 0.35 * base + 0.15 * rng.standard_normal((size, size, 3))
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def methods(u8, threads):
    """name -> {case: callable} for every available library."""
    f64 = u8 / 255.0
    f32 = f64.astype(np.float32)
    n = u8.shape[0]
    out = {
        "mgbp float64": {"x1/4": lambda: imresize(f64, 0.25), "x4": lambda: imresize(f64, 4)},
        "mgbp float32": {"x1/4": lambda: imresize(f32, 0.25), "x4": lambda: imresize(f32, 4)},
    }
    # Baseline: only allocating and writing an array of the output's size (no arithmetic).
    out["numpy fill f64"] = {"x1/4": lambda: np.full((n // 4, n // 4, 3), 0.5),
                             "x4": lambda: np.full((4 * n, 4 * n, 3), 0.5)}
    if Image is not None:
        pil = Image.fromarray(u8)
        out["Pillow uint8"] = {
            "x1/4": lambda: pil.resize((n // 4, n // 4), Image.BICUBIC),
            "x4": lambda: pil.resize((4 * n, 4 * n), Image.BICUBIC)}
    if cv2 is not None:
        cv2.setNumThreads(int(threads))
        out["OpenCV uint8"] = {
            "x1/4": lambda: cv2.resize(u8, (n // 4, n // 4), interpolation=cv2.INTER_CUBIC),
            "x4": lambda: cv2.resize(u8, (4 * n, 4 * n), interpolation=cv2.INTER_CUBIC)}
    return out


def time_all(table, repeats):
    """Median wall-clock seconds per (method, case), runs interleaved across methods."""
    times = {(m, c): [] for m in table for c in table[m]}
    for case in ("x1/4", "x4"):
        for m in table:                      # warm-up (JIT, caches) outside the timing
            table[m][case]()
        for _ in range(repeats):
            for m in table:
                t0 = time.perf_counter()
                res = table[m][case]()
                times[(m, case)].append(time.perf_counter() - t0)
                del res
    return {k: float(np.median(v)) for k, v in times.items()}


def cold_start():
    """Seconds for a fresh interpreter: import + first x1/4 and x4 imresize (warm Numba cache)."""
    code = ("import time; t = time.perf_counter(); import numpy as np; "
            "from mgbp_classic.resize import imresize; "
            "x = np.random.default_rng(0).random((256, 256, 3)); "
            "imresize(x, 0.25); imresize(x, 4); print(time.perf_counter() - t)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fill cache
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(res.stdout.strip())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=int(_THREADS))
    args = ap.parse_args(argv)

    u8 = make_image(args.size)
    table = methods(u8, args.threads)
    med = time_all(table, args.repeats)
    pil = "Pillow uint8" if "Pillow uint8" in table else None

    print(f"imresize vs Pillow / OpenCV bicubic, {args.size}x{args.size} RGB, median of "
          f"{args.repeats} interleaved runs, NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}")
    print(f"{'case':6} {'method':15} {'output':>16} {'time ms':>10} {'/ Pillow':>9}")
    for case, factor in (("x1/4", 0.25), ("x4", 4)):
        side = int(args.size * factor)
        for m in table:
            ratio = f"{med[(m, case)] / med[(pil, case)]:9.2f}" if pil else f"{'-':>9}"
            print(f"{case:6} {m:15} {f'{side}x{side}x3':>16} {1e3 * med[(m, case)]:10.1f} {ratio}")
    if cv2 is None:
        print("(OpenCV not installed: column skipped)")
    print(f"cold start (fresh process, warm Numba cache; import + first x1/4 and x4 of a "
          f"256x256 RGB image): {cold_start():.2f} s")
    if pil:
        down = med[("mgbp float64", "x1/4")] / med[(pil, "x1/4")]
        up = med[("mgbp float64", "x4")] / med[(pil, "x4")]
        print(f"ratio_vs_pillow_down={down:.2f} ratio_vs_pillow_up={up:.2f}")
    else:
        print("ratio_vs_pillow_down=nan ratio_vs_pillow_up=nan")


if __name__ == "__main__":
    main()
