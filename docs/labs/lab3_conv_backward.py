# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lab 3 — A convolution and its backward pass, checked like the engine
#
# *After lesson 5 (`docs/lesson5_convnet.md`, §2 and §7). About two hours. 10 points, graded
# automatically:*
#
# ```bash
# python docs/labs/grader.py lab3 docs/labs/lab3_conv_backward.py      # or your copy, .py or .ipynb
# ```
#
# Write the functions below in NumPy where they say `YOUR CODE HERE` (loops over the `ℓ × ℓ` taps are
# fine; loops over pixels are slow but accepted). The grader compares them with the package's engine
# (`mgbp_classic.nn`); do not call the engine inside your functions — the last cell of this notebook
# compares with it for you.
#
# | task | points | difficulty |
# |---|---|---|
# | 1 `conv2d_forward`: lesson 5's convolution with zero padding `ℓ // 2` and a stride | 2 | ★ |
# | 2 `conv2d_backward`: `dx`, `dw` and `dbias` (2 + 2 + 1) | 5 | ★★ |
# | 3 `numerical_gradient`: central differences of a scalar function | 2 | ★ |
# | 4 `relative_error`: the number a gradient check reports | 1 | ★ |
#
# Shapes (lesson 5's notation): `x` is `(n_b, Ci, n_y, n_x)`, `w` is `(Co, Ci, ℓ, ℓ)`, `bias` is `(Co,)`,
# and
#
# ```
# y[n, o, i, j] = Σ_{c, ξ, η} w[o, c, ξ, η] · x[n, c, stride·i + ξ − pad, stride·j + η − pad]  (+ bias[o]),
# ```
#
# `x` zero outside the image, `pad = ℓ // 2`, output rows `⌊(n_y + 2·pad − ℓ)/stride⌋ + 1`.

# %%
import numpy as np

import labkit  # noqa: F401  (the package's names the labs use: docs/labs/labkit.py)

# %% [markdown]
# ## Task 1 (★, 2 points): the forward pass


# %%
def conv2d_forward(x, w, bias=None, stride=1):
    """Lesson 5's convolution (a cross-correlation, as in PyTorch) with zero padding ``ℓ // 2``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Task 2 (★★, 5 points): the backward pass
#
# Given `dy = ∂J/∂y` (the shape of `y`), return `(dx, dw, dbias)` = `(∂J/∂x, ∂J/∂w, ∂J/∂bias)`.
# Read them off the formula (lesson 5 §2): every output that used `w[o, c, ξ, η]` contributes
# `dy · x`; every input pixel collects `w · dy` from every output that read it; the bias receives
# the sum of `dy` over the batch and the pixels.


# %%
def conv2d_backward(dy, x, w, stride=1):
    """``(dx, dw, dbias)`` of :func:`conv2d_forward` for the output gradient ``dy``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Task 3 (★, 2 points): central differences
#
# `f` is a function of the array `x` returning a number. Return the array of
# `(f(x + ε e_i) − f(x − ε e_i)) / (2ε)` for every entry `i` of `x` (same shape as `x`), and leave
# `x` as you found it.


# %%
def numerical_gradient(f, x, eps=1e-6):
    """Central finite differences of the scalar function ``f`` at ``x``, entry by entry."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Task 4 (★, 1 point): the relative error
#
# `max |a − b| / max(max |a|, max |b|)`, and 0 when both arrays are zero.


# %%
def relative_error(a, b):
    """The largest disagreement relative to the largest entry of either array."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Check your backward pass as lesson 5 checks the engine
#
# On small, odd shapes (so that an off-by-one in the padding or the stride cannot hide), in
# float64, for a random projection `r` of the output: `J(x, w, bias) = Σ r ⊙ conv(x; w, bias)`.
# Every relative error should be around 1e-9 or below.

# %%
rng = np.random.default_rng(0)
try:
    for ell, stride, shape in ((3, 1, (2, 3, 5, 7)), (3, 2, (2, 3, 7, 6)), (1, 1, (1, 4, 3, 5))):
        x = rng.standard_normal(shape)
        w = rng.standard_normal((4, shape[1], ell, ell))
        bias = rng.standard_normal(4)
        r = rng.standard_normal(conv2d_forward(x, w, bias, stride).shape)
        dx, dw, dbias = conv2d_backward(r, x, w, stride)
        checks = {"dx": (dx, numerical_gradient(lambda a: np.sum(r * conv2d_forward(a, w, bias, stride)), x)),
                  "dw": (dw, numerical_gradient(lambda a: np.sum(r * conv2d_forward(x, a, bias, stride)), w)),
                  "dbias": (dbias, numerical_gradient(lambda a: np.sum(r * conv2d_forward(x, w, a, stride)), bias))}
        print(f"ℓ = {ell}, stride {stride}: " + ", ".join(f"{k} {relative_error(*v):.1e}" for k, v in checks.items()))
except NotImplementedError:
    print("tasks 1–4 are not all written yet")

# %% [markdown]
# ## … and against the engine

# %%
from labkit import nn  # noqa: E402

try:
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    bias = rng.standard_normal(4)
    y_engine, cache = nn.conv2d_forward(x, w, bias, stride=2)
    dy = rng.standard_normal(y_engine.shape)
    dw_engine, dbias_engine = np.zeros_like(w), np.zeros_like(bias)
    dx_engine = nn.conv2d_backward(dy, cache, dw_engine, dbias_engine)
    dx, dw, dbias = conv2d_backward(dy, x, w, stride=2)
    print("forward:", relative_error(conv2d_forward(x, w, bias, 2), y_engine))
    print("dx, dw, dbias:", relative_error(dx, dx_engine), relative_error(dw, dw_engine),
          relative_error(dbias, dbias_engine))
except NotImplementedError:
    print("tasks 1–4 are not all written yet")

# %% [markdown]
# ## For your report (graded by hand)
#
# 1. Run your gradient check in float32 (`x.astype(np.float32)`, …) for ε = 1e-2, 1e-4, 1e-6. What
#    happens, and why (lesson 5 §7)?
# 2. Show from your `conv2d_backward` that for stride 1 and `ℓ = 3`, `dx` is the convolution of `dy`
#    with the kernel flipped and transposed, `w'[c, o, ξ, η] = w[o, c, 2 − ξ, 2 − η]` (lesson 5,
#    exercise 4), and check it numerically with your `conv2d_forward`.
