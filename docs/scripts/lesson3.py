"""Figures of lesson 3 (Multi-Grid Back-Projection): V- and W-cycles traced from the recursion, the
cost of a cycle, and the images and residuals of every level.

The notebook ``docs/notebooks/lesson3.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures. The numbers lesson 3 quotes are registered at the bottom (checked by ``tests/test_claims.py``).
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
from mgbp_classic.imaging.io import read_image  # noqa: E402
from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores  # noqa: E402
from mgbp_classic.multigrid import ClassicOperators, TracingOperators, mgbp, multigrid  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale, imresize  # noqa: E402
from mgbp_classic.pipeline.upscale import upscale  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def trace(levels, mu, shape=(4, 4)):
    """Run Algorithm 1 on a small image through :class:`TracingOperators`; returns the tracer."""
    ops = TracingOperators(ClassicOperators(Downscale(2), Upscale(2)))
    multigrid(np.zeros(shape), levels=levels, mu=mu, ops=ops)
    return ops


def down_calls(k, mu):
    """Number of ``D`` applications in one call of BP^µ_k: ``C(1) = 0``, ``C(k) = µ (1 + C(k − 1))``."""
    return 0 if k == 1 else mu * (1 + down_calls(k - 1, mu))


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


STYLE = {"lift": ("^", "C2", r"lift $u = P(Y_{k-1})$"), "down": ("v", "C0", r"down $D(u)$"),
         "correct": ("o", "C3", r"correct $u + P(Y_{k-1} - d)$")}


def fig_cycles(outdir, small):
    """The levels visited by MGBP with three 2× levels for µ = 1, 2, 3, as in Figure 2 of the paper."""
    mus = (1, 2, 3)
    fig, axes = plt.subplots(len(mus), 1, figsize=(13, 8.6), constrained_layout=True)
    for ax, mu in zip(axes, mus):
        ops = trace(3, mu)
        path = ops.path()
        ax.plot(range(len(path)), path, color="0.6", lw=1, zorder=1)
        seen = set()
        for i, ((name, _), level) in enumerate(zip(ops.events, path)):
            if name == "initial":
                ax.scatter([i], [level], marker="s", color="k", zorder=2,
                           label=r"input $X = Y_1$" if "initial" not in seen else None)
            else:
                marker, colour, text = STYLE[name]
                ax.scatter([i], [level], marker=marker, color=colour, s=28, zorder=2,
                           label=text if name not in seen else None)
            seen.add(name)
        counts = ops.counts()
        n_down = sum(v for (name, _), v in counts.items() if name == "down")
        n_corr = sum(v for (name, _), v in counts.items() if name == "correct")
        assert n_down == sum(down_calls(k, mu) for k in range(2, 5))
        ax.set_yticks(range(4))
        ax.set_yticklabels(["X (1×)", "2×", "4×", "8×"])
        ax.set_xlim(-1, len(path))
        ax.set_ylim(-0.4, 3.4)
        ax.grid(alpha=0.25)
        name = {1: "V-cycle", 2: "W-cycle"}.get(mu, "")
        ax.set_title(f"µ = {mu} {name}: {n_down} down-projections, {n_corr} corrections, "
                     f"{len(path)} operator calls", fontsize=10)
        if mu == 1:
            ax.legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1].set_xlabel("operator call (time)")
    return _save(fig, outdir, "lesson3_cycles.png", small)


def fig_levels(outdir, small):
    """The sample image upscaled 8× by bicubic and by MGBP (µ = 1, 2): every level, one crop."""
    x = read_image(mgbp_classic.sample_image_path())
    if small:
        x = x[36:60, 56:88]
    crop = (slice(44, 68), slice(60, 92)) if not small else (slice(8, 24), slice(8, 32))
    rows = [("bicubic", dict(method="bicubic")), ("MGBP µ = 1", dict(method="mgbp", mu=1)),
            ("MGBP µ = 2", dict(method="mgbp", mu=2))]
    fig, axes = plt.subplots(len(rows), 4, figsize=(13, 7.6), constrained_layout=True)
    for r, (title, kw) in enumerate(rows):
        outs = upscale(x, levels=3, return_levels=True, **kw)
        panels = [x] + outs
        for c, img in enumerate(panels):
            f = 2 ** c
            box = (slice(crop[0].start * f, crop[0].stop * f), slice(crop[1].start * f, crop[1].stop * f))
            axes[r, c].imshow(np.clip(img[box], 0, 1), interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            axes[r, c].set_title(("input" if c == 0 else f"{f}×") + (f"  ({title})" if c else ""), fontsize=9)
        axes[r, 0].set_ylabel(title)
    return _save(fig, outdir, "lesson3_levels.png", small)


@lru_cache(None)
def sample_psnr(s, method, mu=None, iterations=1):
    """Protocol PSNR of the sample image at ×s (``method``: bicubic, ibp or mgbp)."""
    hr = mod_crop(read_image(mgbp_classic.sample_image_path()), s)
    lr = make_lr(hr, s)
    levels = int(np.log2(s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if method == "bicubic":
            y = imresize(lr, s)
        elif method == "ibp":
            y = upscale(lr, levels=levels, method="ibp")
        elif iterations == 1:
            y = upscale(lr, levels=levels, method="mgbp", mu=mu)
        else:
            y = mgbp(lr, levels=levels, mu=mu, iterations=iterations).levels[-1]
    return protocol_scores(hr, np.clip(y, 0, 1), s)[0]


def fig_residuals(outdir, small):
    """Level residuals and model-(4) residuals per level (one panel each); PSNR against µ."""
    mus = range(1, 5 if small else 7)
    fig, axes = plt.subplots(1, 5, figsize=(18, 4.2), constrained_layout=True)
    rng = np.random.default_rng(0)
    x = rng.random((8, 8) if small else (16, 16))
    mu_trace = 3 if small else 6
    res = mgbp(x, levels=3, mu=mu_trace, mode="wrap")
    for ax, k, colour in zip(axes[:3], (1, 2, 3), ("C0", "C1", "C2")):
        steps = np.arange(len(res.histories[k]))
        ax.semilogy(steps, res.histories[k], colour + "-o", ms=4, label="level residual")
        ax.semilogy(steps, res.model_histories[k], "k:", lw=1.8, label=rf"model (4): $X - D^{{{k}}}(u)$")
        ax.set_xlabel(f"back-projection step at the level (µ = {mu_trace})")
        ax.set_ylabel("RMS residual")
        ax.set_title(f"level {2 ** k}× (N = 3, periodic random input)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for ax, s in zip(axes[3:], (4, 8)):
        mg = [sample_psnr(s, "mgbp", mu) for mu in mus]
        ax.plot(list(mus), mg, "C3-o", ms=4, label="MGBP")
        ax.axhline(sample_psnr(s, "ibp"), color="C0", ls="--", label="IBP (10 steps)")
        ax.axhline(sample_psnr(s, "bicubic"), color="0.4", ls=":", label="bicubic")
        ax.set_xlabel("µ")
        ax.set_ylabel("PSNR (dB, luma)")
        ax.set_title(f"sample image ×{s} (N = {int(np.log2(s))})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, outdir, "lesson3_residuals.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 3 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_cycles(outdir, small), fig_levels(outdir, small), fig_residuals(outdir, small)]


# --------------------------------------------------------------------------------------------------
# The numbers lesson 3 quotes (checked by tests/test_claims.py; see claims.py)
from claims import SOLUTIONS, claim, need_data  # noqa: E402

S3 = SOLUTIONS[3]                  # the instructor's page of the exercises' solutions
L3 = "lesson3_multigrid.md"
QUANTISATION = 255 * np.sqrt(12)          # 1 / RMS of the rounding error of 8-bit values


@lru_cache(None)
def cascade_vs_direct(s):
    """Mean PSNR over Set5 between N cascaded bicubic 2× down-scalings and ``imresize(·, 1/s)``."""
    files = sorted(need_data("test", "Set5").glob("*.png"))
    down = Downscale(2)
    psnr = []
    for f in files:
        y = mod_crop(read_image(f), s)
        a = y
        for _ in range(int(np.log2(s))):
            a = down(a)
        psnr.append(10 * np.log10(1 / np.mean((a - imresize(y, 1 / s)) ** 2)))
    return float(np.mean(psnr))


def _rms_inverse(psnr):
    return 10 ** (psnr / 20)                # RMS = 10^(−PSNR/20) of the range


@claim("l3.cascade", L3, "agree to a PSNR of\n¤ dB at ×4 and ¤ dB at ×8 — RMS differences of 1/¤ and 1/¤ of the range")
def _():
    a, b = cascade_vs_direct(4), cascade_vs_direct(8)
    return a, b, _rms_inverse(a), _rms_inverse(b)


@claim("l3.quantisation", L3, "(RMS 1/¤, lesson 4 §6b): ¤ and ¤\ntimes it")
def _():
    return QUANTISATION, QUANTISATION / _rms_inverse(cascade_vs_direct(4)), QUANTISATION / _rms_inverse(cascade_vs_direct(8))


@claim("l3.counts", L3, "`1 + 2 + 3 = ¤` down-projections\nfor µ = 1, `2 + 6 + 14 = ¤` for µ = 2 and `3 + 12 + 39 = ¤` for µ = 3")
def _():
    out = []
    for mu in (1, 2, 3):
        counts = trace(3, mu).counts()
        out.append(sum(v for (name, _), v in counts.items() if name == "down"))
        assert out[-1] == sum(down_calls(k, mu) for k in range(2, 5))
    assert [down_calls(k, 2) for k in (2, 3, 4)] == [2, 6, 14] and [down_calls(k, 3) for k in (2, 3, 4)] == [3, 12, 39]
    return out


@claim("l3.iterated", L3, "1, 3 and 10 finest-level cycles give ¤, ¤ and ¤ dB")
def _():
    return [sample_psnr(4, "mgbp", 2, t) for t in (1, 3, 10)]


@claim("l3.check_trace", L3, "— ¤ down-projections and ¤ corrections")
def _():
    counts = trace(3, 2).counts()
    return [sum(v for (name, _), v in counts.items() if name == kind) for kind in ("down", "correct")]


@claim("l3.check_c4", L3, "`down_calls(4, 2)` — ¤, the down-projections")
def _():
    return down_calls(4, 2)


@claim("l3.check_psnr", L3, "scores ¤ dB\n   under the protocol, against ¤ dB for bicubic")
def _():
    return sample_psnr(4, "mgbp", 2), sample_psnr(4, "bicubic")


@claim("l3.sol_trace", S3, "In all\n   ¤ lifts, ¤ down-projections and ¤ corrections")
def _():
    counts = trace(2, 2).counts()
    return [sum(v for (name, _), v in counts.items() if name == kind) for kind in ("lift", "down", "correct")]


@claim("l3.sol_total", S3, "— ¤ for µ = 2, N = 3 and ¤ for µ = 3")
def _():
    def total(mu, n):
        return mu / (mu - 1) * ((mu ** (n + 1) - mu) / (mu - 1) - n)
    assert total(2, 3) == sum(down_calls(k, 2) for k in range(2, 5))
    return total(2, 3), total(3, 3)


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
