# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lab 5 — A row of the deep filter: backward pass against finite differences
#
# *After lesson 7 (`docs/lesson7_deepfilter.md`, §1–2). About two hours. 10 points, graded
# automatically:*
#
# ```bash
# python docs/labs/grader.py lab5 docs/labs/lab5_deep_filter.py      # or your copy, .py or .ipynb
# ```
#
# Theorem 7.1: with its ReLU gains frozen at an input `X`, the network is the affine map
# `Y = F X + R`, and a row of `F` — the filter that makes one output pixel — is the gradient of that
# pixel with respect to the input. You check the theorem, then compute a row twice: by finite
# differences of the real network, and by one backward pass through the engine's tape, and compare.
# The grader compares with the package's deep-filter code (`mgbp_classic/deepfilter.py`); inside your
# functions do not use what it computes for you (`FrozenNetwork.rows`, `.max_error`,
# `.linear_part`, `.residual`, `DeepFilter`).
#
# | task | points | difficulty |
# |---|---|---|
# | 1 `theorem_gap`: `max |F X + R − net(X)|` from two frozen passes | 2 | ★ |
# | 2 `row_by_differences`: a row of `F` by central differences of the real network | 3 | ★★ |
# | 3 `row_by_backward`: the same row from one backward pass | 3 | ★★ |
# | 4 `luma_filter`: the luma view of lesson 7 §2 | 2 | ★★ |
#
# Conventions (lesson 7): images are `(H, W, C)` arrays; a pixel is `(y, x)` = (row, column); the
# network's tensors are `(N, C, H, W)`; `net.forward(tensor, levels=…, mu=…)` returns the list of
# outputs, the last one at `2^levels`×. Work in float64 (`MGBPNet(…, dtype=np.float64)`).

# %%
import matplotlib.pyplot as plt
import numpy as np

import labkit
from labkit import LUMA_WEIGHTS, FrozenNetwork, MGBPNet, NetConfig, nn


def to_tensor(image):
    """(H, W, C) image -> (1, C, H, W) tensor."""
    return np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)[None])


def to_image(tensor):
    """(1, C, H, W) tensor -> (H, W, C) image."""
    return np.ascontiguousarray(tensor[0].transpose(1, 2, 0))


# %% [markdown]
# A small untrained network (a few thousand parameters, perturbed so that its filters are not
# trivial) and a 10 × 12 crop of the sample image; the last cell uses the shipped model.

# %%
net = MGBPNet(NetConfig(features=4, growth=2, bottleneck=4, seed=1), dtype=np.float64)
net.store.params[...] += 0.05 * np.random.default_rng(0).standard_normal(net.store.size)
x = labkit.sample_image()[30:40, 30:42]
LEVELS, MU = 1, 2

# %% [markdown]
# ## Task 1 (★, 2 points): Theorem 7.1 on an input
#
# `FrozenNetwork(net, x, levels=…, mu=…)` runs the network once and records every gain;
# `frozen.apply(image)` runs the frozen network on another image of the same shape and
# `frozen.apply(image, bias=False)` the same with every bias taken as zero. Lesson 7 §1: `R` is the
# frozen network on a black image, `F X` the frozen network without biases on `X`. Return
# `max |F X + R − net(X)|` (over every output pixel and channel).


# %%
def theorem_gap(net, x, levels, mu):
    """``‖F X + R − net(X)‖∞`` with ``F X`` and ``R`` from two separate frozen passes."""
    # YOUR CODE HERE
    raise NotImplementedError


# %%
try:
    print(f"max |F X + R − net(X)| = {theorem_gap(net, x, LEVELS, MU):.1e} (float64)")
except NotImplementedError:
    print("task 1 is not written yet")

# %% [markdown]
# ## Task 2 (★★, 3 points): a row by finite differences
#
# `f` maps an input image `(H, W, C)` to the output image `(sH, sW, C)`. Return the array `(H, W, C)`
# whose entry `[i, j, c]` is `(f(x + ε e)[y, x, channel] − f(x − ε e)[y, x, channel]) / 2ε`, with
# `e` the image that is 1 at `[i, j, c]` and 0 elsewhere and `(y, x) = pixel`.


# %%
def row_by_differences(f, x, pixel, channel, eps=1e-7):
    """Row of F at output ``pixel`` = (y, x), ``channel``: central differences of ``f`` at ``x``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Task 3 (★★, 3 points): the same row from one backward pass
#
# Lesson 7 §2: seeding the output gradient with a 1 at one output pixel and channel gives that row
# of `F` as the input's gradient. With the engine's tape (lesson 6 §3):
#
# ```python
# graph = nn.Graph()
# xin = graph.input(to_tensor(x), requires_grad=True)       # the input keeps its gradient
# out = net.run(graph, xin, levels=levels, mu=mu)[-1]       # the last output node
# # … a seed of out.data's shape, 1 at (0, channel, y, x), 0 elsewhere: out.accumulate(seed)
# graph.backward()
# # xin.grad is d out[0, channel, y, x] / d X, as a (1, C, H, W) tensor
# ```
#
# The real network's gradient at `X` is the frozen network's: the gains are those of `X` (lesson 7 §1).


# %%
def row_by_backward(net, x, pixel, channel, levels, mu):
    """Row of F at output ``pixel`` = (y, x), ``channel``, as an (H, W, C) image, by one backward pass."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# Compare the two rows at a few pixels: they agree to round-off wherever no ReLU gain flips between
# `X − εe` and `X + εe` (the network is piecewise affine).

# %%
def network(image):
    return to_image(net.forward(to_tensor(image), levels=LEVELS, mu=MU)[-1])


try:
    for pixel in ((3, 5), (10, 20), (19, 2)):
        a = row_by_differences(network, x, pixel, 0)
        b = row_by_backward(net, x, pixel, 0, LEVELS, MU)
        print(f"pixel {pixel}: largest entry {np.abs(b).max():.3f}, max |difference| {np.abs(a - b).max():.1e}")
except NotImplementedError:
    print("tasks 2–3 are not written yet")

# %% [markdown]
# ## Task 4 (★★, 2 points): the luma view
#
# The filter lesson 7 draws: the response of the output luma `Y′ = 0.299 R + 0.587 G + 0.114 B`
# (`LUMA_WEIGHTS`) at `pixel` to a *grey* δ at each input pixel (the same δ in R, G and B):
# `Σ_{c_out} w_{c_out} Σ_{c_in} F[c_out, c_in]`. Return it as an `(H, W)` array — by three rows, or by
# one backward pass seeded with the luma weights.


# %%
def luma_filter(net, x, pixel, levels, mu):
    """The luma view of the filter of output ``pixel``: an (H, W) array on the input grid."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## The shipped model
#
# The same computations with the model in the package (float64 copy), on a 12 × 12 crop at ×4:
# its luma filter at a pixel on the eye ring, beside the filter's sum (1 for an interpolator).

# %%
try:
    shipped = labkit.shipped_model()
    net64 = MGBPNet(shipped.config, dtype=np.float64)
    net64.store.params[...] = shipped.store.params
    crop = labkit.sample_image()[30:42, 26:38]
    pixel = (30, 36)
    print(f"shipped model, ×4: max |F X + R − net(X)| = {theorem_gap(net64, crop, 2, 2):.1e}")
    f = luma_filter(net64, crop, pixel, 2, 2)
    plt.imshow(f, cmap="RdBu_r", vmin=-np.abs(f).max(), vmax=np.abs(f).max())
    plt.plot(pixel[1] / 4 - 0.375, pixel[0] / 4 - 0.375, "k+")
    plt.title(f"luma filter of output pixel {pixel} (×4), Σ = {f.sum():.3f}")
    plt.colorbar()
    plt.show()
except NotImplementedError:
    print("tasks 1–4 are not all written yet")

# %% [markdown]
# ## For your report (graded by hand)
#
# 1. Add noise of amplitude 1e-6, then 0.05, to `x`: does the row of `(3, 5)` change? Count the
#    gains that flip (compare `FrozenNetwork(net, x, …).tape` of the two inputs). Lesson 7,
#    exercise 3.
# 2. A column of `F` (`frozen.column(i, j, c)`) is one forward pass; a row, one backward pass.
#    Which would you compute to draw the filters of a whole image, and what would each cost?
