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
# compare the two separate passes with the network's output; then compare one row of F with finite
# differences of the real network (a row of F is the gradient of one output pixel).

# %%
import os  # noqa: E402

import numpy as np  # noqa: E402

from mgbp_classic import sample_image_path  # noqa: E402
from mgbp_classic.deepfilter import DeepFilter  # noqa: E402
from mgbp_classic.imaging.io import read_image  # noqa: E402

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
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL, model=MODEL))
