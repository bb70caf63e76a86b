# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lab 2 — One back-projection step of Algorithm 1, and the whole algorithm
#
# *After lesson 3 (`docs/lesson3_multigrid.md`). About two hours. 10 points, graded automatically:*
#
# ```bash
# python docs/labs/grader.py lab2 docs/labs/lab2_multigrid.py      # or your copy, .py or .ipynb
# ```
#
# Write the functions below where they say `YOUR CODE HERE`. The grader takes your imports,
# functions and UPPER_CASE constants and compares your results with the package's recursion
# (`mgbp_classic/recursion.py`); do not call it (or `mgbp_classic.multigrid`) inside your
# functions.
#
# | task | points | difficulty |
# |---|---|---|
# | 1 `back_project`: `BP^µ_k`, lines 1–6 of the right column of Algorithm 1 | 4 | ★★ |
# | 2 `mgbp`: Algorithm 1's outer loop, every level | 3 | ★ |
# | 3 `level_residual`: what a step at level `k` drives to zero (lesson 3 §4) | 2 | ★ |
# | 4 `down_projections`: `C(k)`, the down-projections of one call of `BP^µ_k` | 1 | ★ |
#
# Conventions (those of the lesson and of the package): levels are numbered from 1 (the input);
# `ys` is the Python list `[Y_1, …, Y_{k−1}]`, so `Y_{k−1}` is `ys[k − 2]`; `D` and `P` are the
# 2× operators, `D(u) = (u ∗ g) ↓ 2` and `P(x) = (x ↑ 2) ∗ p`.
#
# ```
# MGBP(X, µ, L):                          BP^µ_k(u, Y_1, …, Y_{k−1}):
# 1: Y_1 = X                              1: if k > 1 then
# 2: for k = 2, …, L do                   2:   for step = 1, …, µ do
# 3:   u   = (Y_{k−1} ↑ 2) ∗ p            3:     d = BP^µ_{k−1}((u ∗ g) ↓ 2, Y_1, …, Y_{k−2})
# 4:   Y_k = BP^µ_k(u, Y_1 … Y_{k−1})     4:     u = u + (Y_{k−1} − d) ↑ 2 ∗ p
# 5: end for                              5:   end for
#                                         6: end if   (return u)
# ```

# %%
import numpy as np

import labkit  # noqa: F401  (the package's names the labs use: docs/labs/labkit.py)
from labkit import Downscale, Upscale

D, P = Downscale(2, mode="wrap"), Upscale(2, mode="wrap")

# %% [markdown]
# ## Task 1 (★★, 4 points): `BP^µ_k`
#
# Recursive, as written: at level 1 return `u` unchanged; above it, µ times: down-project `u`,
# make the result consistent with the levels below by `BP^µ_{k−1}` (line 3), and back-project the
# remaining difference with `Y_{k−1}` (line 4).


# %%
def back_project(u, k, ys, mu, D, P):
    """``BP^µ_k(u, Y_1, …, Y_{k−1})`` with ``ys = [Y_1, …, Y_{k−1}]`` (at least)."""
    ### BEGIN SOLUTION
    if k > 1:
        for _ in range(mu):
            d = back_project(D(u), k - 1, ys, mu, D, P)
            u = u + P(ys[k - 2] - d)
    return u
    ### END SOLUTION


# %% [markdown]
# ## Task 2 (★, 3 points): Algorithm 1
#
# `levels` is the number `N` of 2× doublings (Algorithm 1's `L = N + 1`). Return the list
# `[Y_1, Y_2, …, Y_{N+1}]`: the input and every upscaled level.


# %%
def mgbp(x, levels, mu, D, P):
    """Algorithm 1: ``[X, Y_2x, Y_4x, …]`` for ``levels`` doublings and µ steps per level."""
    ### BEGIN SOLUTION
    ys = [x]
    for k in range(2, levels + 2):
        u = P(ys[-1])
        ys.append(back_project(u, k, ys, mu, D, P))
    return ys
    ### END SOLUTION


# %% [markdown]
# Try it: with one doubling MGBP is IBP (lesson 3 §2); the W-cycle (µ = 2) of three doublings makes
# 8× the input.

# %%
x = np.random.default_rng(0).random((8, 10))
try:
    levels = mgbp(x, 3, 2, D, P)
    print("shapes:", [y.shape for y in levels])
    y2 = mgbp(x, 1, 3, D, P)[-1]
    z = P(x)
    for _ in range(3):
        z = z + P(x - D(z))
    print("one doubling with µ = 3 == three IBP steps:", np.allclose(y2, z))
except NotImplementedError:
    print("tasks 1–2 are not written yet")

# %% [markdown]
# ## Task 3 (★, 2 points): the level residual
#
# The quantity a step at level `k` drives to zero is `e_k(u) = Y_{k−1} − BP^µ_{k−1}(D u)`
# (lesson 3 §4, lesson 4 Theorem 4.3) — not the residual `X − D^{k−1}(u)` of model (4).


# %%
def level_residual(u, k, ys, mu, D, P):
    """``e_k(u) = Y_{k−1} − BP^µ_{k−1}(D(u), Y_1, …, Y_{k−2})`` (``k ≥ 2``)."""
    ### BEGIN SOLUTION
    return ys[k - 2] - back_project(D(u), k - 1, ys, mu, D, P)
    ### END SOLUTION


# %% [markdown]
# Try it: iterate the finest level of three doublings (`u ← BP^µ_4(u)`) and watch its level residual
# fall while the residual of model (4) does not (lesson 3's residual figure).

# %%
try:
    ys = mgbp(x, 3, 1, D, P)
    u = ys[-1]
    for cycle in range(6):
        e = level_residual(u, 4, ys, 1, D, P)
        model4 = x - D(D(D(u)))
        print(f"cycle {cycle}: level residual {np.sqrt(np.mean(e ** 2)):.2e}, "
              f"model-(4) residual {np.sqrt(np.mean(model4 ** 2)):.2e}")
        u = back_project(u, 4, ys, 1, D, P)
except NotImplementedError:
    print("tasks 1–3 are not written yet")

# %% [markdown]
# ## Task 4 (★, 1 point): counting down-projections
#
# `C(1) = 0` and `C(k) = µ (1 + C(k − 1))` (lesson 3 §3). Return `C(k)` (an integer) — from the
# closed form or the recursion.


# %%
def down_projections(k, mu):
    """``C(k)``: how many times one call of ``BP^µ_k`` applies ``D``."""
    ### BEGIN SOLUTION
    return 0 if k == 1 else mu * (1 + down_projections(k - 1, mu))
    ### END SOLUTION


# %% [markdown]
# ## For your report (graded by hand)
#
# 1. Count the `D` calls of your `mgbp(x, 3, 2, D, P)` by wrapping `D` in a function that counts
#    them, and compare with `Σ_k C(k)`. Draw the W-cycle of two doublings by hand (lesson 3,
#    exercise 1).
# 2. In the "try it" cell above, the model-(4) residual does not fall. Which relation does the
#    limit satisfy instead (lesson 3 §4, lesson 4 Proposition 4.6)?
