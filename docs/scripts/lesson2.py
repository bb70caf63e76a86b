"""Figures of lesson 2 (Iterative Back-Projection): residual decay, the effective filter, sharpening.

Run ``python docs/scripts/lesson2.py`` to rewrite the figures in ``docs/figures/``; the tests call
``make_figures(tmp, small=True)``.
"""
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mgbp_classic  # noqa: E402
from mgbp_classic.exceptions import ConvergenceWarning  # noqa: E402
from mgbp_classic.ibp import ibp  # noqa: E402
from mgbp_classic.io import read_image  # noqa: E402
from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale, imresize  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def upscale_symbol(s, omega):
    """``P(ω) = Σ_t p[t] e^{−iω(t + origin)}`` of the bicubic s× filter, ω on the fine grid."""
    op = Upscale(s)
    t = np.arange(len(op.taps)) + op.origin[0]
    return np.exp(-1j * np.outer(omega, t)) @ op.taps


def dp_symbol(s, omega):
    """1-D symbol ``h(ω)`` of ``D P`` on the LR grid: ``(1/s) Σ_r conj(G(ω_r)) P(ω_r)``, ``ω_r = (ω + 2πr)/s``.

    For the bicubic pair ``g = p/s``, so ``h = (1/s²) Σ_r |P(ω_r)|²`` — real, in [0, 1].
    """
    total = 0
    for r in range(s):
        pr = upscale_symbol(s, (omega + 2 * np.pi * r) / s)
        total = total + np.abs(pr) ** 2
    return total / s ** 2


def predicted_rate(s, shape=None, n=2049):
    """Spectral radius of ``I − D P`` for the bicubic pair, 2-D (separable symbol ``h(ω₁) h(ω₂)``).

    ``shape=None``: periodic boundaries on an unbounded grid, ``max_ω |1 − h(ω₁) h(ω₂)|``.
    ``shape=(N₁, N₂)``: symmetric (``reflect``) boundaries on an N₁ × N₂ LR image, where ``D P`` is
    diagonalised by the DCT-II and its eigenvalues are ``h(π k₁/N₁) h(π k₂/N₂)``.
    """
    if shape is None:
        h1 = h2 = dp_symbol(s, np.linspace(-np.pi, np.pi, n))
    else:
        h1, h2 = (dp_symbol(s, np.pi * np.arange(m) / m) for m in shape[:2])
    return float(np.max(np.abs(1 - np.outer(h1, h2))))


def check_dct_eigenvalues(s, n=12):
    """``D P`` along one axis with symmetric boundaries has the eigenvalues ``h(π k / n)``, k = 0 … n − 1."""
    matrix = np.zeros((n, n))
    for j in range(n):
        x = np.zeros((n, 2))
        x[j] = 1.0                                            # constant along axis 1: a 1-D signal
        matrix[:, j] = Downscale(s)(Upscale(s)(x))[:, 0]
    eigenvalues = np.sort(np.linalg.eigvals(matrix).real)
    predicted = np.sort(dp_symbol(s, np.pi * np.arange(n) / n))
    assert np.allclose(eigenvalues, predicted, atol=1e-12), (eigenvalues, predicted)


def run_ibp(x, s, iterations, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ibp(x, s, iterations=iterations, tol=0, **kw)


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 90)
    plt.close(fig)
    return path


def sample_hr():
    return read_image(mgbp_classic.sample_image_path())


def fig_residual_decay(outdir, small):
    """LR residual ‖X − D(Y_k)‖ against k, and its per-step ratio against the predicted rates."""
    for s in (2, 4, 8):
        check_dct_eigenvalues(s)
    rng = np.random.default_rng(0)
    iterations = 25 if small else 80
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    for s, colour in zip((2, 4, 8), ("C0", "C1", "C2")):
        n = 8 if small else 16
        periodic = run_ibp(rng.random((n, n)), s, iterations, mode="wrap").history
        lr = make_lr(mod_crop(sample_hr(), s), s)
        real = run_ibp(lr, s, iterations).history
        k = np.arange(len(real))
        axes[0].semilogy(k, periodic / periodic[0], colour + "o", ms=2.5, label=f"×{s}, periodic, random")
        axes[0].semilogy(k, real / real[0], colour + "-", label=f"×{s}, sample image {lr.shape[0]}×{lr.shape[1]}")
        axes[1].plot(k[1:], periodic[1:] / periodic[:-1], colour + "o", ms=2.5)
        axes[1].plot(k[1:], real[1:] / real[:-1], colour + "-")
        axes[1].axhline(predicted_rate(s), color=colour, ls="--", lw=1)
        axes[1].axhline(predicted_rate(s, lr.shape), color=colour, ls=":", lw=1.2)
    axes[0].set_ylabel("‖X − D(Y_k)‖ / ‖X − D(Y_0)‖ (RMS)")
    axes[0].set_title("residual of eq. (2): dots periodic random LR, lines the sample image")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set_ylabel("‖e_{k+1}‖ / ‖e_k‖")
    axes[1].set_ylim(0.3, 0.85)
    axes[1].set_title("per-step ratio; dashed ρ (periodic), dotted ρ (symmetric, DCT)")
    for ax in axes:
        ax.set_xlabel("IBP iteration k")
        ax.grid(alpha=0.3, which="both")
    return _save(fig, outdir, "lesson2_residual_decay.png", small)


def fig_effective_filter(outdir, small):
    """The effective upscaling filter after k IBP steps, |P(ω) Σ_{j≤k} (1 − h(sω))^j| / s."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.0), constrained_layout=True)
    w = np.linspace(0, np.pi, 513)
    for ax, s in zip(axes, (2, 4)):
        p = np.abs(upscale_symbol(s, w)) / s
        h = dp_symbol(s, (s * w + np.pi) % (2 * np.pi) - np.pi)
        for k, colour in zip((0, 1, 2, 5, 20), ("k", "C0", "C1", "C2", "C3")):
            gain = sum((1 - h) ** j for j in range(k + 1))
            ax.plot(w / np.pi, p * gain, colour, label="bicubic (k = 0)" if k == 0 else f"k = {k}")
        ax.plot(w / np.pi, np.where(h > 1e-9, p / np.maximum(h, 1e-9), np.nan), "C3:", lw=1,
                label="k → ∞: P / h")
        ax.plot([0, 1 / s, 1 / s, 1], [1, 1, 0, 0], "0.5", ls="--", lw=1, label="ideal")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 2.2)
        ax.set_xlabel("ω / π (HR grid)")
        ax.set_title(f"×{s}: |effective filter| / {s} after k IBP steps")
        ax.legend(fontsize=8)
    return _save(fig, outdir, "lesson2_effective_filter.png", small)


def fig_sharpening(outdir, small):
    """An edge profile (×4), PSNR/SSIM against iterations and crops at iterations 0, 1, 3, 10 (×2)."""
    steps = (0, 1, 3, 10)
    fig = plt.figure(figsize=(13, 6.0), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1])
    axes = top.subplots(1, 2)
    # a vertical step edge (slightly smooth so that HR is itself band-limited), one row shown
    s = 4
    n = 64 if small else 128
    xs = np.arange(n)
    edge = 0.2 + 0.6 / (1 + np.exp(-(xs - n / 2 - 0.3) / 0.7))
    lr = make_lr(np.tile(edge, (16, 1)), s)
    ax = axes[0]
    ax.plot(xs, edge, "k", lw=2, label="HR")
    for k, colour in zip(steps, ("C7", "C0", "C1", "C3")):
        y = run_ibp(lr, s, k).image if k else imresize(lr, s)
        ax.plot(xs, y[8], colour, label="bicubic" if k == 0 else f"IBP k = {k}")
    ax.set_xlim(n / 2 - 16, n / 2 + 16)
    ax.set_title("an edge, ×4: back-projection steepens it (and rings)")
    ax.set_xlabel("HR pixel")
    ax.legend(fontsize=8)
    # PSNR and SSIM against iterations on the sample image, ×2
    s = 2
    image = mod_crop(sample_hr(), s)
    lr = make_lr(image, s)
    results = {k: (run_ibp(lr, s, k).image if k else imresize(lr, s)) for k in range(0, 13 if small else 31)}
    scores = {k: protocol_scores(image, np.clip(y, 0, 1), s) for k, y in results.items()}
    ax = axes[1]
    ax.plot(list(scores), [p for p, _ in scores.values()], "C0-o", ms=3)
    ax.set_xlabel("IBP iterations")
    ax.set_ylabel("PSNR (dB, Y)", color="C0")
    ax2 = ax.twinx()
    ax2.plot(list(scores), [q for _, q in scores.values()], "C1-s", ms=3)
    ax2.set_ylabel("SSIM", color="C1")
    ax.set_title("sample image ×2 (k = 0: bicubic)")
    ax.grid(alpha=0.3)
    # crops, ×2
    box = (slice(38, 70), slice(56, 96))
    panels = [(image, "HR"), (np.kron(lr, np.ones((s, s, 1))), "LR (nearest)")]
    panels += [(results[k], "bicubic" if k == 0 else f"IBP, k = {k}") for k in steps]
    for ax, (img, title) in zip(bottom.subplots(1, len(panels)), panels):
        ax.imshow(np.clip(img[box], 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return _save(fig, outdir, "lesson2_sharpening.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 2 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_residual_decay(outdir, small), fig_effective_filter(outdir, small), fig_sharpening(outdir, small)]


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
