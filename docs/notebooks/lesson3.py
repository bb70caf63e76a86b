# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 3 — Multi-Grid Back-Projection (notebook)
#
# Companion of [`docs/lesson3_multigrid.md`](../lesson3_multigrid.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson3 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## §2 Algorithm 1, and "one doubling is IBP"

# %%
import warnings  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course import controls, done  # noqa: E402
from mgbp_classic.ibp import ibp  # noqa: E402
from mgbp_classic.multigrid import mgbp  # noqa: E402

x = np.random.default_rng(0).random((10, 12))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for mu in (1, 2, 3):
        same = np.array_equal(mgbp(x, levels=1, mu=mu).levels[-1], ibp(x, 2, iterations=mu, tol=0).image)
        print(f"N = 1, µ = {mu}: MGBP == IBP with {mu} steps: {same}")

# %% [markdown]
# ## Control: µ and N for the traced cycle
#
# The levels the recursion visits, from a trace of the running code (`TracingOperators`).


# %%
def plot_cycle(mu=2, levels=3):
    ops = L.trace(levels, mu)
    path = ops.path()
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.plot(range(len(path)), path, "-", color="0.6", lw=1)
    for i, ((name, _), level) in enumerate(zip(ops.events, path)):
        marker, colour, _ = L.STYLE.get(name, ("s", "k", ""))
        ax.scatter([i], [level], marker=marker, color=colour, s=20)
    ax.set_yticks(range(levels + 1), ["X"] + [f"{2 ** j}×" for j in range(1, levels + 1)])
    n_down = sum(v for (name, _), v in ops.counts().items() if name == "down")
    predicted = sum(L.down_calls(k, mu) for k in range(2, levels + 2))
    ax.set_title(f"µ = {mu}, N = {levels}: {n_down} down-projections (formula: {predicted})")
    ax.set_xlabel("operator call")
    done(fig)


controls(plot_cycle, mu=[2, 1, 3, 4], levels=[3, 1, 2, 4])

# %% [markdown]
# ## Self-checks (the numbers the lesson quotes)

# %%
print("down-projections with N = 3:", [sum(L.down_calls(k, mu) for k in range(2, 5)) for mu in (1, 2, 3)])  # 6, 22, 54
assert [sum(L.down_calls(k, mu) for k in range(2, 5)) for mu in (1, 2, 3)] == [6, 22, 54]
print("down_calls(4, 2) =", L.down_calls(4, 2))                                                        # 14
p = L.sample_psnr(4, "mgbp", 2)
print(f"sample ×4: MGBP µ = 2 {p:.2f} dB, bicubic {L.sample_psnr(4, 'bicubic'):.2f} dB")               # 29.60, 29.30
assert abs(p - 29.60) < 5e-3

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
