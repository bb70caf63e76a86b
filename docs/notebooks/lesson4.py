# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 4 — Convergence: what IBP and MGBP enforce, how fast, and when they do not (notebook)
#
# Companion of [`docs/lesson4_convergence.md`](../lesson4_convergence.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson4 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
