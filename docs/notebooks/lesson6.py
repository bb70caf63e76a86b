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
# ## §1–2 Parameters and module applications, from the code

# %%
counts, blocks, total = L.parameter_counts()
for module, n in counts.items():
    print(f"{module:10s} {n:8,d} parameters")
print(f"{'total':10s} {total:8,d}")                                                   # 263,859
for mu in (1, 2, 3):
    events = L.trace(3, mu)
    print(f"µ = {mu}: Upscale ×{sum(e[0] == 'Upscale' for e in events)}, "
          f"Downscale ×{sum(e[0] == 'Downscale' for e in events)}")                   # 9, 25, 57
assert sum(e[0] == "Upscale" for e in L.trace(3, 2)) == 25

# %% [markdown]
# ## Control: N and µ against the unrolled network
#
# Every module application of the network for N doublings and µ back-projection steps, in the
# order the recursion runs them (compare the paper's Figure 2), with the count of each module.

# %%
import matplotlib.pyplot as plt  # noqa: E402

from course import controls, done  # noqa: E402


def plot_unrolled(mu=2, levels=3):
    events = L.trace(levels, mu)
    fig, ax = plt.subplots(figsize=(12, 2.8))
    for t, (name, a, b) in enumerate(events):
        ax.plot([t, t + 1], [a, b], color=L.COLOURS[name], lw=2.5)
        if a == b:
            ax.plot([t + 0.5], [a], "o", color=L.COLOURS[name], ms=5)
    counts = {n: sum(e[0] == n for e in events) for n in L.COLOURS}
    ax.set_yticks(range(levels + 1), ["input"] + [f"{2 ** j}×" for j in range(1, levels + 1)])
    ax.set_title(f"N = {levels}, µ = {mu}: " + ", ".join(f"{n} ×{c}" for n, c in counts.items()), fontsize=9)
    ax.set_xlabel("module application, in order")
    ax.grid(alpha=0.3)
    done(fig)


controls(plot_unrolled, mu=[2, 1, 3], levels=[3, 1, 2, 4])

# %% [markdown]
# ## §3 Weight sharing: gradients of a module used twice add
#
# A FilterBlock applied twice with the same weights: the accumulated gradient equals the sum of the
# two separate ones.

# %%
import numpy as np  # noqa: E402

from mgbp_classic import nn  # noqa: E402

rng = np.random.default_rng(0)
store = nn.ParamStore(seed=0, dtype=np.float64)
block = nn.FilterBlock(store, "fb", 3, growth=2, bottleneck=4)
store.finalize()
x1, x2 = rng.standard_normal((1, 3, 5, 5)), rng.standard_normal((1, 3, 5, 5))
(y1, c1), (y2, c2) = block.forward(x1), block.forward(x2)
r1, r2 = rng.standard_normal(y1.shape), rng.standard_normal(y2.shape)
store.zero_grad()
block.backward(r1, c1)
g1 = store.grads.copy()
store.zero_grad()
block.backward(r2, c2)
g2 = store.grads.copy()
store.zero_grad()
block.backward(r1, c1)
block.backward(r2, c2)
print("accumulated == sum of the two:", np.allclose(store.grads, g1 + g2))

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
