# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 5 — A convolutional network by hand (notebook)
#
# Companion of [`docs/lesson5_convnet.md`](../lesson5_convnet.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson5 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## §2 A convolution's output size, and its border effect

# %%
import numpy as np  # noqa: E402

from mgbp_classic import nn  # noqa: E402
from mgbp_classic.nn import kernels  # noqa: E402

y, _ = nn.conv2d_forward(np.zeros((1, 1, 5, 7)), np.zeros((1, 1, 3, 3)), stride=2)
print("5 × 7, k = 3, stride 2, pad 1 ->", y.shape[2:])                      # (3, 4)
x, zero, sym = L.laplacian_outputs()
print(f"Laplacian of a ramp: interior max |y| = {np.abs(zero[1:-1, 1:-1]).max():.1e}, "
      f"border max |y| = {np.abs(zero).max():.2f} (zero padding), {np.abs(sym).max():.1e} (symmetric)")

# %% [markdown]
# ## Exercise 3: `gather_taps` and `scatter_taps` are adjoints

# %%
rng = np.random.default_rng(0)
src = rng.standard_normal((2, 1, 5, 6))
cols = np.zeros((9, 2, 1, 5, 6))
kernels.gather_taps(src, cols, 1)
T = rng.standard_normal(cols.shape)
out = np.zeros_like(src)
kernels.scatter_taps(T, out, 1, False)
print("<gather(x), T> − <x, scatter(T)> =", float(np.sum(cols * T) - np.sum(src * out)))
assert abs(np.sum(cols * T) - np.sum(src * out)) < 1e-10

# %% [markdown]
# ## §7 Every gradient against central finite differences (float64)

# %%
results = L.gradient_checks(SMALL)
for (label, a, n), err in zip(results, L.relative_errors(results)):
    print(f"{label:16s} {a.size:5d} entries, relative error {err:.1e}")
assert max(L.relative_errors(results)) < 1e-8

# %% [markdown]
# ## Control: the step ε of the central difference, in float64 and float32
#
# The largest disagreement between the backward pass of a dense layer (§5) and central differences
# of its input, relative to the largest gradient, against ε. On the left rounding dominates
# (`∝ u/ε`; in float32 a too small ε does not even change the input — no point is drawn); on the
# right the perturbation flips a ReLU gain, where the layer stops being linear (its pieces are
# linear, so between the kinks there is no `ε²` term at all). In float32 the best ε leaves an error
# of a few 1e-6 and no ε checks a gradient to better than that — why the lesson's checks run in
# float64, where the error falls to round-off.

# %%
import matplotlib.pyplot as plt  # noqa: E402

from course import controls, done  # noqa: E402

EPSILONS = np.logspace(-11, -1, 21)


def fd_errors(dtype):
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)
    store = nn.ParamStore(seed=0, dtype=dt)
    layer = nn.DenseLayer(store, "d", 3, growth=2, bottleneck=4)
    store.finalize()
    store.params[...] += dt.type(0.1) * rng.standard_normal(store.size).astype(dt)   # biases away from 0
    x = rng.standard_normal((1, 3, 5, 7)).astype(dt)
    y, cache = layer.forward(x)
    r = rng.standard_normal(y.shape).astype(dt)
    dx = layer.backward(r, cache)
    entries = rng.choice(x.size, 12, replace=False)
    errors = []
    for eps in EPSILONS:
        worst = []
        for i in entries:
            xp, xm = x.copy().reshape(-1), x.copy().reshape(-1)
            xp[i] += dt.type(eps)
            xm[i] -= dt.type(eps)
            fp = np.sum(r * layer.forward(xp.reshape(x.shape))[0], dtype=np.float64)
            fm = np.sum(r * layer.forward(xm.reshape(x.shape))[0], dtype=np.float64)
            step = float(xp[i]) - float(xm[i])          # the step float rounding left of 2ε
            worst.append(abs((fp - fm) / step - dx.reshape(-1)[i]) if step else np.nan)
        worst = np.max(worst)                           # NaN where ε did not change the input
        errors.append(worst / np.abs(dx).max())
    return np.array(errors)


def plot_eps(dtype="float64", eps=1e-6):
    errors = fd_errors(dtype)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.loglog(EPSILONS, errors, "o-", ms=4, label=f"{dtype}: max relative error")
    k = int(np.argmin(np.abs(np.log(EPSILONS / eps))))
    ax.loglog([EPSILONS[k]], [errors[k]], "rs", ms=9, mfc="none", label=f"ε = {eps:g}: {errors[k]:.1e}" if np.isfinite(errors[k]) else f"ε = {eps:g}: no change in {dtype}")
    ax.set_xlabel("ε")
    ax.set_ylabel("relative error of the central difference")
    ax.set_title(f"dense layer, input gradient, {dtype}: best {np.nanmin(errors):.1e} at ε = "
                 f"{EPSILONS[np.nanargmin(errors)]:.0e}", fontsize=9)
    ax.legend(fontsize=8)
    done(fig)


controls(plot_eps, dtype=["float64", "float32"], eps=[1e-6, 1e-3, 1e-9, 1e-2])

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
