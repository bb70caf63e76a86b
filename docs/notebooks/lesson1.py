# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Lesson 1 — Upsampling and filtering (notebook)
#
# Companion of [`docs/lesson1_upsampling.md`](../lesson1_upsampling.md). Run top to bottom; the last
# cell rewrites the lesson's figures. `MGBP_DOCS_SMALL=1` runs the small version.

# %%
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
sys.path.insert(0, str(HERE.parent / "scripts"))

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lesson1 as L  # noqa: E402
from course import OUT, SMALL, controls, done, show  # noqa: E402
from mgbp_classic.resize import Downscale, Upscale, imresize  # noqa: E402

# %% [markdown]
# ## §2 The interpolation filter: `(x ↑ s) ∗ p` is MATLAB's bicubic
#
# The polyphase taps of the 2× bicubic filter, and the check that zero insertion followed by
# convolution with them is `imresize(x, 2)`.

# %%
print("taps of p (2×):", Upscale(2).taps)
print("phases:", Upscale(2).taps[0::2], Upscale(2).taps[1::2], "sums:",
      Upscale(2).taps[0::2].sum(), Upscale(2).taps[1::2].sum())
x = np.random.default_rng(0).random((16, 16))
assert np.allclose(Upscale(2)(x), imresize(x, 2))          # (x ↑ 2) ∗ p == MATLAB bicubic
x1 = np.random.default_rng(1).random(24)
assert np.allclose(L.upsample_and_filter(x1, 2), imresize(x1[:, None], (2, 1))[:, 0])

# %% [markdown]
# ## Control: kernel and scale against `|p̂(ω)|/s`
#
# Pick a kernel and a scale: the frequency response of the resulting upscaling filter against the
# ideal low-pass. Watch the box kernel's side lobes grow with `s`, and the cubic response at the
# cut-off stay near one half.

# %%
def plot_response(kernel="cubic", s=2):
    w = np.linspace(0, np.pi, 1025)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(w / np.pi, L.response(s, w, kernel), label=f"{kernel}, ×{s}")
    ax.plot([0, 1 / s, 1 / s, 1], [1, 1, 0, 0], "k--", lw=1, label="ideal")
    ax.axvline(1 / s, color="0.6", lw=0.5)
    ax.set_xlabel(r"$\omega/\pi$ (fine grid)")
    ax.set_ylabel(r"$|\hat p(\omega)|/s$")
    ax.set_ylim(0, 1.1)
    ax.legend()
    cut = L.response(s, np.pi / s, kernel)[0]
    ax.set_title(f"|p̂|/s at the cut-off π/{s}: {cut:.3f}")
    done(fig)


controls(plot_response, kernel=["cubic", "box", "linear", "lanczos2", "lanczos3"], s=[2, 3, 4, 8])

# %% [markdown]
# ## Self-checks (the numbers the lesson quotes)

# %%
cut = L.response(2, np.pi / 2)[0]
print(f"bicubic |p̂(π/2)|/2 = {cut:.3f}")                     # the lesson: 0.486
assert abs(cut - 0.486) < 5e-4
alias = L.wrap_frequency(4 * 0.52 * np.pi) / np.pi
print(f"alias of 0.52π after ↓4: {alias:.2f}π")                # the lesson: 0.08π
assert abs(alias - 0.08) < 5e-3
w1, w2 = np.pi * np.array(L.HIGH_GRATING)
print(f"narrow cubic passes {100 * L.narrow_cubic_response(w1) * L.narrow_cubic_response(w2):.0f}% of the alias; "
      f"the widened g passes {L.widened_response(w1) * L.widened_response(w2):.1e}")

# %% [markdown]
# ## §4 The bicubic pair: `D = Pᵀ/s²`, and `D P ≠ I`

# %%
for mode in ("wrap", "reflect"):
    y = np.random.default_rng(2).random((27, 27))
    gap = np.abs(Downscale(3, mode=mode)(y) - Upscale(3, mode=mode).adjoint(y) / 9).max()
    print(f"{mode:8s} max |D y − Pᵀ y / s²| = {gap:.1e}")
xs = np.random.default_rng(3).random((12, 12))
print("RMS of X − D(P(X)) for a random X:", np.sqrt(np.mean((xs - Downscale(2)(Upscale(2)(xs))) ** 2)))

# %% [markdown]
# ## The figures of the lesson

# %%
paths = show(L.make_figures(OUT, small=SMALL))
