"""Figures of lesson 2 (Iterative Back-Projection): residual decay, the effective filter, sharpening;
and the numbers the lesson quotes (registered at the bottom, checked by ``tests/test_claims.py``).

The notebook ``docs/notebooks/lesson2.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures.
"""
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mgbp_classic  # noqa: E402
from mgbp_classic.exceptions import ConvergenceWarning  # noqa: E402
from mgbp_classic.ibp import ibp  # noqa: E402
from mgbp_classic.imaging.io import read_image  # noqa: E402
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


def effective_filter(s, w, t):
    """``|p̂(ω) c_t(sω)| / s``: the effective upscaling filter of ``t`` IBP steps (``t = None``: the limit)."""
    p = np.abs(upscale_symbol(s, w)) / s
    h = dp_symbol(s, (s * w + np.pi) % (2 * np.pi) - np.pi)
    if t is None:
        return p / np.maximum(h, 1e-12)
    return p * (1 - (1 - h) ** (t + 1)) / np.maximum(h, 1e-12)


def limit_bump(s):
    """Largest gain of the limit filter below the cut-off, its position (× π), and the gain at the cut-off."""
    w = np.linspace(0, np.pi / s, 20001)
    f = effective_filter(s, w, None)
    i = int(np.argmax(f))
    return f[i], w[i] / np.pi, f[-1]


@lru_cache(None)
def sample_scores(iterations=(0, 1, 3, 5, 30), s=2):
    """Protocol PSNR/SSIM of the sample image at ×s after so many IBP steps (0: bicubic)."""
    image = mod_crop(sample_hr(), s)
    lr = make_lr(image, s)
    out = {}
    for t in iterations:
        y = run_ibp(lr, s, t).image if t else imresize(lr, s)
        out[t] = protocol_scores(image, np.clip(y, 0, 1), s)
    return out


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


def sample_hr():
    return read_image(mgbp_classic.sample_image_path())


def fig_residual_decay(outdir, small):
    """LR residual ‖X − D(Y^(t))‖ against t, and its per-step ratio against the predicted rates."""
    for s in (2, 4, 8):
        check_dct_eigenvalues(s)
    rng = np.random.default_rng(0)
    iterations = 25 if small else 80
    fig = plt.figure(figsize=(15, 4.6), constrained_layout=True)
    grid = fig.add_gridspec(1, 4, width_ratios=[1.4, 1, 1, 1])
    ax0 = fig.add_subplot(grid[0])
    for col, (s, colour) in enumerate(zip((2, 4, 8), ("C0", "C1", "C2"))):
        n = 8 if small else 16
        periodic = run_ibp(rng.random((n, n)), s, iterations, mode="wrap").history
        lr = make_lr(mod_crop(sample_hr(), s), s)
        real = run_ibp(lr, s, iterations).history
        k = np.arange(len(real))
        ax0.semilogy(k, periodic / periodic[0], colour + "o", ms=2.5, label=f"×{s}, periodic, random {n}×{n}")
        ax0.semilogy(k, real / real[0], colour + "-", label=f"×{s}, sample image {lr.shape[0]}×{lr.shape[1]}")
        ax = fig.add_subplot(grid[col + 1])
        ax.plot(k[1:], periodic[1:] / periodic[:-1], colour + "o", ms=2.5, label="periodic, random")
        ax.plot(k[1:], real[1:] / real[:-1], colour + "-", label="sample image")
        ax.axhline(predicted_rate(s), color="k", ls="--", lw=1, label=rf"$\rho$ periodic = {predicted_rate(s):.3f}")
        ax.axhline(predicted_rate(s, lr.shape), color="k", ls=":", lw=1.2,
                   label=rf"$\rho$ DCT {lr.shape[0]}×{lr.shape[1]} = {predicted_rate(s, lr.shape):.3f}")
        ax.set_ylim(0.3, 0.82)
        ax.set_title(f"×{s}: per-step ratio", fontsize=11)
        ax.set_xlabel("IBP step $t$")
        ax.set_ylabel(r"$\|e_{t+1}\| / \|e_t\|$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    ax0.set_ylabel(r"$\|X - D(Y^{(t)})\| \,/\, \|X - D(Y^{(0)})\|$ (RMS)")
    ax0.set_title("residual of eq. (2): dots periodic random LR, lines the sample image", fontsize=10)
    ax0.set_xlabel("IBP step $t$")
    ax0.grid(alpha=0.3, which="both")
    ax0.legend(fontsize=7)
    return _save(fig, outdir, "lesson2_residual_decay.png", small)


def fig_effective_filter(outdir, small, steps=(0, 1, 2, 5, 20)):
    """The effective upscaling filter after t IBP steps, |p̂(ω) Σ_{j≤t} (1 − h(sω))^j| / s."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), constrained_layout=True)
    w = np.linspace(0, np.pi, 1025)
    for ax, s in zip(axes, (2, 4)):
        for t, colour in zip(steps, ("k", "C0", "C1", "C2", "C3", "C4")):
            ax.plot(w / np.pi, effective_filter(s, w, t), colour,
                    label="bicubic ($t = 0$)" if t == 0 else f"$t = {t}$")
        ax.plot(w / np.pi, effective_filter(s, w, None), "C3:", lw=1.5, label=r"$t\to\infty$: $\hat p/h$")
        ax.plot([0, 1 / s, 1 / s, 1], [1, 1, 0, 0], "0.5", ls="--", lw=1, label="ideal")
        ax.axvspan(1 / s, min(3 / s, 1), color="C3", alpha=0.07, label="first spectral image")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.4)
        ax.set_xlabel(r"$\omega/\pi$ (HR grid)")
        ax.set_ylabel(rf"$|\hat p(\omega)\, c_t(s\omega)| / {s}$")
        ax.set_title(f"×{s}: the effective filter after $t$ IBP steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, outdir, "lesson2_effective_filter.png", small)


def fig_sharpening(outdir, small):
    """An edge profile (×4), PSNR/SSIM against iterations and crops at iterations 0, 1, 3, 10 (×2)."""
    steps = (0, 1, 3, 10)
    fig = plt.figure(figsize=(15, 7.0), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1])
    axes = top.subplots(1, 3, width_ratios=[1.4, 1, 1])
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
        ax.plot(xs, y[8], colour, label="bicubic" if k == 0 else f"IBP, $t = {k}$")
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
    ks = list(scores)
    for ax, j, colour, label in ((axes[1], 0, "C0", "PSNR (dB, luma)"), (axes[2], 1, "C1", "SSIM (luma)")):
        ax.plot(ks, [v[j] for v in scores.values()], colour + "-o", ms=3)
        ax.set_xlabel("IBP steps $t$ (0: bicubic)")
        ax.set_ylabel(label)
        ax.set_title(f"sample image ×2: {label.split()[0]}", fontsize=11)
        ax.grid(alpha=0.3)
    # crops, ×2
    box = (slice(38, 70), slice(56, 96))
    panels = [(image, "HR"), (np.kron(lr, np.ones((s, s, 1))), "LR (nearest)")]
    panels += [(results[k], "bicubic" if k == 0 else f"IBP, $t = {k}$") for k in steps]
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


# --------------------------------------------------------------------------------------------------
# The numbers lesson 2 quotes (checked by tests/test_claims.py; see claims.py)
from claims import SOLUTIONS, claim, exempt  # noqa: E402

S2 = SOLUTIONS[2]                  # the instructor's page of the exercises' solutions
L2 = "lesson2_ibp.md"


def _h_pi(s):
    return float(dp_symbol(s, np.array([np.pi]))[0])


def _sample_shape(s):
    return make_lr(mod_crop(sample_hr(), s), s).shape[:2]


@claim("l2.h_pi", L2, "`h(π) = ¤` for `s = 2` (¤ for\n`s = 4`, ¤ for `s = 8`)")
def _():
    return _h_pi(2), _h_pi(4), _h_pi(8)


@claim("l2.rho", L2, "ρ = max_ω |1 − h(ω₁) h(ω₂)| = 1 − h(π)² = ¤ (×2),  ¤ (×4),  ¤ (×8)")
def _():
    return [predicted_rate(s) for s in (2, 4, 8)]


@claim("l2.removes", L2, "every step removes at least ¤% of the mismatch")
def _():
    return 100 * (1 - predicted_rate(2))


@claim("l2.dct_rates", L2, "`ρ = ¤` for the ¤ × ¤ sample at ×2, ¤ for\n¤ × ¤ at ×4 and ¤ for ¤ × ¤ at ×8")
def _():
    r2, r4, r8 = (predicted_rate(s, _sample_shape(s)) for s in (2, 4, 8))
    (a, b), (c, d), (e, f) = (_sample_shape(s) for s in (2, 4, 8))
    return r2, a, b, r4, c, d, r8, e, f


@claim("l2.inv_h", L2, "grows to `1/h(π) = ¤` at the LR Nyquist frequency")
def _():
    return 1 / _h_pi(2)


@claim("l2.bump", L2, "**bump of gain ¤ at ¤π** (×2)")
def _():
    return limit_bump(2)[:2]


@claim("l2.cutoff", L2, "crosses the cut-off at gain ¤ —")
def _():
    return limit_bump(2)[2]


@claim("l2.image_band", L2, "at ¤π (×2) the bicubic response is ¤ and the limit's\n  ¤.")
def _():
    w = np.array([0.6 * np.pi])
    return 0.6, effective_filter(2, w, 0)[0], effective_filter(2, w, None)[0]


@claim("l2.psnr_curve", L2, "bicubic ¤ dB / ¤, one step ¤ / ¤, three ¤ / ¤, five\n¤ / ¤, then flat "
       "(the limit `Y^{(∞)}` is reached; 30 steps give ¤)")
def _():
    sc = sample_scores()
    return (*sc[0], *sc[1], *sc[3], *sc[5], sc[30][0])


@claim("l2.check_rho", L2, "`predicted_rate(2)` from `docs/scripts/lesson2.py` — ¤ (and `1 − h(π)²` with `h(π) = ¤`)")
def _():
    return predicted_rate(2), _h_pi(2)


@claim("l2.check_dct", L2, "`predicted_rate(2, (¤, ¤))` — ¤, the DCT rate")
def _():
    a, b = _sample_shape(2)
    return a, b, predicted_rate(2, (a, b))


@claim("l2.check_psnr", L2, "scores\n   ¤ dB under the protocol, ¤ dB above bicubic")
def _():
    sc = sample_scores()
    return sc[5][0], sc[5][0] - sc[0][0]


@claim("l2.sol_hpi", S2, "`|p̂(π/2)| = ¤` (lesson 1: `|p̂(π/2)|/2 = ¤`), `|p̂(π/2)|² = 121/128` exactly, and\n"
       "   `h(π) = 121/256 = ¤`, `ρ = 1 − (121/256)² = ¤`")
def _():
    a = float(np.abs(upscale_symbol(2, np.array([np.pi / 2])))[0])
    assert abs(a * a - 121 / 128) < 1e-12
    return a, a / 2, 121 / 256, 1 - (121 / 256) ** 2


@claim("l2.sol_linear", S2, "For the linear pair `h(π) = 1/4` (the taps `[¤, ¤, ¤, ¤]` give `|p̂(π/2)| = 1/√2`), so\n"
       "   `ρ = 1 − 1/16 = ¤`")
def _():
    from mgbp_classic.convergence import dp_symbol as symbol2d, ibp_rate
    assert abs(symbol2d("linear", "linear").real.min() - 1 / 16) < 1e-9
    return (*Upscale(2, kernel="linear").taps, ibp_rate("linear", "linear"))


@claim("l2.sol_limit", S2, "`h(π) = ¤`\n   at ×4: `¤^{t+1} ≤ ¤` needs `t + 1 ≥ ¤`, so `t = ¤` steps")
def _():
    h = _h_pi(4)
    need = np.log(0.01) / np.log(1 - h)
    return h, 1 - h, 0.01, need, int(np.ceil(need)) - 1


@claim("l2.ex_rho", L2, "check `ρ = 1 − h(π)² ≈ ¤`")
def _():
    return predicted_rate(2)


exempt(S2, "to 1e-12", "the round-off tolerance of the check")
exempt(L2, "within 1% of its limit", "the exercise's criterion")


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
