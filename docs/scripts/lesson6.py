"""Figures of lesson 6 (the MGBP network): the unrolled recursion of the network, the learning
curve of the shipped model, and results against bicubic and classic MGBP.

Run ``python docs/scripts/lesson6.py`` to rewrite the figures in ``docs/figures/``; the tests call
``make_figures(tmp, small=True)``.
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic.multigrid import multigrid  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
TRAINING_LOG = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.log.jsonl"
ANNEAL_LOG = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.anneal.log.jsonl"
ANNEAL_CHECKPOINT = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.anneal.ckpt.npz"
TRAINING_CHECKPOINT = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.ckpt.npz"

COLOURS = {"Analysis": "#1f77b4", "Synthesis": "#2ca02c", "Downscale": "#d62728",
           "Upscale": "#9467bd", "classic 2×": "#7f7f7f"}


class TraceOperators:
    """Algorithm 1's operators acting on *level numbers*: each call records which network module the
    learned operator runs, at which level (the same recursion drives the network, see net.py)."""

    def __init__(self):
        self.events = []            # (module, level from, level to)

    def initial(self, x):
        self.events += [("Analysis", 0, 0), ("Synthesis", 0, 0)]
        return 0

    def lift(self, ys):
        k = len(ys)                  # the new level
        if k > 1:
            self.events.append(("Synthesis", k - 1, k - 1))
        self.events += [("classic 2×", k - 1, k), ("Analysis", k, k), ("Downscale", k, k - 1),
                        ("Upscale", k - 1, k)]
        return k

    def down(self, u):
        self.events.append(("Downscale", u, u - 1))
        return u - 1

    def correct(self, u, y, d):
        self.events.append(("Upscale", d, u))
        return u


def trace(levels, mu):
    ops = TraceOperators()
    ys = multigrid(None, levels=levels, mu=mu, ops=ops)
    ops.events.append(("Synthesis", len(ys) - 1, len(ys) - 1))
    return ops.events


def _save(fig, outdir, name, small, dpi=90):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def fig_unrolled(outdir, small):
    """The network unrolled for 3 levels, µ = 1, 2, 3 (compare the paper's Figure 2)."""
    mus = (1, 2) if small else (1, 2, 3)
    fig, axes = plt.subplots(len(mus), 1, figsize=(12, 2.6 * len(mus)))
    for ax, mu in zip(np.atleast_1d(axes), mus):
        events = trace(3, mu)
        t = 0
        for name, a, b in events:
            ax.plot([t, t + 1], [a, b], color=COLOURS[name], lw=2.5)
            if a == b:
                ax.plot([t + 0.5], [a], "o", color=COLOURS[name], ms=5)
            t += 1
        counts = {n: sum(e[0] == n for e in events) for n in COLOURS}
        ax.set_yticks(range(4), ["input", "2×", "4×", "8×"])
        ax.set_xlim(-0.5, t + 0.5)
        ax.set_title(f"µ = {mu}: " + ", ".join(f"{n} ×{c}" for n, c in counts.items()), fontsize=9)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=c, lw=3, label=n) for n, c in COLOURS.items()]
    np.atleast_1d(axes)[0].legend(handles=handles, ncol=5, loc="upper left", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("module application, in order")
    fig.tight_layout()
    return _save(fig, outdir, "lesson6_unrolled.png", small)


#: The issue's calibration for this architecture and loss: Set5 ×4 PSNR after so many steps of
#: batch 16 with 128×128 patches.
CALIBRATION = [(193, 29.47), (661, 30.74), (1816, 31.14)]
CALIBRATION_PIXELS_PER_STEP = 16 * 128 * 128


def _recipe(checkpoint=TRAINING_CHECKPOINT):
    """(patch, batch) of the committed run, from its checkpoint (64, 16 if there is none)."""
    if Path(checkpoint).exists():
        from mgbp_classic.nn import read_model_file
        cfg = read_model_file(checkpoint)[1].get("meta", {}).get("train_config", {})
        return int(cfg.get("patch", 64)), int(cfg.get("batch", 16))
    return 64, 16


def _anneal_validation(log=ANNEAL_LOG, checkpoint=ANNEAL_CHECKPOINT):
    """The anneal stage's validation entries and the main-run step it started from (or [], None)."""
    if not (Path(log).exists() and Path(checkpoint).exists()):
        return [], None
    from mgbp_classic.nn import read_model_file
    from mgbp_classic.train import read_log
    start = read_model_file(checkpoint)[1].get("meta", {}).get("init", {}).get("steps")
    val = [e for e in read_log(log) if e["kind"] == "val"]
    return (val, int(start)) if start is not None else ([], None)


def fig_learning_curve(outdir, small, log=TRAINING_LOG):
    """Loss (7) per step (and a running mean); the validation PSNR on Set5 ×4 against the number of
    training pixels, next to the calibration run, bicubic and classic MGBP; the anneal stage (see
    benchmarks/train_shipped_model.sh) continues the curve from the step it started at."""
    entries = [json.loads(line) for line in open(log)] if Path(log).exists() else []
    train = [e for e in entries if e["kind"] == "train"]
    val = [e for e in entries if e["kind"] == "val"]
    patch, batch = _recipe()
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    if train:
        steps = np.array([e["step"] for e in train])
        loss = np.array([e["loss"] for e in train])
        w = max(1, min(25, len(loss) // 5))
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax[0].plot(steps, loss, color="0.75", lw=0.8, label="loss (7) per step")
        ax[0].plot(steps[w - 1:], smooth, color="C0", lw=2, label=f"running mean of {w}")
        hours = train[-1]["seconds"] / 3600
        ax[0].set_title(f"{steps[-1]} steps of {batch}×{patch}² patches, {hours:.1f} h of CPU training",
                        fontsize=10)
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("Σ of mean absolute errors")
    ax[0].legend(fontsize=8)
    if val:
        px = batch * patch * patch / 1e6
        for key in sorted(val[0]["psnr"]):
            ax[1].plot([e["step"] * px for e in val], [e["psnr"][key] for e in val], "o-", ms=3,
                       label=f"this run, Set5 {key} ({patch}² patches)")
        anneal, start = _anneal_validation()
        for key in sorted(anneal[0]["psnr"]) if anneal else []:
            ax[1].plot([(start + e["step"]) * px for e in anneal], [e["psnr"][key] for e in anneal],
                       "^-", ms=3, color="C1", label=f"anneal stage from step {start}, Set5 {key}")
    cal = np.array(CALIBRATION, float)
    ax[1].plot(cal[:, 0] * CALIBRATION_PIXELS_PER_STEP / 1e6, cal[:, 1], "s--", color="C3",
               label="calibration run, Set5 x4 (128² patches)")
    ax[1].axhline(28.91, color="C2", ls=":", lw=1.2, label="classic MGBP µ = 2 ×4 (28.91 dB)")
    ax[1].axhline(28.42, color="0.5", ls="--", lw=1, label="bicubic ×4 (28.42 dB)")
    ax[1].set_xscale("log")
    ax[1].set_xlabel("HR training pixels seen (millions)")
    ax[1].set_ylabel("PSNR (dB, Y, protocol)")
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, outdir, "lesson6_learning_curve.png", small)


def fig_results(outdir, small):
    """A crop upscaled ×4 by bicubic, classic MGBP and the network (PSNR of the crop in the titles)."""
    from mgbp_classic import sample_image_path
    from mgbp_classic.inference import load_model, upscale_rgb
    from mgbp_classic.io import read_image
    from mgbp_classic.metrics import make_lr, protocol_scores
    from mgbp_classic.train import steps_label
    from mgbp_classic.upscale import upscale
    data = ROOT.parent / "shared" / "data" / "test" / "Set14"
    path = data / "monarch.png" if (data / "monarch.png").exists() else Path(sample_image_path())
    hr = read_image(path)[..., :3]
    size = 96 if small else 192
    y0, x0 = (hr.shape[0] - size) // 2, (hr.shape[1] - size) // 2
    hr = hr[y0:y0 + size, x0:x0 + size]
    lr = make_lr(hr, 4)
    net, meta = load_model()
    results = {"bicubic": upscale(lr, levels=2, method="bicubic"),
               "classic MGBP (µ=2)": upscale(lr, levels=2, method="mgbp", mu=2),
               f"network (µ=2, {steps_label(meta)})": upscale_rgb(net, lr, levels=2, mu=2)[-1]}
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(3.2 * (len(results) + 1), 3.6))
    axes[0].imshow(hr)
    axes[0].set_title("HR (ground truth)", fontsize=9)
    for ax, (name, img) in zip(axes[1:], results.items()):
        p, s = protocol_scores(hr, img, 4)
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(f"{name}\n{p:.2f} dB / {s:.3f}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, outdir, "lesson6_results.png", small, dpi=64)


def make_figures(outdir, *, small=False):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_unrolled(outdir, small), fig_learning_curve(outdir, small), fig_results(outdir, small)]


if __name__ == "__main__":
    for p in make_figures(FIGURES):
        print(p)
