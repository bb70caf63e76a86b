"""Figures of lesson 7 (inside the network: deep filter visualisation, Theorem 1).

- ``lesson7_theorem.png``: ``net(X)``, the linear part ``F X``, the residual ``R`` and
  ``|F X + R − net(X)|`` on a crop of Set14 *baboon* at ×4;
- ``lesson7_filters_x4.png``: effective filters at chosen pixels of that crop with the residual,
  bicubic at the same pixels (the paper's Figure 9, 4×);
- ``lesson7_filters_x8.png``: the same for Set5 *woman* at ×8 (face and hand, Figure 9, 8×);
- ``lesson7_mu.png``: the same model run with µ = 1, 2, 3 (Figure 7);
- ``lesson7_color.png``: the 3×3 colour filters of one output pixel, the luma view and bicubic.

The notebook ``docs/notebooks/lesson7.py`` runs this (default model: the one shipped in the package;
``small=True`` uses a tiny untrained network on the package's sample image). ``refresh_model.py``
passes a ``measurements`` dict to record the numbers lesson 7 quotes about the model; the
model-independent ones are registered at the bottom (``tests/test_claims.py``).
"""
import argparse
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic import sample_image_path  # noqa: E402
from mgbp_classic.deepfilter import LUMA_WEIGHTS, DeepFilter  # noqa: E402
from mgbp_classic.imaging.io import read_image  # noqa: E402
from mgbp_classic.metrics import make_lr  # noqa: E402
from mgbp_classic.net import MGBPNet, NetConfig  # noqa: E402
from mgbp_classic.plotting import filter_window, plot_filters  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
DPI = 80
SAVE = {"dpi": DPI, "pil_kwargs": {"optimize": True}}
DIVERGING = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")   # grey: outside the image

# Full-size scenes: (LR crop rows, cols) and output pixels (y, x) at the scale, chosen by eye.
BABOON_CROP = (slice(0, 48), slice(20, 68))        # LR 48×48: left eye, wrinkles, fur, nose ridge
# iris, eye corner, blue/red edge, fur, flat red, blue stripes
BABOON_PIXELS = [(22, 82), (30, 126), (120, 126), (100, 40), (150, 150), (172, 60)]
# nose tip, eye, fingers, edge of the other hand
WOMAN_PIXELS = [(140, 116), (100, 76), (220, 52), (196, 180)]
MU_PIXELS = [(22, 82), (62, 70)]


# Without the test images (docs/data.md): crops of the bundled 72×96 sample used as LR inputs.
SAMPLE_X4_CROP = (slice(16, 64), slice(16, 64))    # LR 48×48: the eye ring, the dark head, the grey body
# ring, centre of the eye, head/body edge, flat head, flat body, background texture
SAMPLE_X4_PIXELS = [(72, 76), (86, 76), (144, 56), (36, 136), (176, 16), (56, 16)]
SAMPLE_X8_CROP = (slice(30, 58), slice(20, 63))    # LR 28×43, the size of Set5 woman at ×8
SAMPLE_X8_PIXELS = [(24, 120), (60, 120), (176, 80), (120, 240)]
SAMPLE_MU_PIXELS = [(68, 76), (36, 136)]           # (y, x) in the ×4 crop's output, as MU_PIXELS


def _scene(small):
    """(net, label, x4 image, its pixels, x8 image, its pixels, where the images come from, µ pixels).

    The full-size scene reads Set14 *baboon* and Set5 *woman* (``course.DATA``, ``MGBP_DATA``); when
    they are absent it uses crops of the package's sample image instead and prints so."""
    if small:
        net = MGBPNet(NetConfig(features=4, growth=2, bottleneck=4, seed=1))
        net.store.params[...] += (0.05 * np.random.default_rng(0).standard_normal(net.store.size)).astype(np.float32)
        x = read_image(sample_image_path())[20:32, 30:42]
        return net, "tiny untrained network", x, [(5, 9), (30, 20), (40, 44)], x[:6, :6], [(8, 10)], \
            "bundled sample", [(5, 9), (30, 20)]
    from course import data_file
    baboon = data_file("test", "Set14", "baboon.png", fallback="a 48 × 48 crop of the bundled sample image at ×4")
    woman = data_file("test", "Set5", "woman.png", fallback="a 28 × 43 crop of the bundled sample image at ×8")
    if baboon is None or woman is None:
        sample = read_image(sample_image_path())
        return None, None, sample[SAMPLE_X4_CROP], SAMPLE_X4_PIXELS, sample[SAMPLE_X8_CROP], SAMPLE_X8_PIXELS, \
            "bundled sample image", SAMPLE_MU_PIXELS
    baboon = make_lr(read_image(baboon), 4)[BABOON_CROP]
    woman = make_lr(read_image(woman), 8)
    return None, None, baboon, BABOON_PIXELS, woman, WOMAN_PIXELS, "Set14 baboon, Set5 woman", MU_PIXELS


def _luma(img):
    return np.asarray(img, dtype=np.float64) @ LUMA_WEIGHTS


def fig_theorem(outdir, df, label, m=None):
    """net(X), F X, R and the error |F X + R − net(X)|."""
    y, fx, r = df.output.astype(np.float64), df.linear_part().astype(np.float64), df.residual.astype(np.float64)
    err = np.abs(fx + r - y).max(axis=2)
    if m is not None:
        m["theorem_max_error"] = float(err.max())
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, 5)
    axes[0].imshow(np.clip(df.image, 0, 1), interpolation="nearest")
    axes[0].set_title(f"input X ({df.image.shape[1]}×{df.image.shape[0]})", fontsize=9)
    axes[1].imshow(np.clip(y, 0, 1), interpolation="nearest")
    axes[1].set_title(f"network output net(X), ×{df.scale}", fontsize=9)
    axes[2].imshow(np.clip(fx, 0, 1), interpolation="nearest")
    axes[2].set_title("linear part F X (all biases 0)", fontsize=9)
    v = float(np.abs(_luma(r)).max()) or 1.0
    im = axes[3].imshow(_luma(r), cmap=DIVERGING, vmin=-v, vmax=v, interpolation="nearest")
    axes[3].set_title("residual R = frozen net(0) (luma)", fontsize=9)
    fig.colorbar(im, ax=axes[3], shrink=0.8)
    im = axes[4].imshow(np.log10(np.maximum(err, 1e-12)), cmap="magma", vmin=-10, vmax=-4, interpolation="nearest")
    axes[4].set_title(f"log10 |F X + R − net(X)|, max {err.max():.1e}", fontsize=9)
    fig.colorbar(im, ax=axes[4], shrink=0.8)
    for a in axes:
        a.set_axis_off()
    fig.suptitle(f"Theorem 7.1 (the paper's Theorem 1): frozen ReLU gains make the network affine and exact ({label}, float32)",
                 fontsize=10)
    path = outdir / "lesson7_theorem.png"
    fig.savefig(path, **SAVE)
    return path


def fig_filters(outdir, df, pixels, label, name, m=None):
    rows = df.filters(pixels)                                             # (K, H, W, 3): output luma
    error = df.pixel_errors(pixels, rows).max()
    if m is not None:
        luma, bic = rows.sum(axis=3), df.bicubic(pixels)
        m[name.split("_")[-1].split(".")[0]] = {
            "pixel_error": float(error), "sums": [float(f.sum()) for f in luma],
            "abs_delta": [float(np.abs(f - b).sum()) for f, b in zip(luma, bic)],
            "max_residual": float(np.abs(_luma(df.residual)).max())}
    fig = plot_filters(df.output, pixels, rows.sum(axis=3), scale=df.scale, residual=df.residual,
                       bicubic=df.bicubic(pixels), difference=True, columns=3 if len(pixels) > 4 else 2,
                       title=f"Effective filters and residual, ×{df.scale}, µ = {df.frozen.mu}\n({label}; "
                             f"|F X + R − net(X)| ≤ {error:.0e} at the pixels)")
    path = outdir / name
    fig.savefig(path, **SAVE)
    return path


def fig_color(outdir, df, pixel, label, m=None):
    """The 3×3 grid F[c_out, c_in] at one pixel, its luma view, and bicubic."""
    grid = df.filters([pixel], color=True)[0]                             # (out, H, W, in)
    luma = np.einsum("o,oyxc->yxc", LUMA_WEIGHTS, grid).sum(axis=2)
    bic = df.bicubic([pixel])[0]
    radius = 5
    wins = [[filter_window(grid[o, :, :, i], pixel, scale=df.scale, radius=radius)[0] for i in range(3)]
            for o in range(3)]
    diag = max(float(np.nanmax(np.abs(wins[o][o]))) for o in range(3)) or 1.0
    off_diag = max(float(np.nanmax(np.abs(wins[o][i]))) for o in range(3) for i in range(3) if o != i) or 1.0
    ext = (-radius - 0.5, radius + 0.5, radius + 0.5, -radius - 0.5)
    if m is not None:
        m["color"] = {"diag": diag, "off_diag": off_diag,
                      "off_sums": [float(grid[o, :, :, i].sum()) for o in range(3) for i in range(3) if o != i]}
    fig = Figure(figsize=(10.5, 7.4), layout="constrained")
    sub_l, sub_r = fig.subfigures(1, 2, width_ratios=[3, 2])
    axes = sub_l.subplots(3, 3)
    names = ["R", "G", "B"]
    for o in range(3):
        for i in range(3):
            a = axes[o, i]
            v = diag if o == i else off_diag
            a.imshow(wins[o][i], cmap=DIVERGING, vmin=-v, vmax=v, extent=ext, interpolation="nearest")
            a.set_xticks([])
            a.set_yticks([])
            f = grid[o, :, :, i]
            a.set_title(f"out {names[o]} ← in {names[i]} (±{v:.3f})\nΣ = {f.sum():.3f}", fontsize=8)
    sub_l.suptitle(f"colour filters F[c_out, c_in] of output pixel (y={pixel[0]}, x={pixel[1]}); "
                   "off-diagonal panels on their own scale", fontsize=9)
    axes2 = sub_r.subplots(3, 1)
    (lw, off), (bw, _), (dw, _) = (filter_window(luma, pixel, scale=df.scale, radius=radius),
                                   filter_window(bic, pixel, scale=df.scale, radius=radius),
                                   filter_window(luma - bic, pixel, scale=df.scale, radius=radius))
    vv = max(float(np.nanmax(np.abs(lw))), float(np.nanmax(np.abs(bw))))
    vd = float(np.nanmax(np.abs(dw))) or 1.0
    for a, w, vmax, t in ((axes2[0], lw, vv, f"luma view: output Y from a grey δ, Σ = {luma.sum():.2f}"),
                          (axes2[1], bw, vv, f"bicubic ×{df.scale} at the same pixel, Σ = {bic.sum():.2f}"),
                          (axes2[2], dw, vd, f"luma view − bicubic, ±{vd:.3f}")):
        a.imshow(w, cmap=DIVERGING, vmin=-vmax, vmax=vmax, extent=ext, interpolation="nearest")
        a.plot(off[1], off[0], "+", color="k", ms=7)
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(t, fontsize=8)
    fig.suptitle(f"One output pixel, three output channels from three input channels ({label})", fontsize=10)
    path = outdir / "lesson7_color.png"
    fig.savefig(path, **SAVE)
    return path


def fig_mu(outdir, net, image, pixels, label, margin, m=None):
    """Figure 7: the same model and image run with µ = 1, 2, 3.

    The filters of a lightly trained model are close to bicubic, so the panels show what each µ
    changes: ``filter − bicubic`` (shared scale per column); the bottom row has the central rows of
    the filters and of those differences.
    """
    mus = (1, 2, 3)
    runs = []
    for mu in mus:
        df = DeepFilter(net, image, levels=2, mu=mu, margin=margin)
        runs.append((df.output, df.residual, df.filters(pixels).sum(axis=3)))
    s = 4
    bic = df.bicubic(pixels)
    if m is not None:
        m["mu"] = {"abs_f": [[float(np.abs(f[k]).sum()) for _, _, f in runs] for k in range(len(pixels))],
                   "bicubic_abs_f": [float(np.abs(b).sum()) for b in bic],
                   "max_residual": [float(np.abs(_luma(r)).max()) for _, r, _ in runs]}
    radius = 6
    ext = (-radius - 0.5, radius + 0.5, radius + 0.5, -radius - 0.5)
    names = [chr(ord("A") + k) for k in range(len(pixels))]
    fig = Figure(figsize=(3.0 * (2 + len(pixels)), 9.4), layout="constrained")
    axes = fig.subplots(len(mus) + 1, 2 + len(pixels))
    vd = [max(float(np.nanmax(np.abs(filter_window(f[k] - bic[k], pixels[k], scale=s, radius=radius)[0])))
              for _, _, f in runs) or 1.0 for k in range(len(pixels))]
    for row, (mu, (out, r, f)) in enumerate(zip(mus, runs)):
        ax = axes[row, 0]
        ax.imshow(np.clip(out, 0, 1), interpolation="nearest")
        for k, (y, x) in enumerate(pixels):
            ax.plot(x, y, "o", ms=8, mfc="none", mec="w", mew=1.5)
            ax.annotate(names[k], (x, y), xytext=(5, -5), textcoords="offset points", color="w", fontsize=9)
        ax.set_title(f"µ = {mu}: output ×{s}", fontsize=9)
        vrow = float(np.abs(_luma(r)).max()) or 1.0               # each row its own scale: µ = 1 is faint
        im_r = axes[row, 1].imshow(_luma(r), cmap=DIVERGING, vmin=-vrow, vmax=vrow, interpolation="nearest")
        axes[row, 1].set_title(f"µ = {mu}: residual R (luma), ±{vrow:.3f}", fontsize=9)
        fig.colorbar(im_r, ax=axes[row, 1], shrink=0.8)
        for k in range(len(pixels)):
            w, off = filter_window(f[k] - bic[k], pixels[k], scale=s, radius=radius)
            a = axes[row, 2 + k]
            a.imshow(w, cmap=DIVERGING, vmin=-vd[k], vmax=vd[k], extent=ext, interpolation="nearest")
            a.plot(off[1], off[0], "+", color="k", ms=6)
            a.set_title(f"µ = {mu}: filter {names[k]} − bicubic (±{vd[k]:.3f})\n"
                        f"Σ|f| = {np.abs(f[k]).sum():.3f} (bicubic {np.abs(bic[k]).sum():.3f})", fontsize=8)
    xs = np.arange(-radius, radius + 1)
    colors = ["C0", "C1", "C2"]
    for k in range(min(len(pixels), 2)):
        full, diff = axes[-1, 2 * k], axes[-1, 2 * k + 1]
        for (mu, (_, _, f)), c in zip(zip(mus, runs), colors):
            w, _ = filter_window(f[k], pixels[k], scale=s, radius=radius)
            full.plot(xs, w[radius], "o-", ms=3, color=c, label=f"µ = {mu}")
            w, _ = filter_window(f[k] - bic[k], pixels[k], scale=s, radius=radius)
            diff.plot(xs, w[radius], "o-", ms=3, color=c, label=f"µ = {mu}")
        w, _ = filter_window(bic[k], pixels[k], scale=s, radius=radius)
        full.plot(xs, w[radius], "s--", ms=3, color="k", label="bicubic")
        for a, t in ((full, f"filter {names[k]}, central row"), (diff, f"filter {names[k]} − bicubic, central row")):
            a.axhline(0, color="0.6", lw=0.6)
            a.set_title(t, fontsize=9)
            a.set_xlabel("LR pixels from the centre", fontsize=8)
            a.tick_params(labelsize=7)
            a.legend(fontsize=7)
    for a in axes[:len(mus)].ravel():
        a.set_xticks([])
        a.set_yticks([])
    for a in axes[-1, 2 * min(len(pixels), 2):]:
        a.set_axis_off()
    fig.suptitle(f"The effect of µ (back-projection steps) on filters and residual, one model ({label})",
                 fontsize=10)
    path = outdir / "lesson7_mu.png"
    fig.savefig(path, **SAVE)
    return path


def make_figures(outdir, *, small=False, model=None, measurements=None):
    """Write the lesson's figures into ``outdir``; returns their paths. With a ``measurements`` dict,
    record there the numbers lesson 7 quotes about the model."""
    m = measurements
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    net, label, x4, px4, x8, px8, where, mu_pixels = _scene(small)
    if net is None:
        from mgbp_classic.inference import default_model_path, load_model
        from mgbp_classic.train import steps_label
        path = Path(model or default_model_path())
        net, meta = load_model(path)
        label = f"{path.name}, {steps_label(meta)} of training"
        if where == "bundled sample image":
            label += "; on the bundled sample image"
    margin = 2 if small else 16
    df = DeepFilter(net, x4, levels=2, mu=2, margin=margin)
    paths = [fig_theorem(outdir, df, label, m)]
    paths.append(fig_filters(outdir, df, px4, label, "lesson7_filters_x4.png", m))
    paths.append(fig_color(outdir, df, px4[0], label, m))
    del df
    paths.append(fig_mu(outdir, net, x4 if small else x4[:32, 8:40], mu_pixels if small else
                        [(y, x - 32) for y, x in mu_pixels], label, margin, m))
    df8 = DeepFilter(net, x8, levels=1 if small else 3, mu=2, margin=margin)
    paths.append(fig_filters(outdir, df8, px8, label, "lesson7_filters_x8.png", m))
    return paths


# --------------------------------------------------------------------------------------------------
# The numbers lesson 7 quotes (checked by tests/test_claims.py; see claims.py). The model-dependent
# ones come from docs/figures/model_measurements.json, written by refresh_model.py.
from functools import lru_cache  # noqa: E402

from claims import SOLUTIONS, check, claim, exempt, measured, model_measurements  # noqa: E402

S7 = SOLUTIONS[7]                  # the instructor's page of the exercises' solutions
L7 = "lesson7_deepfilter.md"


@lru_cache(None)
def _reach(levels, mu):
    from mgbp_classic.deepfilter import support_radius
    return support_radius(levels, mu)


for _levels, _scale in ((1, 2), (2, 4), (3, 8)):
    def _row(levels=_levels):
        return [v for mu in (1, 2, 3) for v in _reach(levels, mu)]
    claim(f"l7.reach_x{_scale}", L7, f"| ×{_scale} | ¤–¤ | ¤–¤ | ¤–¤ |")(_row)


@claim("l7.reach_width", L7, "at ×4 with µ = 2, one output pixel can\ndepend on a ¤-pixel-wide square")
def _():
    a, b = _reach(2, 2)
    return a + b + 1


@claim("l7.steps", L7, "package (¤ steps of 64×64 patches, ¤ of 128×128, then ¤ of the ×2 term alone")
def _():
    from mgbp_classic.inference import load_model
    from mgbp_classic.train import training_stages
    return tuple(st["steps"] for st in training_stages(load_model()[1]))


def _m(key):
    return measured(key)()[0]


@claim("l7.theorem", L7, "at most ¤ over the whole crop\n  (and ¤ at the chosen pixels)")
def _():
    return _m("theorem_max_error"), _m("x4.pixel_error")


@claim("l7.delta_range", L7, "(Σ|Δ| between ¤ and ¤ at ×4)")
def _():
    d = _m("x4.abs_delta")
    return min(d), max(d)


@claim("l7.sums_x4", L7, "still sums to about 1 (¤–¤)")
def _():
    return min(_m("x4.sums")), max(_m("x4.sums"))


@claim("l7.space_variant", L7, "gets the smallest correction (Σ|Δ| ¤), pixels 1 and 2 on the contour of the eye\n"
       "  several times as much (¤ and ¤)")
def _():
    d = _m("x4.abs_delta")
    assert int(np.argmin(d)) == 4, "pixel 5 no longer has the smallest correction: re-read the lesson"
    assert min(d[0], d[1]) > 3 * d[4], "pixels 1, 2 no longer several times pixel 5's correction"
    return d[4], d[0], d[1]


@claim("l7.sums_x8", L7, "the filters' sums vary\n  more (¤–¤)")
def _():
    s8, s4 = _m("x8.sums"), _m("x4.sums")
    assert max(s8) - min(s8) > max(s4) - min(s4), "the x8 sums no longer vary more than the x4 ones"
    return min(s8), max(s8)


@claim("l7.mu_gain", L7, "(A: ¤,\n  ¤, ¤; B: ¤, ¤, ¤ for µ = 1, 2, 3; bicubic ¤)")
def _():
    a, b = _m("mu.abs_f")
    assert a == sorted(a) and b == sorted(b), "the noise gain no longer grows with µ"
    return (*a, *b, _m("mu.bicubic_abs_f")[0])


@claim("l7.mu_residual", L7, "(max |R|\n  ¤, ¤, ¤)")
def _():
    r = _m("mu.max_residual")
    assert r == sorted(r), "the residual no longer grows with µ"
    return r


@claim("l7.residual", L7, "at ×4 (max |R| ¤ in luma), the outlines of the face, hair and hands at ×8 (max |R|\n  ¤)")
def _():
    return _m("x4.max_residual"), _m("x8.max_residual")


@claim("l7.color", L7, "(±¤), but the\n  cross-channel filters are not negligible (±¤, a quarter) and sum to about 0 (¤ …\n  ¤)")
def _():
    c = model_measurements()["color"]
    assert 0.15 < c["off_diag"] / c["diag"] < 0.35, "the cross-channel filters are no longer about a quarter"
    return c["diag"], c["off_diag"], min(c["off_sums"]), max(c["off_sums"])


@claim("l7.check_reach", L7, "`support_radius(2, 2)` (`mgbp_classic.deepfilter`) — (¤, ¤) LR pixels")
def _():
    return _reach(2, 2)


@claim("l7.check_luma", L7, "The luma weights `(¤, ¤, ¤)` sum to 1")
def _():
    from mgbp_classic.deepfilter import LUMA_WEIGHTS
    assert abs(sum(LUMA_WEIGHTS) - 1) < 1e-12
    return LUMA_WEIGHTS


exempt(L7, "`Y′ = 0.299 R + 0.587 G + 0.114 B`", "the BT.601 luma weights (checked by l7.check_luma)")
exempt(L7, "is of the order of 1e-7 (float32)", "the float32 round-off")
exempt(L7, "(add noise of amplitude 1e-6)", "an exercise's input")
exempt(L7, "then add noise of amplitude 0.05", "an exercise's input")
exempt(S7, "Noise of 1e-6 flips no gain", "an exercise's input")
exempt(S7, "compared with 1e-6), so", "an exercise's input")
exempt(L7, "float32 rounding\n(about 1e-7), nothing else", "the float32 round-off")
exempt(S7, "with 0.05 some", "an exercise's input")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the figures of lesson 7 into docs/figures/.")
    parser.add_argument("--model", default=None, help="model file (default: the shipped pretrained model)")
    args = parser.parse_args()
    for p in make_figures(FIGURES, model=args.model):
        print(p)
