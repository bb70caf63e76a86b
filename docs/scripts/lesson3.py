"""Figures of lesson 3 (Multi-Grid Back-Projection): V- and W-cycles traced from the recursion, the
cost of a cycle, and the images and residuals of every level.

Run ``python docs/scripts/lesson3.py`` to rewrite the figures in ``docs/figures/``; the tests call
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
from mgbp_classic.io import read_image  # noqa: E402
from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores  # noqa: E402
from mgbp_classic.multigrid import ClassicOperators, TracingOperators, mgbp, multigrid  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale, imresize  # noqa: E402
from mgbp_classic.upscale import upscale  # noqa: E402

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
    fig.savefig(path, dpi=60 if small else 90)
    plt.close(fig)
    return path


STYLE = {"lift": ("^", "C2", "lift u = P(Y_{k−1})"), "down": ("v", "C0", "down  D(u)"),
         "correct": ("o", "C3", "correct  u + P(Y_{k−1} − d)")}


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
                           label="input X = Y₁" if "initial" not in seen else None)
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


def fig_residuals(outdir, small):
    """Residual of model (4) and PSNR against µ (×4 and ×8 on the sample image), next to IBP and bicubic."""
    hr0 = read_image(mgbp_classic.sample_image_path())
    mus = range(1, 5 if small else 7)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0), constrained_layout=True)
    rng = np.random.default_rng(0)
    x = rng.random((8, 8) if small else (16, 16))
    mu_trace = 3 if small else 6
    res = mgbp(x, levels=3, mu=mu_trace, mode="wrap")
    for k, colour in zip((1, 2, 3), ("C0", "C1", "C2")):
        steps = np.arange(len(res.histories[k]))
        axes[0].semilogy(steps, res.histories[k], colour + "-o", ms=4, label=f"level {2 ** k}×: level residual")
        axes[0].semilogy(steps, res.model_histories[k], colour + ":", lw=1.5,
                         label=f"level {2 ** k}×: model (4), X − D^{k}(u)")
    axes[0].set_xlabel(f"back-projection step at the level (µ = {mu_trace})")
    axes[0].set_ylabel("RMS residual")
    axes[0].set_title("three levels, periodic random input:\nwhat each level drives to zero", fontsize=10)
    axes[0].grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    for ax, s in zip(axes[1:], (4, 8)):
        levels = int(np.log2(s))
        hr = mod_crop(hr0, s)
        lr = make_lr(hr, s)
        bic = protocol_scores(hr, np.clip(imresize(lr, s), 0, 1), s)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ib = protocol_scores(hr, upscale(lr, levels=levels, method="ibp"), s)[0]
        mg = [protocol_scores(hr, upscale(lr, levels=levels, method="mgbp", mu=mu), s)[0] for mu in mus]
        ax.plot(list(mus), mg, "C3-o", ms=4, label="MGBP")
        ax.axhline(ib, color="C0", ls="--", label="IBP (10 steps)")
        ax.axhline(bic, color="0.4", ls=":", label="bicubic")
        ax.set_xlabel("µ")
        ax.set_ylabel("PSNR (dB, Y)")
        ax.set_title(f"sample image ×{s} ({levels} levels)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, outdir, "lesson3_residuals.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 3 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_cycles(outdir, small), fig_levels(outdir, small), fig_residuals(outdir, small)]


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
