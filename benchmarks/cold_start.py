"""The README's main job, cold and warm: what the first run after ``pip install`` costs.

The main job is ``mgbp-classic upscale --levels 3 --mu 2 mgbp_classic/assets/sample_gulls.png``
(the shipped network, ×8). Each run is a fresh process writing into a temporary directory:

- **cold**: an empty Numba cache (``NUMBA_CACHE_DIR`` pointing at a new directory), as on the first
  run after installing: every kernel the job calls is compiled;
- **warm**: the same cache directory again, now filled: the kernels are loaded from it.

Runs alternate cold, warm, cold, warm, ... (``--repeat`` pairs). Reported per kind: the minimum
and median wall time, the CPU time (user + system) and the number of kernels compiled (the cache
files written by the cold run). The compile cost is cold minus warm.

Usage: python benchmarks/cold_start.py [--repeat 3] [--threads 2]
Last line: ``cold_s=<median> warm_s=<median> compile_s=<difference> kernels=<n>``.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "mgbp_classic" / "assets" / "sample_gulls.png"
JOB = ["upscale", "--levels", "3", "--mu", "2"]


def run_job(cache_dir, out_dir, threads):
    """One main job in a fresh process; (wall seconds, CPU seconds)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    target = Path(out_dir) / "sample_x8.png"
    target.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from mgbp_classic_cli.main import cli; cli()", *JOB, str(SAMPLE), "-o", str(target)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not target.exists():
        raise SystemExit(f"the main job failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="cold/warm pairs (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    results = {"cold": [], "warm": []}
    kernels = []
    with tempfile.TemporaryDirectory(prefix="mgbp-cold-") as tmp:
        for i in range(args.repeat):
            cache = Path(tmp) / f"cache{i}"
            cache.mkdir()
            results["cold"].append(run_job(cache, tmp, args.threads))
            kernels.append(sum(1 for _ in cache.rglob("*.nbi")))
            results["warm"].append(run_job(cache, tmp, args.threads))
            print(f"pair {i + 1}: cold {results['cold'][-1][0]:.1f} s, warm {results['warm'][-1][0]:.1f} s")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("\n| run | wall min (s) | wall median (s) | CPU median (s) |")
    print("|---|---|---|---|")
    for kind, rows in results.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"| {kind} | {min(walls):.1f} | {statistics.median(walls):.1f} | {statistics.median(cpus):.1f} |")
    cold = statistics.median(w for w, _ in results["cold"])
    warm = statistics.median(w for w, _ in results["warm"])
    print(f"\nkernels compiled by the cold run: {max(kernels)}")
    print(f"cold_s={cold:.1f} warm_s={warm:.1f} compile_s={cold - warm:.1f} kernels={max(kernels)}")


if __name__ == "__main__":
    main()
