"""Predicted against measured convergence rates of IBP and classic MGBP (issue: convergence).

Table 1 (the acceptance table): uniform noise on an 8×8 periodic grid (seed 0), levels N = 1 … 4
(N = 1 is IBP) and µ = 1, 2, 3. For each case the finest level is run for many outer cycles
(µ back-projection steps each); ``measured`` is the rate per cycle fitted on the tail of the
recorded level residual (:func:`mgbp_classic.convergence.fit_rate`), ``predicted`` the exact rate
from the block-diagonal Fourier form (:func:`mgbp_classic.convergence.mgbp_rate`), restricted to
the modes that the input excites; ``full`` is the spectral radius over all modes, ``hist_err`` the
largest relative difference between the measured residual history and the one the Fourier form
predicts step by step, and ``-ln`` the decay exponents (a stricter comparison when rates are
near 1).

Table 2: the Fourier spectral radius against a matrix-free Arnoldi estimate on the actual image
operators (4×4 input grid); the last column checks that each of the 4 largest moduli Arnoldi
returns is a modulus of the Fourier blocks.

Table 3: the same measurement on a real image (Set5 ``baby``, luma, 24×24 centre crop) with
MATLAB's symmetric boundaries, which the prediction covers exactly through the mirror extension.

Last line: ``max_rel_diff_ibp=<x> max_rel_diff_mgbp=<y>`` over Table 1.

Run: ``python benchmarks/convergence.py`` (about a minute on one core).
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # thousands of tiny eigenproblems: no threads

import numpy as np  # noqa: E402

from mgbp_classic import convergence as C  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test" / "Set5"


def table1():
    print("Table 1: periodic uniform noise 8x8, seed 0, bicubic pair; rates per outer cycle")
    print(f"{'levels':>6} {'mu':>3} {'predicted':>11} {'measured':>11} {'rel_diff':>9} {'-ln pred':>9} "
          f"{'-ln meas':>9} {'full':>9} {'hist_err':>9} {'cycles':>6} {'time':>6}")
    x = np.random.default_rng(0).random((8, 8))
    rows = []
    for levels in (1, 2, 3, 4):
        for mu in (1, 2, 3):
            start = time.perf_counter()
            row = C.rate_table(levels=(levels,), mu=(mu,), shape=8, seed=0)[0]
            cycles = row["cycles"]
            predicted_history = C.predict_mgbp_history(x, levels=levels, mu=mu, cycles=cycles)
            h = row["history"]
            keep = h > 1e-8 * h[0]                     # below, round-off dominates the relative error
            row["hist_err"] = float(np.max(np.abs(h[keep] - predicted_history[keep]) / h[keep]))
            seconds = time.perf_counter() - start
            print(f"{levels:>6d} {mu:>3d} {row['predicted']:>11.8f} {row['measured']:>11.8f} {row['rel_diff']:>9.2e} "
                  f"{-np.log(row['predicted']):>9.2e} {-np.log(row['measured']):>9.2e} {row['full']:>9.6f} "
                  f"{row['hist_err']:>9.1e} {cycles:>6d} {seconds:>5.1f}s", flush=True)
            rows.append(row)
    return rows


def table2():
    print("\nTable 2: spectral radius of the finest-level step, Fourier blocks vs matrix-free Arnoldi "
          "(4x4 input, periodic)")
    print(f"{'levels':>6} {'mu':>3} {'fourier':>14} {'arnoldi':>14} {'rel_diff':>9} {'top4 in spectrum':>17}")
    worst = 0.0
    for levels in (1, 2, 3, 4):
        for mu in (1, 2, 3):
            fourier = C.mgbp_rate(levels=levels, mu=mu, shape=4)
            rho, top = C.matrix_free_rate(levels=levels, mu=mu, shape=4, k=4)
            blocks = C.mgbp_blocks(levels=levels, mu=mu, shape=4)
            spectrum = np.abs(np.linalg.eigvals(blocks.E)).ravel()
            rel = abs(rho - fourier.full) / fourier.full
            # every modulus Arnoldi finds is a modulus of the Fourier blocks (multiplets may be cut)
            rel_top = float(max(np.min(np.abs(spectrum - t)) / t for t in top))
            worst = max(worst, rel, rel_top)
            print(f"{levels:>6d} {mu:>3d} {fourier.full:>14.10f} {rho:>14.10f} {rel:>9.1e} {rel_top:>18.1e}",
                  flush=True)
    print(f"largest relative difference: {worst:.1e} (required: 1e-6)")


def table3():
    path = DATA / "baby.png"
    if not path.is_file():
        candidates = sorted(DATA.glob("*.png")) if DATA.is_dir() else []
        if not candidates:
            print("\nTable 3 skipped: no Set5 image found")
            return
        path = candidates[0]
    from mgbp_classic.imaging.io import read_image
    image = read_image(path)
    luma = image[..., :3] @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image
    h, w = luma.shape
    crop = luma[h // 2 - 12:h // 2 + 12, w // 2 - 12:w // 2 + 12]
    print(f"\nTable 3: {path.name} luma, 24x24 centre crop, symmetric (reflect) boundaries; rates per outer cycle")
    print(f"{'levels':>6} {'mu':>3} {'predicted':>11} {'measured':>11} {'rel_diff':>9} {'hist_err':>9} {'cycles':>6}")
    for levels in (1, 2, 3):
        for mu in (1, 2):
            row = C.rate_table(levels=(levels,), mu=(mu,), image=crop)[0]
            pred = C.predict_mgbp_history(crop, levels=levels, mu=mu, cycles=row["cycles"], mode="reflect")
            hist = row["history"]
            keep = hist > 1e-8 * hist[0]
            err = float(np.max(np.abs(hist[keep] - pred[keep]) / hist[keep]))
            print(f"{levels:>6d} {mu:>3d} {row['predicted']:>11.8f} {row['measured']:>11.8f} "
                  f"{row['rel_diff']:>9.2e} {err:>9.1e} {row['cycles']:>6d}", flush=True)


def main():
    start = time.perf_counter()
    rows = table1()
    table2()
    table3()
    ibp = max(r["rel_diff"] for r in rows if r["levels"] == 1)
    mg = max(r["rel_diff"] for r in rows if r["levels"] > 1)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    print(f"max_rel_diff_ibp={ibp:.3g} max_rel_diff_mgbp={mg:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
