"""Figures of lesson 6 (the MGBP network): the unrolled recursion of the network, the learning
curve of the shipped model, and results against bicubic and classic MGBP.

The notebook ``docs/notebooks/lesson6.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures. ``refresh_model.py`` calls it with a ``measurements`` dict to record the numbers lesson 6
quotes about the shipped model; the rest are registered at the bottom (``tests/test_claims.py``).
"""
import sys
from functools import lru_cache
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
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
P128_LOG = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.p128.log.jsonl"
P128_CHECKPOINT = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.p128.ckpt.npz"
X2_LOG = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.x2.log.jsonl"
X2_CHECKPOINT = ROOT / "benchmarks" / "training" / "mgbp_x2x4x8.x2.ckpt.npz"

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


def _stage_start(checkpoint):
    """The step count of the checkpoint a stage was started from (``train --init``), or None."""
    if not Path(checkpoint).exists():
        return None
    from mgbp_classic.nn import read_model_file
    start = read_model_file(checkpoint)[1].get("meta", {}).get("init", {}).get("steps")
    return None if start is None else int(start)


def _entries(log):
    """The log's entries, or [] when the file is absent."""
    if not Path(log).exists():
        return []
    from mgbp_classic.train import read_log
    return read_log(log)


def _stages():
    """The stages of the committed recipe that have a log, in order, as dicts: ``name``, ``patch``,
    ``val`` (the validation entries), ``pixels`` and ``hours`` (functions of a step of the stage:
    training pixels seen and hours of training since the main run's first step, counting the stages
    it started from) and ``start`` (the step of the stage it started from)."""
    patch, batch = _recipe()
    main = _entries(TRAINING_LOG)
    if not main:
        return []
    main_train = [e for e in main if e["kind"] == "train"]
    main_s = {e["step"]: e["seconds"] for e in main_train}

    def main_pixels(step):
        return step * batch * patch * patch

    def main_hours(step):
        known = [s for s in main_s if s <= step]
        return main_s[max(known)] / 3600 if known else 0.0

    stages = [{"name": f"main run ({patch}² patches)", "patch": patch, "start": 0,
               "val": [e for e in main if e["kind"] == "val"], "pixels": main_pixels, "hours": main_hours}]
    def after(base, start, entries, stage_patch, name):
        """A stage started from step ``start`` of ``base``: its pixels and hours continue base's."""
        secs = {e["step"]: e["seconds"] for e in entries if e["kind"] == "train"}

        def pixels(step):
            return base["pixels"](start) + step * batch * stage_patch * stage_patch

        def hours(step):
            known = [s for s in secs if s <= step]
            return base["hours"](start) + (secs[max(known)] / 3600 if known else 0.0)

        return {"name": name, "patch": stage_patch, "start": start,
                "val": [e for e in entries if e["kind"] == "val"], "pixels": pixels, "hours": hours}

    start128 = _stage_start(P128_CHECKPOINT)
    p128 = _entries(P128_LOG)
    p128_stage = None
    if p128 and start128 is not None:
        p128_stage = after(stages[0], start128, p128, 128, f"128² stage from main step {start128}")
        stages.append(p128_stage)
    anneal_start = _stage_start(ANNEAL_CHECKPOINT)
    anneal = _entries(ANNEAL_LOG)
    if anneal and anneal_start is not None:
        # the anneal stage starts from the main run, or from the 128² stage (its init names the file)
        from mgbp_classic.nn import read_model_file
        init = read_model_file(ANNEAL_CHECKPOINT)[1].get("meta", {}).get("init", {}).get("path", "")
        base = p128_stage if "p128" in str(init) and p128_stage else stages[0]
        stages.append(after(base, anneal_start, anneal, base["patch"],
                            f"anneal from {'128² ' if base is p128_stage else 'main '}step {anneal_start}"))
    x2_start = _stage_start(X2_CHECKPOINT)
    x2 = _entries(X2_LOG)
    if x2 and x2_start is not None and p128_stage:
        # the x2 term alone on 128² patches, from the 128² stage (a step sees the same HR pixels)
        stages.append(after(p128_stage, x2_start, x2, 128, f"×2 term alone from 128² step {x2_start}"))
    return stages


def fig_learning_curve(outdir, small, log=TRAINING_LOG):
    """Loss (7) per step of the main run (and a running mean); the Set5 ×4 validation PSNR of every
    stage of the recipe (benchmarks/train_shipped_model.sh: main run, 128² stage, anneal) against the
    training pixels seen, next to the calibration run, bicubic and classic MGBP; and against the hours
    of training on this machine."""
    entries = _entries(log)
    train = [e for e in entries if e["kind"] == "train"]
    patch, batch = _recipe()
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.8))
    if train:
        steps = np.array([e["step"] for e in train])
        loss = np.array([e["loss"] for e in train])
        w = max(1, min(25, len(loss) // 5))
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax[0].plot(steps, loss, color="0.75", lw=0.8, label="loss (7) per step")
        ax[0].plot(steps[w - 1:], smooth, color="C0", lw=2, label=f"running mean of {w}")
        title = f"main run: {steps[-1]} steps of {batch}×{patch}² patches"
        p128 = [e for e in _entries(P128_LOG) if e["kind"] == "train"]
        start = _stage_start(P128_CHECKPOINT)
        if p128 and start is not None:
            steps = start + np.array([e["step"] for e in p128])
            loss = np.array([e["loss"] for e in p128])
            smooth = np.convolve(loss, np.ones(w) / w, mode="valid") if len(loss) >= w else loss[:0]
            ax[0].plot(steps, loss, color="0.85", lw=0.8)
            ax[0].plot(steps[w - 1:], smooth, color="C1", lw=2, label=f"128² stage, running mean of {w}")
            title += f", then {len(p128)} of 128²"
            branch = _stage_start(X2_CHECKPOINT)
            if branch is not None and branch != len(p128):
                title += f"\n(the shipped model leaves the 128² stage at its step {branch})"
        ax[0].set_title(title, fontsize=10)
    ax[0].set_xlabel("step (the 128² stage counted from the main step it started at)")
    ax[0].set_ylabel("Σ of mean absolute errors")
    ax[0].legend(fontsize=8)
    markers, colours = ["o-", "D-", "^-", "v-"], ["C0", "C1", "C2", "C4"]     # C3: the calibration run
    for i, stage in enumerate(_stages() if train else []):
        val = stage["val"]
        if not val:
            continue
        steps = [e["step"] for e in val]
        psnr = [e["psnr"]["x4"] for e in val]
        ax[1].plot([stage["pixels"](s) / 1e6 for s in steps], psnr, markers[i % 4], ms=3, color=colours[i % 4],
                   label=stage["name"])
        ax[2].plot([stage["hours"](s) for s in steps], psnr, markers[i % 4], ms=3, color=colours[i % 4],
                   label=stage["name"])
    cal = np.array(CALIBRATION, float)
    ax[1].plot(cal[:, 0] * CALIBRATION_PIXELS_PER_STEP / 1e6, cal[:, 1], "s--", color="C3",
               label="calibration run (128² patches)")
    for a in ax[1:]:
        a.axhline(28.91, color="C2", ls=":", lw=1.2, label="classic MGBP µ = 2 (28.91 dB)")
        a.axhline(28.42, color="0.5", ls="--", lw=1, label="bicubic (28.42 dB)")
        a.set_ylabel("Set5 ×4 PSNR (dB, Y, protocol)")
        a.legend(fontsize=7)
    ax[1].set_xscale("log")
    ax[1].set_xlabel("HR training pixels seen (millions)")
    ax[2].set_xlabel("hours of training on two CPU cores (wall clock)")
    fig.tight_layout()
    return _save(fig, outdir, "lesson6_learning_curve.png", small)


def results_crop(small):
    """(HR crop, its LR) of the results figure: the centre of Set14 monarch (or of the sample image)."""
    from mgbp_classic import sample_image_path
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.metrics import make_lr
    from course import data_file
    path = data_file("test", "Set14", "monarch.png", fallback="the bundled sample image") or Path(sample_image_path())
    hr = read_image(path)[..., :3]
    size = min(96 if small else 192, hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4)
    y0, x0 = (hr.shape[0] - size) // 2, (hr.shape[1] - size) // 2
    hr = hr[y0:y0 + size, x0:x0 + size]
    return hr, make_lr(hr, 4)


@lru_cache(None)
def classic_crop_scores(small=False):
    """Protocol PSNR/SSIM of the results crop for bicubic and classic MGBP (µ = 2)."""
    from mgbp_classic.metrics import protocol_scores
    from mgbp_classic.pipeline.upscale import upscale
    hr, lr = results_crop(small)
    return {"bicubic": protocol_scores(hr, upscale(lr, levels=2, method="bicubic"), 4),
            "mgbp": protocol_scores(hr, upscale(lr, levels=2, method="mgbp", mu=2), 4)}


def fig_results(outdir, small, measurements=None):
    """A crop upscaled ×4 by bicubic, classic MGBP and the network (PSNR of the crop in the titles)."""
    from mgbp_classic.inference import load_model, upscale_rgb
    from mgbp_classic.metrics import protocol_scores
    from mgbp_classic.train import steps_label
    from mgbp_classic.pipeline.upscale import upscale
    hr, lr = results_crop(small)
    net, meta = load_model()
    results = {"bicubic": upscale(lr, levels=2, method="bicubic"),
               "classic MGBP (µ=2)": upscale(lr, levels=2, method="mgbp", mu=2),
               f"network (µ=2, {steps_label(meta)})": upscale_rgb(net, lr, levels=2, mu=2)[-1]}
    if measurements is not None:
        measurements["crop_net"] = list(protocol_scores(hr, results[list(results)[-1]], 4))
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(4.2 * (len(results) + 1), 4.6))
    axes[0].imshow(hr)
    axes[0].set_title("HR (ground truth)", fontsize=9)
    for ax, (name, img) in zip(axes[1:], results.items()):
        p, s = protocol_scores(hr, img, 4)
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(f"{name}\n{p:.2f} dB / {s:.3f}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, outdir, "lesson6_results.png", small, dpi=100)


def set5_network_psnr(scale=4, mu=2):
    """Mean protocol PSNR/SSIM of the shipped network on Set5 (slow: used by refresh_model.py)."""
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores
    from mgbp_classic.pipeline.upscale import upscale
    from claims import need_data
    scores = []
    for f in sorted(need_data("test", "Set5").glob("*.png")):
        hr = mod_crop(read_image(f), scale)
        lr = make_lr(hr, scale)
        scores.append(protocol_scores(hr, upscale(lr, levels=int(np.log2(scale)), method="net", mu=mu), scale))
    return [float(np.mean([p for p, _ in scores])), float(np.mean([q for _, q in scores]))]


def make_figures(outdir, *, small=False, measurements=None):
    """Write the lesson's figures into ``outdir``; returns their paths. With a ``measurements`` dict,
    record there the numbers lesson 6 quotes about the shipped model."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_unrolled(outdir, small), fig_learning_curve(outdir, small),
            fig_results(outdir, small, measurements)]


# --------------------------------------------------------------------------------------------------
# The numbers lesson 6 quotes (checked by tests/test_claims.py; see claims.py)
from claims import SOLUTIONS, check, claim, exempt, measured, need_data  # noqa: E402

S6 = SOLUTIONS[6]                  # the instructor's page of the exercises' solutions
L6 = "lesson6_network.md"


@lru_cache(None)
def parameter_counts():
    from mgbp_classic.net import MGBPNet, NetConfig
    store = MGBPNet(NetConfig()).store
    counts = {}
    for name in store.names:
        counts[name.split(".")[0]] = counts.get(name.split(".")[0], 0) + store[name].size
    blocks = {}
    for name in store.names:
        parts = name.split(".")
        if parts[1] == "block":
            blocks[parts[0]] = blocks.get(parts[0], 0) + store[name].size
    return counts, blocks, store.size


def _applications(levels, mu, module):
    return sum(e[0] == module for e in trace(levels, mu))


@lru_cache(None)
def set5_classic(scale=4):
    """Mean protocol PSNR on Set5 of bicubic and classic MGBP (µ = 2)."""
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores
    from mgbp_classic.pipeline.upscale import upscale
    out = {"bicubic": [], "mgbp": []}
    for f in sorted(need_data("test", "Set5").glob("*.png")):
        hr = mod_crop(read_image(f), scale)
        lr = make_lr(hr, scale)
        out["bicubic"].append(protocol_scores(hr, upscale(lr, levels=2, method="bicubic"), scale)[0])
        out["mgbp"].append(protocol_scores(hr, upscale(lr, levels=2, method="mgbp", mu=2), scale)[0])
    return {k: float(np.mean(v)) for k, v in out.items()}


@claim("l6.params", L6, "| Analysis | conv 3×3 3→48, FilterBlock(48) | ¤ |\n| Synthesis | FilterBlock(48), bias+ReLU, "
       "conv 3×3 48→3 with bias | ¤ |\n| Upscale | FilterBlock(96), bias+ReLU, transposed conv 3×3 96→48, stride 2 | ¤ |\n"
       "| Downscale | conv 3×3 48→48 stride 2, FilterBlock(48) | ¤ |\n| classic upscaler | 3 depthwise 8×8 filters | ¤ |\n"
       "| **total** | | **¤** |")
def _():
    counts, _, total = parameter_counts()
    return [counts[k] for k in ("analysis", "synthesis", "upscale", "downscale", "classic")] + [total]


@claim("l6.applications", L6, "the network applies `Upscale` ¤ times and\n`Downscale` ¤ times (¤ each for µ = 1, ¤ for µ = 3)")
def _():
    return (_applications(3, 2, "Upscale"), _applications(3, 2, "Downscale"), _applications(3, 1, "Upscale"),
            _applications(3, 3, "Upscale"))


@claim("l6.tape", L6, "so a module applied\n   ¤ times receives the sum of its ¤ gradients")
def _():
    return _applications(3, 2, "Upscale"), _applications(3, 2, "Upscale")


@claim("l6.cost", L6, "the W-cycle runs `Upscale` and `Downscale` ¤ times for N = 3")
def _():
    return _applications(3, 2, "Upscale")


@claim("l6.set5", L6, "scores ¤ dB on Set5 ×4 under the protocol,\nagainst ¤ dB for bicubic and ¤ dB for classic MGBP (µ = 2)")
def _():
    c = set5_classic()
    return measured("set5_x4_net")()[0][0], c["bicubic"], c["mgbp"]


@claim("l6.crop", L6, "On the crop above it gains\n¤ dB over classic MGBP (¤ against ¤)")
def _():
    net = measured("crop_net")()[0][0]
    mg = classic_crop_scores()["mgbp"][0]
    return net - mg, net, mg


@claim("l6.check_params", L6, "`MGBPNet(NetConfig()).store.size` — ¤ parameters")
def _():
    return parameter_counts()[2]


@claim("l6.check_trace", L6, "applies `Upscale` ¤ times and `Downscale` ¤ times.\n3. `trace(3, 1)`: ¤ applications")
def _():
    return _applications(3, 2, "Upscale"), _applications(3, 2, "Downscale"), _applications(3, 1, "Upscale")


@claim("l6.sol_count", S6, "For\n   µ = 2: N = 3 gives `3 + ¤ = ¤`, N = 4 gives `4 + ¤ = ¤`")
def _():
    from lesson3 import down_calls
    a = sum(down_calls(k, 2) for k in range(2, 5))
    b = sum(down_calls(k, 2) for k in range(2, 6))
    assert _applications(3, 2, "Upscale") == 3 + a and _applications(4, 2, "Upscale") == 4 + b
    return a, 3 + a, b, 4 + b


@claim("l6.sol_params", S6, "`FilterBlock(48)` has ¤\n   parameters against ¤ for `FilterBlock(96)`, its bias ¤ instead of ¤, and the transposed\n"
       "   convolution ¤ (48·48·9) instead of ¤ (96·48·9): ¤ parameters saved, ¤% of the\n   network")
def _():
    counts, blocks, total = parameter_counts()
    saved = (blocks["upscale"] - blocks["analysis"]) + 48 + (96 - 48) * 48 * 9
    assert counts["upscale"] == blocks["upscale"] + 96 + 96 * 48 * 9
    return (blocks["analysis"], blocks["upscale"], 48, 96, 48 * 48 * 9, 96 * 48 * 9, saved, 100 * saved / total)


@check("l6.recursion", L6, "`mgbp_classic/recursion.py` contains Algorithm 1 exactly once")
def _():
    """The lines the lesson quotes are the lines of the package's recursion."""
    import inspect
    from mgbp_classic import recursion
    source = inspect.getsource(recursion.back_project)
    return all(line in source for line in (
        "d = back_project(ops.down(u), k - 1, ys, mu, ops, callback)   # line 3",
        "u = ops.correct(u, ys[k - 2], d)", "for step in range(1, mu + 1):"))


@claim("l6.steps", L6, "The model in this revision (¤ steps of 64×64 patches, ¤ of 128×128, then ¤ of the ×2 term alone)")
def _():
    from mgbp_classic.inference import load_model
    from mgbp_classic.train import training_stages
    return tuple(st["steps"] for st in training_stages(load_model()[1]))


exempt(L6, "reaches 28.43 dB on Set14 ×4", "a quotation of the paper's Table 1")
exempt(L6, "the paper reports 0.28 M", "a quotation of the paper")


if __name__ == "__main__":
    for p in make_figures(FIGURES):
        print(p)
