# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 — Iterative Back-Projection (notebook)
#
# Companion of [`docs/lesson2_ibp.md`](../lesson2_ibp.md). Run top to bottom; the last cell
# rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import lesson2 as L  # noqa: E402
from course import OUT, SMALL, show  # noqa: E402

# %% [markdown]
# ## §1 IBP in three lines
#
# `Y ← Y + P(X − D Y)`, written out with the library's operators, against `mgbp_classic.ibp.ibp`.

# %%
import warnings  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course import controls, done  # noqa: E402
from mgbp_classic.ibp import ibp  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale  # noqa: E402

x = np.random.default_rng(0).random((12, 12))
D, P = Downscale(2, mode="wrap"), Upscale(2, mode="wrap")
y = P(x)
for t in range(10):
    y = y + P(x - D(y))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ref = ibp(x, 2, iterations=10, tol=0, mode="wrap").image
print("hand-written IBP == library IBP:", np.allclose(y, ref))

# %% [markdown]
# ## §2 The rate from the symbol, against a measurement

# %%
for s in (2, 4, 8):
    print(f"×{s}: h(π) = {L.dp_symbol(s, np.array([np.pi]))[0]:.4f}, ρ = {L.predicted_rate(s):.4f}")
h = L.run_ibp(x, 2, 60, mode="wrap").history
print(f"measured ratio after 60 steps: {h[-1] / h[-2]:.4f}  (predicted {L.predicted_rate(2):.4f})")
L.check_dct_eigenvalues(2, 12)
print("D P with reflect boundaries has the DCT eigenvalues h(πm/n): checked")

# %% [markdown]
# ## Control: the number of steps `t` against the effective filter
#
# `|p̂(ω) c_t(sω)|/s` for the chosen `t`, with bicubic (`t = 0`) and the limit. Watch the bump below
# the cut-off grow, and the response just above it (the first spectral image) rise too.


# %%
def plot_effective(t=1, s=2):
    w = np.linspace(0, np.pi, 1025)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(w / np.pi, L.effective_filter(s, w, 0), "k", label="bicubic (t = 0)")
    ax.plot(w / np.pi, L.effective_filter(s, w, t), "C0", lw=2, label=f"t = {t}")
    ax.plot(w / np.pi, L.effective_filter(s, w, None), "C3:", label="limit p̂/h")
    ax.plot([0, 1 / s, 1 / s, 1], [1, 1, 0, 0], "0.5", ls="--", lw=1, label="ideal")
    ax.set_xlabel(r"$\omega/\pi$ (HR grid)")
    ax.set_ylim(0, 1.4)
    ax.legend(fontsize=8)
    gap = np.max(np.abs(L.effective_filter(s, w, t) - L.effective_filter(s, w, None)))
    ax.set_title(f"×{s}, t = {t}: largest distance to the limit {gap:.3f}")
    done(fig)


controls(plot_effective, t=list(range(0, 21)), s=[2, 4, 8])

# %% [markdown]
# ## Self-checks (the numbers the lesson quotes)

# %%
print(f"ρ (×2, periodic) = {L.predicted_rate(2):.3f}")                      # lesson: 0.777
assert abs(L.predicted_rate(2) - 0.777) < 5e-4
print(f"ρ (×2, DCT, 36×48) = {L.predicted_rate(2, (36, 48)):.3f}")          # lesson: 0.775
assert abs(L.predicted_rate(2, (36, 48)) - 0.775) < 5e-4
scores = L.sample_scores()
print(f"sample ×2: bicubic {scores[0][0]:.2f} dB, five IBP steps {scores[5][0]:.2f} dB")   # lesson: 34.73
assert abs(scores[5][0] - 34.73) < 5e-3

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
