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
# ## Theorem 4.1: IBP's rate from the symbol, against a measurement

# %%
import warnings  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from course import controls, done  # noqa: E402
from mgbp_classic import convergence as C  # noqa: E402

rho = C.ibp_rate()
print(f"ρ = {rho:.6f} = 50895/65536: {abs(rho - 50895 / 65536) < 1e-12}")
x = np.random.default_rng(0).random((8, 8))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    h = L.ibp(x, 2, iterations=60, tol=None, mode="wrap").history
print(f"measured ratio at step 60: {h[-1] / h[-2]:.4f}")

# %% [markdown]
# ## Control: N and µ against the per-frequency rate map (Lemma 4.4)
#
# The largest excited eigenvalue of each Fourier block of the finest level's step operator `E_L`.
# With N even the centre (low frequencies) goes to 1; with N odd it is fast.


# %%
def plot_rate_map(levels=3, mu=1, shape=8):
    r = C.mgbp_rate(levels=levels, mu=mu, shape=shape)
    fmap = np.fft.fftshift(r.frequency_map)
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(fmap.T, origin="lower", extent=[-1, 1, -1, 1], cmap="magma")
    fig.colorbar(im, ax=ax)
    ax.set_title(f"N = {levels}, µ = {mu}: per step {r.per_step:.4f}, full {r.full:.4f}", fontsize=9)
    ax.set_xlabel(r"$\omega_1/\pi$")
    ax.set_ylabel(r"$\omega_2/\pi$")
    done(fig)


controls(plot_rate_map, levels=[3, 1, 2, 4], mu=[1, 2, 3], shape=[8, 16])

# %% [markdown]
# ## Self-checks (the numbers the lesson quotes)

# %%
print(f"ibp_rate() = {C.ibp_rate():.6f}")                                                  # 0.776596
r3 = C.mgbp_rate(levels=3, mu=1, shape=8)
print(f"N = 3, µ = 1: per step {r3.per_step:.4f}, full {r3.full:.4f}")                     # 0.7879, 0.8828
assert abs(r3.per_step - 0.7879) < 5e-5
l3 = C.mgbp_rate("lanczos3", "lanczos3", levels=2, mu=1, shape=8).per_step
print(f"Lanczos-3, N = 2, µ = 1: {l3:.4f} per step (> 1: the level residual grows)")     # 1.0486
assert l3 > 1

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
