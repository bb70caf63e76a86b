# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 7 — Inside the network: deep filter visualisation (notebook)
#
# Companion of [`docs/lesson7_deepfilter.md`](../lesson7_deepfilter.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson7 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## Theorem 7.1 on a small crop: F X + R = net(X)
#
# With the shipped model (or a tiny untrained network in the small version), freeze the gains and
# compare the two separate passes with the network's output.

# %%
import os  # noqa: E402

import numpy as np  # noqa: E402

from mgbp_classic import sample_image_path  # noqa: E402
from mgbp_classic.deepfilter import DeepFilter, FrozenNetwork  # noqa: E402
from mgbp_classic.imaging.io import read_image  # noqa: E402
from mgbp_classic.net import MGBPNet  # noqa: E402

MODEL = os.environ.get("MGBP_DOCS_MODEL")          # another model file for the figures, if set
x = read_image(sample_image_path())[20:32, 30:42] if SMALL else read_image(sample_image_path())[16:40, 24:56]
if SMALL:
    net = L._scene(True)[0]
else:
    from mgbp_classic.inference import load_model
    net = load_model(MODEL)[0] if MODEL else load_model()[0]
df = DeepFilter(net, x, levels=2, mu=2, margin=2 if SMALL else 16)
print(f"max |F X + R − net(X)| = {df.max_error():.1e}")
pixel = (10, 12)
row = df.filters([pixel])[0]                                   # (H, W, 3): luma response
print(f"filter of output pixel {pixel}: sum {row.sum():.3f}, noise gain Σ|f| {np.abs(row).sum():.3f}")

# %% [markdown]
# ## A row of F is the gradient of one output pixel: backward pass against finite differences
#
# The same weights in float64, frozen at a 12 × 12 crop (no reflection margin here: the network's
# own input). The row comes from one backward pass of the frozen network. The finite differences
# perturb input values one at a time in the *real* network,
# `(net(X + ε e_q) − net(X − ε e_q)) / 2ε` at the output pixel — every value in the small version,
# the 5 × 5 LR pixels around the output pixel with the shipped model (two forward passes per value;
# this cell takes about a minute at full size) — and, for the whole row at once, along a random
# direction `v`: `⟨row, v⟩` against `(net(X + εv) − net(X − εv)) / 2ε`. They agree wherever no
# ReLU gain flips under the perturbation: the network is piecewise affine, and a trained network has
# a few pre-activations so close to 0 that even ε = 1e-7 crosses them (the cell counts them).

# %%
net64 = MGBPNet(net.config, dtype=np.float64)
net64.store.params[...] = net.store.params
xf = np.asarray(x if SMALL else x[4:16, 6:18], dtype=np.float64)
fz = FrozenNetwork(net64, xf, levels=2, mu=2)
channel = 0                                                    # the red output channel
backward_row = fz.rows([pixel], weights=np.eye(3)[channel])[0]     # (12, 12, 3): one backward pass


def output_at(image):
    """The real (not frozen) network's output value at the pixel and channel."""
    return net64.forward(image.transpose(2, 0, 1)[None], levels=2, mu=2)[-1][0, channel, pixel[0], pixel[1]]


eps = 1e-7
radius = None if SMALL else 2
cy, cx = pixel[0] // fz.scale, pixel[1] // fz.scale
ys = range(xf.shape[0]) if radius is None else range(max(0, cy - radius), min(xf.shape[0], cy + radius + 1))
xs = range(xf.shape[1]) if radius is None else range(max(0, cx - radius), min(xf.shape[1], cx + radius + 1))
fd_row = np.zeros_like(xf)
for i in ys:
    for j in xs:
        for c in range(3):
            step = np.zeros_like(xf)
            step[i, j, c] = eps
            fd_row[i, j, c] = (output_at(xf + step) - output_at(xf - step)) / (2 * eps)
window = np.s_[ys.start:ys.stop, xs.start:xs.stop]
gap = np.abs(backward_row[window] - fd_row[window])
agree = gap < 1e-6
print(f"row of F at output pixel {pixel}, red channel, entry by entry over {gap.size} input values "
      f"(ε = {eps:g}, float64); largest entry {np.abs(backward_row[window]).max():.3f}:")
print(f"  {agree.sum()} agree with the finite differences to {gap[agree].max():.1e}", end="")
print(f"; at {(~agree).sum()} a ReLU gain flips between X − εe_q and X + εe_q (the network is only "
      f"piecewise affine), max difference {gap.max():.1e}" if (~agree).any() else "")
print("  the entries at the pixel's LR position (input R, G, B):")
print("    backward:          ", np.array2string(backward_row[cy, cx], precision=6))
print("    finite differences:", np.array2string(fd_row[cy, cx], precision=6))
rng = np.random.default_rng(0)
for _ in range(2):
    v = rng.standard_normal(xf.shape)
    v /= np.linalg.norm(v)                                     # the input moves by ε
    directional = (output_at(xf + eps * v) - output_at(xf - eps * v)) / (2 * eps)
    print(f"  the whole row along a random unit direction v: ⟨row, v⟩ = {np.sum(backward_row * v):.8f}, "
          f"finite difference {directional:.8f}")
assert agree.mean() > 0.9, "the backward row and the finite differences disagree: a bug, not a gain flip"

# %% [markdown]
# ## Control: µ and the output pixel against its filter
#
# The luma filter of one output pixel beside bicubic's, for µ = 1, 2, 3 with the same weights.
# Move the pixel from flat areas to edges; raise µ and watch the negative lobes grow.

# %%
import matplotlib.pyplot as plt  # noqa: E402

from course import controls, done  # noqa: E402

_filters = {}


def plot_filter(mu=2, y=pixel[0], x=pixel[1]):
    if mu not in _filters:
        _filters[mu] = DeepFilter(net, x_crop, levels=2, mu=mu, margin=2 if SMALL else 16)
    d = _filters[mu]
    f = d.filters([(y, x)])[0].sum(axis=2)
    b = d.bicubic([(y, x)])[0]
    v = max(np.abs(f).max(), np.abs(b).max())
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for a, img, title in ((axes[0], f, f"network, µ = {mu}: Σ|f| = {np.abs(f).sum():.2f}"),
                          (axes[1], b, f"bicubic: Σ|f| = {np.abs(b).sum():.2f}"),
                          (axes[2], f - b, "network − bicubic")):
        a.imshow(img, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        a.plot(x / d.scale - 0.5 + 0.5 / d.scale, y / d.scale - 0.5 + 0.5 / d.scale, "k+")
        a.set_title(title, fontsize=9)
        a.set_axis_off()
    fig.suptitle(f"luma filter of output pixel (y={y}, x={x}) on the LR grid", fontsize=10)
    done(fig)


x_crop = x
h4, w4 = 4 * x.shape[0], 4 * x.shape[1]
controls(plot_filter, mu=[2, 1, 3], y=list(range(pixel[0], h4, 2)) + list(range(0, pixel[0], 2)),
         x=list(range(pixel[1], w4, 2)) + list(range(0, pixel[1], 2)))

# %% [markdown]
# ## The figures of the lesson
#
# At full size this cell takes several minutes (see the lesson's header); without the test images
# it draws the figures on crops of the bundled sample image and says so.

# %%
paths = show(L.make_figures(OUT, small=SMALL, model=MODEL))
