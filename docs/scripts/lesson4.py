"""Figures of lesson 4 (convergence): symbols, residual histories, rate maps, the model-(4) floor, failures.

Run ``python docs/scripts/lesson4.py`` to rewrite the figures in ``docs/figures/``; the tests call
``make_figures(tmp, small=True)``.
"""
import os
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")      # many tiny eigenproblems: threads only hurt

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mgbp_classic  # noqa: E402
from mgbp_classic import convergence as C  # noqa: E402
from mgbp_classic.exceptions import ConvergenceWarning  # noqa: E402
from mgbp_classic.ibp import ibp, rms  # noqa: E402
from mgbp_classic.io import read_image  # noqa: E402
from mgbp_classic.multigrid import mgbp  # noqa: E402
from mgbp_classic.plotting import plot_rate_table  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
KERNEL_COLOURS = {"cubic": "black", "linear": "tab:orange", "lanczos2": "tab:blue", "lanczos3": "tab:red"}


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 90)
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
    ax0.set_xlabel("ω₁ / π (low-resolution grid)")
    ax0.set_ylabel("ω₂ / π")
    ax0.set_title(f"bicubic pair: |1 − H(ω)|, max {contraction.max():.4f} at (π, π)")
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
    ax1.set_xlabel("ω / π along one axis (the other at 0)")
    ax1.set_ylabel("symbol H of D P")
    ax1.set_title("H(ω, 0) for the MATLAB kernel pairs")
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
    """Per-frequency rate per step of the finest level, for N = 1 … 4 and µ = 1, 2."""
    cases = [(n, mu) for mu in ((1,) if small else (1, 2)) for n in ((1, 2, 3) if small else (1, 2, 3, 4))]
    cols = 3 if small else 4
    rows = len(cases) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax, (levels, mu) in zip(axes.ravel(), cases):
        grid = 8 if (small or levels == 4) else 16
        rate = C.mgbp_rate(levels=levels, mu=mu, shape=grid)
        fmap = np.fft.fftshift(rate.frequency_map)
        ext = [-1 - 1 / grid, 1 - 1 / grid, -1 - 1 / grid, 1 - 1 / grid]
        im = ax.imshow(fmap.T, origin="lower", extent=ext, cmap="magma", vmin=0, vmax=1)
        name = "IBP" if levels == 1 else f"MGBP N={levels}"
        ax.set_title(f"{name}, µ={mu}: max {rate.per_step:.4f}", fontsize=9)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="rate per BP step of the level residual")
    fig.suptitle(f"per input frequency ω/π (grid {8 if small else 16}×{8 if small else 16}; N=4 on 8×8): "
                 "largest excited eigenvalue of the block of E", fontsize=10)
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
        ax.set_ylabel("RMS(X − D^N Y) after Algorithm 1")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("the residual of model (4): geometric in µ for IBP, a floor for two or more levels", fontsize=10)
    fig.tight_layout()
    return _save(fig, outdir, "lesson4_model_floor.png", small)


def fig_failures(outdir, small):
    """Boundaries, quantised LR, and non-contractive pairs."""
    rng = np.random.default_rng(7)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
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
    ax.set_ylabel("‖e_{k+1}‖ / ‖e_k‖")
    ax.set_title(f"(a) boundary modes, {n}×{n} noise (dotted: true ρ, Arnoldi)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    # (b) quantised LR
    ax = axes[1]
    picture = _luma(read_image(mgbp_classic.sample_image_path()))
    if small:
        picture = picture[:32, :32]
    D, P = Downscale(2), Upscale(2)
    lr = D(picture)
    lr8 = np.round(lr * 255) / 255
    run = ibp(lr8, 2, iterations=40, tol=None)
    against_true = []
    y = P(lr8)
    for _ in range(41):
        against_true.append(rms(lr - D(y)))
        y = y + P(lr8 - D(y))
    y8 = np.round(np.clip(P(lr8), 0, 1) * 255) / 255
    rounded = []
    for _ in range(41):
        e = lr8 - D(y8)
        rounded.append(rms(e))
        y8 = np.round(np.clip(y8 + P(e), 0, 1) * 255) / 255
    ax.semilogy(run.history, color="black", label="‖X₈ − D Y‖ (the model IBP is given)")
    ax.semilogy(against_true, color="tab:blue", label="‖X − D Y‖ (the unquantised LR)")
    ax.semilogy(rounded, color="tab:red", label="Y rounded to 8 bits after every step")
    ax.axhline(rms(lr - lr8), color="tab:blue", ls=":", lw=1, label=f"RMS(X − X₈) = {rms(lr - lr8):.2e}")
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
    ax.semilogy(gain / gain[0], color="grey", label="IBP, cubic with p × 3: ρ = 2")
    rho_l3 = C.ibp_rate("lanczos3", "lanczos3")
    ax.semilogy(l3_ibp / l3_ibp[0], color="tab:red", ls=":", label=f"IBP, Lanczos-3: ρ = {rho_l3:.3f}")
    ax.semilogy(l3_v / l3_v[0], color="tab:red", label=f"MGBP N=2 µ=1, Lanczos-3: {rate_v:.4f}/step")
    ax.semilogy(l3_w / l3_w[0], color="tab:red", ls="--", label="MGBP N=2 µ=2, Lanczos-3")
    ax.set_xlabel("back-projection step at the finest level")
    ax.set_ylabel("residual / start")
    ax.set_title("(c) non-contractive pairs", fontsize=10)
    ax.set_ylim(1e-12, 1e5)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, outdir, "lesson4_failures.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 4 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_symbol(outdir, small), fig_histories(outdir, small), fig_rate_maps(outdir, small),
            fig_model_floor(outdir, small), fig_failures(outdir, small)]


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
