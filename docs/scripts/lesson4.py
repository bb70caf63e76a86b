"""Figures of lesson 4 (convergence): symbols, residual histories, rate maps, the model-(4) floor, failures.

The notebook ``docs/notebooks/lesson4.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures. The numbers lesson 4 quotes are registered at the bottom (checked by ``tests/test_claims.py``).
"""
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # many tiny eigenproblems: threads only hurt

import matplotlib  # noqa: E402

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mgbp_classic  # noqa: E402
from mgbp_classic import convergence as C  # noqa: E402
from mgbp_classic.exceptions import ConvergenceWarning  # noqa: E402
from mgbp_classic.ibp import ibp, rms  # noqa: E402
from mgbp_classic.imaging.io import read_image  # noqa: E402
from mgbp_classic.multigrid import mgbp  # noqa: E402
from mgbp_classic.plotting import plot_rate_table  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
KERNEL_COLOURS = {"cubic": "black", "linear": "tab:orange", "lanczos2": "tab:blue", "lanczos3": "tab:red"}


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


def _luma(image):
    return image[..., :3] @ np.array([0.299, 0.587, 0.114]) if image.ndim == 3 else image


def fig_symbol(outdir, small):
    """|1 − H| of the bicubic pair on the LR frequency plane; the 1-D symbols of the named pairs."""
    n = 32 if small else 96
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.3))
    contraction = np.fft.fftshift(C.ibp_contraction(shape=n))
    ext = [-1, 1 - 2 / n, -1, 1 - 2 / n]
    im = ax0.imshow(contraction.T, origin="lower", extent=ext, cmap="viridis", vmin=0, vmax=1)
    cs = ax0.contour(np.linspace(-1, 1 - 2 / n, n), np.linspace(-1, 1 - 2 / n, n), contraction.T,
                     levels=[0.25, 0.5, 0.7], colors="white", linewidths=0.8)
    ax0.clabel(cs, fontsize=7)
    ax0.set_xlabel(r"$\omega_1/\pi$ (low-resolution grid)")
    ax0.set_ylabel(r"$\omega_2/\pi$")
    ax0.set_title(rf"bicubic pair: $|1 - H(\omega)|$, max {contraction.max():.4f} at $(\pi, \pi)$", fontsize=10)
    fig.colorbar(im, ax=ax0, shrink=0.85)
    m = 64 if small else 256
    omega = np.arange(m + 1) / m                      # ω/π in [0, 1]
    for kernel, colour in KERNEL_COLOURS.items():
        h = C.dp_symbol(kernel, kernel, shape=(2 * m, 1))[: m + 1, 0].real     # H(ω, 0) = h(ω)·h(0)
        ax1.plot(omega, h, color=colour, label=f"{kernel} (max H = {C.dp_symbol(kernel, kernel).real.max():.4f})")
    bad = C.dp_symbol("cubic", 3 * Upscale(2).filter2d, shape=(2 * m, 1))[: m + 1, 0].real
    ax1.plot(omega, bad, color="grey", ls="--", label="cubic, p × 3 (gain mismatch)")
    ax1.axhspan(0, 2, color="tab:green", alpha=0.06)
    ax1.axhspan(0, 1, color="tab:green", alpha=0.10)
    ax1.axhline(1, color="k", lw=0.6)
    ax1.axhline(2, color="k", lw=0.6, ls=":")
    ax1.text(0.02, 1.55, "0 < H < 2: IBP contracts", fontsize=8)
    ax1.text(0.02, 0.55, "0 ≤ H ≤ 1 (and P = 4Dᵀ):\nevery MGBP level contracts", fontsize=8)
    ax1.set_ylim(0, 3.2)
    ax1.set_xlabel(r"$\omega/\pi$ along one axis (the other at 0)")
    ax1.set_ylabel(r"symbol $H$ of $D P$")
    ax1.set_title(r"$H(\omega, 0)$ for the MATLAB kernel pairs", fontsize=10)
    ax1.legend(fontsize=7, loc="upper right")
    inset = ax1.inset_axes([0.55, 0.33, 0.42, 0.28])
    for kernel, colour in KERNEL_COLOURS.items():
        h = C.dp_symbol(kernel, kernel, shape=(2 * m, 1))[: m + 1, 0].real
        inset.plot(omega, h, color=colour)
    inset.axhline(1, color="k", lw=0.6)
    inset.set_xlim(0, 0.6)
    inset.set_ylim(0.96, 1.035)
    inset.tick_params(labelsize=6)
    inset.set_title("zoom: overshoot above 1", fontsize=7)
    fig.tight_layout()
    return _save(fig, outdir, "lesson4_symbol.png", small)


def fig_histories(outdir, small):
    """Residual histories of IBP and MGBP against outer cycles, with the predicted slopes."""
    levels, mus = ((1, 3), (1,)) if small else ((1, 2, 3), (1, 2))
    rows = C.rate_table(levels=levels, mu=mus, shape=8, cycles=60 if small else None, seed=0)
    return plot_rate_table(rows, Path(outdir) / "lesson4_histories.png",
                             title="8×8 uniform noise, periodic boundaries, bicubic pair")


def fig_rate_maps(outdir, small):
    """Per-frequency rate per step of the finest level, for N = 1 … 4 and µ = 1, 2 (own scale per panel)."""
    cases = [(n, mu) for mu in ((1,) if small else (1, 2)) for n in ((1, 2, 3) if small else (1, 2, 3, 4))]
    cols = 3 if small else 4
    rows = len(cases) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.9 * cols, 3.6 * rows + 0.5), squeeze=False,
                             constrained_layout=True)
    for ax, (levels, mu) in zip(axes.ravel(), cases):
        grid = 8 if (small or levels == 4) else 16
        rate = C.mgbp_rate(levels=levels, mu=mu, shape=grid)
        fmap = np.fft.fftshift(rate.frequency_map)
        ext = [-1 - 1 / grid, 1 - 1 / grid, -1 - 1 / grid, 1 - 1 / grid]
        shown = np.where(fmap > 0, fmap, np.nan)                 # not excited: grey
        low = float(np.nanmin(shown)) if np.any(fmap > 0) else 0.0
        cmap = matplotlib.colormaps["magma"].with_extremes(bad="0.75")
        im = ax.imshow(shown.T, origin="lower", extent=ext, cmap=cmap, vmin=low, vmax=float(fmap.max()))
        name = "IBP (N = 1)" if levels == 1 else f"MGBP N = {levels}"
        ax.set_title(f"{name}, µ = {mu}: max {rate.per_step:.4f}", fontsize=10)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.set_xlabel(r"$\omega_1/\pi$", fontsize=9)
        ax.set_ylabel(r"$\omega_2/\pi$", fontsize=9)
        ax.tick_params(labelsize=8)
        cb = fig.colorbar(im, ax=ax, shrink=0.85)
        cb.ax.tick_params(labelsize=7)
    fig.suptitle(f"rate per back-projection step of each input frequency (grid {8 if small else 16}², "
                 "N = 4 on 8²; each panel its own colour scale; grey: not excited)", fontsize=11)
    return _save(fig, outdir, "lesson4_rate_maps.png", small)


def fig_model_floor(outdir, small):
    """Model-(4) residual of Algorithm 1's output against µ, for N = 1 … 4: IBP falls, MGBP stalls."""
    noise = np.random.default_rng(4).random((8, 8) if small else (16, 16))
    picture = _luma(read_image(mgbp_classic.sample_image_path()))
    if small:
        picture = picture[:24, :32]
    limits = {1: 32, 2: 32, 3: 12, 4: 6} if not small else {1: 8, 2: 8, 3: 4}
    mus_all = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [(noise, "wrap", f"uniform noise {noise.shape[0]}×{noise.shape[1]}, periodic"),
              (picture, "reflect", f"sample image (luma {picture.shape[0]}×{picture.shape[1]}), symmetric")]
    for ax, (x, mode, title) in zip(axes, panels):
        for levels, top in limits.items():
            if mode == "reflect" and levels == 4 and not small:
                top = 4
            mus = [m for m in mus_all if m <= top]
            res = [mgbp(x, levels=levels, mu=m, mode=mode).model_histories[-1][-1] for m in mus]
            name = "IBP (N=1)" if levels == 1 else f"MGBP N={levels}"
            ax.semilogy(mus, res, "o-", ms=3, label=name)
        ax.set_xlabel("µ (back-projection steps per level)")
        ax.set_ylabel(r"RMS$(X - D^N Y)$ after Algorithm 1")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("the residual of model (4): geometric in µ for IBP, a floor for two or more levels", fontsize=10)
    fig.tight_layout()
    return _save(fig, outdir, "lesson4_model_floor.png", small)


def quantised_ibp(small=False, steps=40):
    """IBP on the sample's luma made 8-bit: residual against X₈, against the unquantised X, with the
    iterate rounded after every step, and RMS(X − X₈)."""
    picture = _luma(read_image(mgbp_classic.sample_image_path()))
    if small:
        picture = picture[:32, :32]
    D, P = Downscale(2), Upscale(2)
    lr = D(picture)
    lr8 = np.round(lr * 255) / 255
    run = ibp(lr8, 2, iterations=steps, tol=None)
    against_true = []
    y = P(lr8)
    for _ in range(steps + 1):
        against_true.append(rms(lr - D(y)))
        y = y + P(lr8 - D(y))
    y8 = np.round(np.clip(P(lr8), 0, 1) * 255) / 255
    rounded = []
    for _ in range(steps + 1):
        e = lr8 - D(y8)
        rounded.append(rms(e))
        y8 = np.round(np.clip(y8 + P(e), 0, 1) * 255) / 255
    return run.history, np.array(against_true), np.array(rounded), rms(lr - lr8)


def model_floor(x, mode, levels, mu):
    """RMS of the model-(4) residual after one pass of Algorithm 1."""
    return mgbp(x, levels=levels, mu=mu, mode=mode).model_histories[-1][-1]


def fig_failures(outdir, small):
    """Boundaries, quantised LR, and non-contractive pairs."""
    rng = np.random.default_rng(7)
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4))
    # (a) boundary modes: per-step ratio of the IBP residual
    n = 12
    x = rng.random((n, n))
    steps = 40 if small else 70
    colours = {"wrap": "black", "reflect": "tab:blue", "mirror": "tab:green", "nearest": "tab:orange",
               "constant": "tab:red"}
    ax = axes[0]
    for mode, colour in colours.items():
        h = ibp(x, 2, iterations=steps, tol=None, mode=mode).history
        keep = h[:-1] > 1e-11 * h[0]
        ax.plot(np.arange(1, steps + 1)[keep], (h[1:] / h[:-1])[keep], color=colour, lw=1.2, label=mode)
        if not small:
            true, _ = C.matrix_free_rate(levels=1, mu=1, shape=n, mode=mode)
            ax.axhline(true, color=colour, lw=0.6, ls=":")
    ax.axhline(C.ibp_rate(shape=n), color="black", ls="--", lw=1, label="predicted, periodic")
    ax.axhline(C.mgbp_rate(levels=1, mu=1, shape=n, mode="reflect").per_step, color="tab:blue", ls="--", lw=1,
               label="predicted, reflect (DCT)")
    ax.set_ylim(0.5, 0.8)
    ax.set_xlabel("IBP step")
    ax.set_ylabel(r"$\|e_{t+1}\| / \|e_t\|$")
    ax.set_title(f"(a) boundary modes, {n}×{n} noise (dotted: true ρ, Arnoldi)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    # (b) quantised LR
    ax = axes[1]
    run_history, against_true, rounded, floor = quantised_ibp(small)
    ax.semilogy(run_history, color="black", label=r"$\|X_8 - D Y\|$ (the model IBP is given)")
    ax.semilogy(against_true, color="tab:blue", label=r"$\|X - D Y\|$ (the unquantised LR)")
    ax.semilogy(rounded, color="tab:red", label="Y rounded to 8 bits after every step")
    ax.axhline(floor, color="tab:blue", ls=":", lw=1, label=rf"RMS$(X - X_8)$ = {floor:.2e}")
    ax.set_xlabel("IBP step")
    ax.set_ylabel("RMS residual")
    ax.set_title("(b) quantised low-resolution input (8 bits)", fontsize=10)
    ax.legend(fontsize=7)
    # (c) non-contractive pairs
    ax = axes[2]
    x = rng.random((8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gain = ibp(x, 2, iterations=12, tol=None, mode="wrap", p=3 * Upscale(2).filter2d, validate=False).history
        l3_ibp = ibp(x, 2, iterations=60, tol=None, mode="wrap", g="lanczos3", p="lanczos3").history
        cycles = 40 if small else 80
        l3_v = mgbp(x, levels=2, mu=1, iterations=cycles, mode="wrap", g="lanczos3", p="lanczos3").histories[-1]
        l3_w = mgbp(x, levels=2, mu=2, iterations=cycles // 2, mode="wrap", g="lanczos3", p="lanczos3").histories[-1]
    rate_v = C.mgbp_rate("lanczos3", "lanczos3", levels=2, mu=1, shape=8).per_step
    ax.semilogy(gain / gain[0], color="grey", label=r"IBP, cubic with $p\times 3$: $\rho = 2$")
    rho_l3 = C.ibp_rate("lanczos3", "lanczos3")
    ax.semilogy(l3_ibp / l3_ibp[0], color="tab:red", ls=":", label=rf"IBP, Lanczos-3: $\rho$ = {rho_l3:.3f}")
    ax.set_xlabel("IBP step")
    ax.set_ylabel("residual / start")
    ax.set_title("(c) IBP: a gain mismatch diverges", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[3]
    ax.semilogy(l3_v / l3_v[0], color="tab:red", label=f"µ = 1: {rate_v:.4f} per step (grows)")
    ax.semilogy(l3_w / l3_w[0], color="tab:red", ls="--", label="µ = 2 (converges)")
    ax.set_xlabel("back-projection step at the finest level")
    ax.set_ylabel("level residual / start")
    ax.set_title("(d) MGBP N = 2 with the Lanczos-3 pair", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, outdir, "lesson4_failures.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 4 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_symbol(outdir, small), fig_histories(outdir, small), fig_rate_maps(outdir, small),
            fig_model_floor(outdir, small), fig_failures(outdir, small)]


# --------------------------------------------------------------------------------------------------
# The numbers lesson 4 quotes (checked by tests/test_claims.py; see claims.py)
from functools import lru_cache  # noqa: E402

from claims import SOLUTIONS, claim, exempt  # noqa: E402

S4 = SOLUTIONS[4]                  # the instructor's page of the exercises' solutions
L4 = "lesson4_convergence.md"


@lru_cache(None)
def rate(levels, mu, shape=8, g="cubic", p="cubic", mode="wrap"):
    return C.mgbp_rate(g, p, levels=levels, mu=mu, shape=shape, mode=mode)


@lru_cache(None)
def small_table():
    """Table of lesson 4 §4: N = 1 and N = 3 with µ = 1 on 8 × 8 noise (seed 0), as the benchmark."""
    return C.rate_table(levels=(1, 3), mu=(1,), shape=8, seed=0)


@lru_cache(None)
def true_boundary_rates():
    return {m: C.matrix_free_rate(levels=1, mu=1, shape=12, mode=m)[0]
            for m in ("wrap", "reflect", "mirror", "nearest", "constant")}


@lru_cache(None)
def _quantised():
    return quantised_ibp()


def _h_min():
    return float(C.dp_symbol().real.min())


@claim("l4.rho_intro", L4, "`ρ = 1 − (121/256)² ≈ ¤` per step")
def _():
    return C.ibp_rate()


@claim("l4.rho_scales", L4, "ρ_bicubic = 1 − (121/256)² = 50895/65536 ≈ ¤     (×2; ¤ at ×3, ¤ at ×4, ¤ at ×8)")
def _():
    assert abs(C.ibp_rate() - 50895 / 65536) < 1e-12
    return [C.ibp_rate(scale=s) for s in (2, 2, 3, 4, 8)][1:]


@claim("l4.removes", L4, "IBP removes at least ¤% of the mismatch every step, and exactly ¤% of the checkerboard")
def _():
    return 100 * (1 - C.ibp_rate()), 100 * _h_min()


@claim("l4.lanczos_overshoot", L4, "Lanczos-3 by ¤% at the 2-D maximum")
def _():
    return 100 * (C.dp_symbol("lanczos3", "lanczos3").real.max() - 1)


@claim("l4.h_min", L4, "for the bicubic pair `min H = ¤`")
def _():
    return _h_min()


@claim("l4.h_range", L4, "`¤ ≤ H ≤ 1`), and so does the")
def _():
    return _h_min()


@claim("l4.parity_mu1", L4, "contracts by `1 − ρ = ¤`\n   (n = 8), `¤` (16), `¤` (32) per step")
def _():
    return [1 - rate(2, 1, n).per_step for n in (8, 16, 32)]


@claim("l4.parity_mu2", L4, "for µ = 2, `¤` and\n   `¤` at n = 8 and 16")
def _():
    return [1 - rate(2, 2, n).per_step for n in (8, 16)]


@claim("l4.table_ibp", L4, "| 1 (IBP) | 1 | ¤ | ¤ | ¤ |")
def _():
    r = small_table()[0]
    return r["predicted"], r["measured"], r["full"]


@claim("l4.table_n3", L4, "| 3 | 1 | ¤ | ¤ | ¤ |")
def _():
    r = small_table()[1]
    return r["predicted"], r["measured"], r["full"]


@claim("l4.within", L4, "every rate\nagrees within ¤%", kind="bound")
def _():
    return 100 * max(r["rel_diff"] for r in small_table())


@claim("l4.excited", L4, "(¤ against\n¤ at N = 3, µ = 1)")
def _():
    r = rate(3, 1)
    return r.per_step, r.full


@claim("l4.even", L4, "(N = 2, µ = 1: ¤ per step)")
def _():
    return rate(2, 1).per_step


@claim("l4.finer", L4, "(N = 3, per step: ¤, ¤, ¤ for n = 8, 16, 32; full ¤)")
def _():
    return [rate(3, 1, n).per_step for n in (8, 16, 32)] + [rate(3, 1, 32).full]


@claim("l4.per_cycle", L4, "per cycle at N = 3 they are ¤, ¤, ¤ for\nµ = 1, 2, 3 (IBP: ¤, ¤, ¤)")
def _():
    return [rate(3, mu).per_step ** mu for mu in (1, 2, 3)] + [C.ibp_rate() ** mu for mu in (1, 2, 3)]


@claim("l4.floor", L4, "flattens at a floor —\n¤ RMS on periodic noise, ¤ on the sample image")
def _():
    noise = np.random.default_rng(4).random((16, 16))
    picture = _luma(read_image(mgbp_classic.sample_image_path()))
    return model_floor(noise, "wrap", 2, 32), model_floor(picture, "reflect", 2, 32)


@claim("l4.boundaries", L4, "are ¤ (wrap,\nas predicted), ¤ (reflect, as predicted by the DCT), ¤ (mirror), ¤ (nearest) and ¤\n(constant)")
def _():
    r = true_boundary_rates()
    assert abs(r["wrap"] - C.ibp_rate(shape=12)) < 1e-9
    assert abs(r["reflect"] - C.mgbp_rate(levels=1, mu=1, shape=12, mode="reflect").per_step) < 1e-9
    return [r[m] for m in ("wrap", "reflect", "mirror", "nearest", "constant")]


@claim("l4.quantised", L4, "residual stops at `RMS(X − X₈) = ¤` (≈ 1/(255·√12))")
def _():
    return _quantised()[3]


@claim("l4.stall", L4, "the iteration stalls at about the same level (¤) after a few steps")
def _():
    return _quantised()[2][-1]


@claim("l4.lanczos3", L4, "Lanczos-3 pair has `max H = ¤`, harmless for IBP (ρ = ¤)")
def _():
    return C.dp_symbol("lanczos3", "lanczos3").real.max(), C.ibp_rate("lanczos3", "lanczos3")


@claim("l4.lanczos3_mgbp", L4, "then has an eigenvalue ¤ for odd µ")
def _():
    return rate(2, 1, 8, "lanczos3", "lanczos3").per_step


@claim("l4.lanczos3_caption", L4, "grows slowly for µ = 1 (¤ per step)")
def _():
    return rate(2, 1, 8, "lanczos3", "lanczos3").per_step


@claim("l4.check_ibp", L4, "`mgbp_classic.convergence.ibp_rate()` — ¤,")
def _():
    return C.ibp_rate()


@claim("l4.check_n3", L4, "`mgbp_rate(levels=3, mu=1, shape=8).per_step` — ¤; `.full` — ¤.")
def _():
    return rate(3, 1).per_step, rate(3, 1).full


@claim("l4.check_l3", L4, "`mgbp_rate(\"lanczos3\", \"lanczos3\", levels=2, mu=1, shape=8).per_step` — ¤: above 1.")
def _():
    return rate(2, 1, 8, "lanczos3", "lanczos3").per_step


@claim("l4.sol_scale3", S4, "`ibp_rate(scale=3)` = ¤. Because")
def _():
    return C.ibp_rate(scale=3)


@claim("l4.sol_hmin3", S4, "has its minimum ¤ (×2: ¤)")
def _():
    return float(C.dp_symbol(scale=3).real.min()), _h_min()


exempt(L4, "results are numbered 4.1, 4.2, …", "numbering, not a quantity")
exempt(L4, "to 10⁻⁹ for N = 3", "the tolerance of a test, not a result")


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
