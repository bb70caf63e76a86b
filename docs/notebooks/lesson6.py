# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 6 — The MGBP network: Algorithm 1 with learned operators (notebook)
#
# Companion of [`docs/lesson6_network.md`](../lesson6_network.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson6 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
