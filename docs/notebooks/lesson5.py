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
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
