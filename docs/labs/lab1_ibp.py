# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lab 1 — Iterative Back-Projection and its predicted rate
#
# *After lesson 2 (`docs/lesson2_ibp.md`). About two hours. 10 points, graded automatically:*
#
# ```bash
# python docs/labs/grader.py lab1 docs/labs/lab1_ibp.py      # or your copy, .py or .ipynb
# ```
#
# Write the four functions below where they say `YOUR CODE HERE` (delete the
# `raise NotImplementedError`). The grader takes your imports, your functions and your UPPER_CASE
# constants, calls the functions on inputs of its own and compares them with the package; the
# other cells are yours to experiment in. Do not call `mgbp_classic.ibp` or
# `mgbp_classic.convergence` inside your functions: writing them is the exercise.
#
# | task | points | difficulty |
# |---|---|---|
# | 1 `ibp`: eqs. (2)–(3) with the operators `D` and `P`, and the residual history | 4 | ★ |
# | 2 `symbol`: `h(ω)` of `D P` from the taps of `p` | 3 | ★★ |
# | 3 `predicted_rate`: `ρ = 1 − h(π)²` | 2 | ★ |
# | 4 `measured_rate`: the rate a history shows | 1 | ★ |
#
# Difficulty: ★ routine, ★★ a derivation or a short program, ★★★ a proof or an investigation.

# %%
import matplotlib.pyplot as plt
import numpy as np

import labkit  # noqa: F401  (the package's names the labs use: docs/labs/labkit.py)
from labkit import Downscale, Upscale

# %% [markdown]
# ## Task 1 (★, 4 points): IBP in a few lines
#
# Starting from `Y⁽⁰⁾ = P(X)`, repeat eq. (2) and eq. (3):
# `e = X − D(Y⁽ᵗ⁾)`, `Y⁽ᵗ⁺¹⁾ = Y⁽ᵗ⁾ + P(e)`. Return the image after `steps` updates and the
# history of the residual, `history[t]` = RMS of `X − D(Y⁽ᵗ⁾)` (the root of the mean of the squares)
# for `t = 0 … steps` — `steps + 1` numbers.


# %%
def ibp(x, steps, D, P):
    """IBP: ``(image after `steps` updates, list of steps + 1 residual RMS values)``.

    ``D`` and ``P`` are operators (callables) such as ``Downscale(2)`` and ``Upscale(2)``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# Try it: on a random image with periodic boundaries the residual should fall geometrically.

# %%
x = np.random.default_rng(0).random((16, 16))
D, P = Downscale(2, mode="wrap"), Upscale(2, mode="wrap")
try:
    y, history = ibp(x, 40, D, P)
    plt.semilogy(history, "o-", ms=3)
    plt.xlabel("step t")
    plt.ylabel("RMS of X − D(Y)")
    plt.show()
except NotImplementedError:
    print("task 1 is not written yet")

# %% [markdown]
# ## Task 2 (★★, 3 points): the symbol of `D P`
#
# For the bicubic pair (`g = p/s`) lesson 2 gives
# `h(ω) = (1/s²) Σ_{r=0}^{s−1} |p̂((ω + 2πr)/s)|²`, with `p̂(ω) = Σ_m p[m] e^{−iωm}` the response
# of the taps `p = Upscale(s).taps` (the phase of `p̂` does not matter here: only `|p̂|` enters).
# Return `h` at every frequency of the array `omega` (radians on the LR grid).


# %%
def symbol(omega, scale):
    """``h(ω)`` of ``D P`` for MATLAB's bicubic pair at ``scale``, for an array ``omega``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %%
try:
    w = np.linspace(0, np.pi, 200)
    plt.plot(w / np.pi, symbol(w, 2), label="×2")
    plt.plot(w / np.pi, symbol(w, 4), label="×4")
    plt.xlabel("ω/π (LR grid)")
    plt.ylabel("h(ω)")
    plt.legend()
    plt.show()
    print("h(0) =", symbol(np.array([0.0]), 2)[0], " h(π) =", symbol(np.array([np.pi]), 2)[0], "(lesson 2: 0.4727)")
except NotImplementedError:
    print("task 2 is not written yet")

# %% [markdown]
# ## Task 3 (★, 2 points): the predicted rate
#
# In two dimensions the symbol is `h(ω₁) h(ω₂)` and the residual contracts at
# `ρ = max |1 − h(ω₁) h(ω₂)|`, which for the bicubic pair is `1 − h(π)²` (lesson 2 §2). Use your
# `symbol`.


# %%
def predicted_rate(scale):
    """IBP's predicted contraction per step (periodic boundaries) at ``scale``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Task 4 (★, 1 point): the rate a history shows
#
# Return the geometric mean of the last `last` per-step ratios of a residual history,
# `(history[-1] / history[-1 - last]) ** (1 / last)`.


# %%
def measured_rate(history, last=10):
    """Mean per-step ratio of the last ``last`` steps of ``history``."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## Predicted against measured
#
# At ×2, ×4 and ×8, on random images with periodic boundaries.

# %%
try:
    for s in (2, 4, 8):
        x = np.random.default_rng(s).random((16, 16))
        _, hist = ibp(x, 60, Downscale(s, mode="wrap"), Upscale(s, mode="wrap"))
        print(f"×{s}: predicted {predicted_rate(s):.4f}, measured {measured_rate(hist):.4f}")
except NotImplementedError:
    print("tasks 1–4 are not all written yet")

# %% [markdown]
# ## For your report (graded by hand)
#
# 1. The measured rate approaches the predicted one from below. Which frequencies leave the
#    residual first, and which one is left at the end? (Lesson 2, the residual-decay figure.)
# 2. Run your `ibp` with `mode="reflect"` (MATLAB's boundaries) on a 36 × 48 image at ×2. Is the
#    measured rate still `1 − h(π)²`? Why not? (Lesson 2 §2: the DCT.)
