"""The README's main job, cold and warm: what the first run after ``pip install`` costs.

The main job is ``mgbp-classic upscale --levels 3 --mu 2 mgbp_classic/assets/sample_gulls.png``
(the shipped network, ×8). Each run is a fresh process writing into a temporary directory:

- **cold**: an empty Numba cache (``NUMBA_CACHE_DIR`` pointing at a new directory), as on the first
  run after installing: every kernel the job calls is compiled;
- **warm**: the same cache directory again, now filled: the kernels are loaded from it.

Runs alternate cold, warm, cold, warm, ... (``--repeat`` pairs). Reported per kind: the minimum
and median wall time, the CPU time (user + system) and the number of kernels compiled (the cache
files written by the cold run). The compile cost is cold minus warm.

``--against DIR`` also runs another checkout of the project (e.g. ``git worktree add /tmp/old REV``),
interleaved with this one (its package and command-line folders go first on ``PYTHONPATH``), and
adds its rows to the table: a before/after comparison under the same conditions.

Usage: python benchmarks/cold_start.py [--repeat 3] [--threads 2] [--against DIR]
Last line: ``cold_s=<median> warm_s=<median> compile_s=<difference> kernels=<n>`` (this checkout).
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


def run_job(cache_dir, out_dir, threads, pythonpath=None):
    """One main job in a fresh process; (wall seconds, CPU seconds)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    target = Path(out_dir) / "sample_x8.png"
    target.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "from mgbp_classic_cli.main import cli; cli()", *JOB, str(SAMPLE),
                           "-o", str(target)], env=env, capture_output=True, text=True, cwd=out_dir)
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
    ap.add_argument("--against", type=Path, default=None, help="another checkout to run side by side")
    args = ap.parse_args(argv)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="mgbp-cold-") as tmp:
        trees = {"this": None}
        if args.against is not None:
            links = Path(tmp) / "against"
            links.mkdir()
            (links / "mgbp_classic").symlink_to(args.against.resolve() / "mgbp_classic")
            (links / "mgbp_classic_cli").symlink_to(args.against.resolve() / "cli")
            trees[str(args.against)] = links
        results = {(tree, kind): [] for tree in trees for kind in ("cold", "warm")}
        kernels = {tree: 0 for tree in trees}
        for i in range(args.repeat):
            for tree, path in trees.items():
                cache = Path(tmp) / f"cache-{len(kernels)}-{i}-{abs(hash(tree))}"
                cache.mkdir()
                results[tree, "cold"].append(run_job(cache, tmp, args.threads, path))
                kernels[tree] = max(kernels[tree], sum(1 for _ in cache.rglob("*.nbi")))
                results[tree, "warm"].append(run_job(cache, tmp, args.threads, path))
                print(f"pair {i + 1} ({tree}): cold {results[tree, 'cold'][-1][0]:.1f} s, "
                      f"warm {results[tree, 'warm'][-1][0]:.1f} s")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("\n| checkout | run | kernels compiled | wall min (s) | wall median (s) | CPU median (s) |")
    print("|---|---|---|---|---|---|")
    for (tree, kind), rows in results.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"| {tree} | {kind} | {kernels[tree] if kind == 'cold' else 0} | {min(walls):.1f} | "
              f"{statistics.median(walls):.1f} | {statistics.median(cpus):.1f} |")
    cold = statistics.median(w for w, _ in results["this", "cold"])
    warm = statistics.median(w for w, _ in results["this", "warm"])
    print(f"cold_s={cold:.1f} warm_s={warm:.1f} compile_s={cold - warm:.1f} kernels={kernels['this']}")


if __name__ == "__main__":
    main()
