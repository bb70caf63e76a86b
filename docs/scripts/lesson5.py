"""Figures of lesson 5 (a convolutional network by hand): the gradient check of every layer and the
border effect of a zero-padded convolution; the numbers the lesson quotes (registered at the bottom).

The notebook ``docs/notebooks/lesson5.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures.
"""
import sys
from functools import lru_cache
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic import nn  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def finite_differences(forward, array, r, eps=1e-6, limit=None, rng=None):
    """Central differences of ``sum(r * forward())`` w.r.t. (a sample of) the entries of ``array``."""
    flat = array.reshape(-1)
    idx = np.arange(flat.size)
    if limit is not None and flat.size > limit:
        idx = np.sort(rng.choice(flat.size, limit, replace=False))
    num = np.empty(idx.size)
    for k, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + eps
        fp = np.sum(r * forward())
        flat[i] = old - eps
        fm = np.sum(r * forward())
        flat[i] = old
        num[k] = (fp - fm) / (2 * eps)
    return idx, num


def check_module(make, xshape, limit, seed=0):
    """Analytic (backward) and numerical gradients of every input and parameter of one module."""
    rng = np.random.default_rng(seed)
    store = nn.ParamStore(seed=seed, dtype=np.float64)
    mod = make(store)
    store.finalize()
    store.params[...] += 0.1 * rng.standard_normal(store.size)
    x = rng.standard_normal(xshape)
    y, cache = mod.forward(x)
    r = rng.standard_normal(y.shape)
    dx = mod.backward(r, cache)

    def forward():
        return mod.forward(x)[0]

    analytic, numeric = [], []
    for arr, grad in ((x, dx), (store.params, store.grads)):
        idx, num = finite_differences(forward, arr, r, limit=limit, rng=rng)
        analytic.append(grad.reshape(-1)[idx])
        numeric.append(num)
    return np.concatenate(analytic), np.concatenate(numeric)


MODULES = [
    ("conv 3×3", lambda s: nn.Conv2d(s, "c", 3, 4, 3, bias=True), (2, 3, 5, 7)),
    ("conv 3×3 / 2", lambda s: nn.Conv2d(s, "c", 3, 4, 3, stride=2), (2, 3, 7, 6)),
    ("conv 1×1", lambda s: nn.Conv2d(s, "c", 5, 3, 1), (2, 5, 5, 3)),
    ("transposed conv", lambda s: nn.ConvTranspose2d(s, "t", 4, 3, 3), (2, 4, 3, 5)),
    ("bias + ReLU", lambda s: nn.BiasReLU(s, "r", 3), (2, 3, 5, 7)),
    ("2× upscaler", lambda s: nn.Upsample2x(s, "u", 2), (1, 2, 3, 5)),
    ("DenseLayer", lambda s: nn.DenseLayer(s, "d", 3, growth=2, bottleneck=4), (2, 3, 5, 7)),
    ("FilterBlock", lambda s: nn.FilterBlock(s, "fb", 3, growth=2, bottleneck=4), (2, 3, 5, 3)),
]


@lru_cache(None)
def gradient_checks(small=True):
    """(label, analytic, numeric) for every module of :data:`MODULES`; ``small`` samples 40 entries."""
    limit = 40 if small else None
    return tuple((label, *check_module(make, shape, limit)) for label, make, shape in MODULES)


def relative_errors(results):
    return [float(np.abs(a - n).max() / max(np.abs(n).max(), 1e-30)) for _, a, n in results]


def fig_gradient_check(outdir, small):
    results = gradient_checks(small)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.8))
    for label, a, n in results:
        ax0.plot(n, a, ".", ms=3, label=label)
    lim = max(np.abs(np.concatenate([n for _, _, n in results])).max(), 1e-3)
    ax0.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
    ax0.set_xlabel(r"central finite difference (float64, $\varepsilon = 10^{-6}$)")
    ax0.set_ylabel("backward pass")
    ax0.set_title("every input and parameter gradient")
    ax0.legend(fontsize=7, markerscale=3)
    labels = [r[0] for r in results]
    errs = relative_errors(results)
    counts = [a.size for _, a, _ in results]
    ax1.barh(range(len(errs)), errs, color="tab:blue")
    for i, (e, c) in enumerate(zip(errs, counts)):
        ax1.text(e * 1.3, i, f"{e:.0e}  ({c} entries)", va="center", fontsize=8)
    ax1.set_yticks(range(len(errs)))
    ax1.set_yticklabels(labels)
    ax1.set_xscale("log")
    ax1.set_xlim(1e-13, 1e-3)
    ax1.invert_yaxis()
    ax1.set_xlabel("max |backward − finite difference| / max |finite difference|")
    ax1.set_title(r"relative error (rounding $\approx 10^{-16}/\varepsilon$: the check is exact)")
    fig.tight_layout()
    path = Path(outdir) / "lesson5_gradient_check.png"
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


def ramp(n=12):
    """A smooth test image: a linear ramp, whose Laplacian is exactly 0 inside the image."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return 0.2 + 0.6 * (0.6 * i + 0.4 * j) / (n - 1)


LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)


def laplacian_outputs(n=12):
    """The Laplacian of :func:`ramp` with zero padding (the engine's convolution) and with symmetric
    padding (``scipy.ndimage``'s ``reflect``)."""
    from scipy.ndimage import correlate
    x = ramp(n)
    w = LAPLACIAN[None, None]
    zero, _ = nn.conv2d_forward(x[None, None], w)
    return x, zero[0, 0], correlate(x, LAPLACIAN, mode="reflect")


def fig_conv_as_matmul(outdir, small):
    """The border effect of a zero-padded 3×3 convolution: a Laplacian on a smooth ramp."""
    x, zero, sym = laplacian_outputs()
    v = float(np.abs(zero).max())
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.9), constrained_layout=True,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
    panels = [(x, "input $x$: a linear ramp", "gray", 0, 1),
              (zero, "Laplacian, zero padding", "RdBu_r", -v, v),
              (sym, "Laplacian, symmetric padding", "RdBu_r", -v, v)]
    for ax, (img, title, cmap, lo, hi) in zip(axes, panels):
        im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    row = x.shape[0] // 2
    axes[3].plot(zero[row], "C3o-", label="zero padding")
    axes[3].plot(sym[row], "C0s-", label="symmetric padding")
    axes[3].axhline(0, color="0.6", lw=0.6)
    axes[3].set_title(f"row {row} of both outputs", fontsize=11)
    axes[3].set_xlabel("column")
    axes[3].legend(fontsize=9)
    path = Path(outdir) / "lesson5_convolution.png"
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


def make_figures(outdir, *, small=False):
    """Write the lesson's figures into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_gradient_check(outdir, small), fig_conv_as_matmul(outdir, small)]


# --------------------------------------------------------------------------------------------------
# The numbers lesson 5 quotes (checked by tests/test_claims.py; see claims.py)
from claims import check, claim, exempt  # noqa: E402

L5 = "lesson5_convnet.md"


def _net():
    from mgbp_classic.net import MGBPNet, NetConfig
    return MGBPNet(NetConfig())


@check("l5.store_key", L5, 'net.store["analysis.block.dense0.conv1.weight"]')
def _():
    _net().store["analysis.block.dense0.conv1.weight"]        # a KeyError if the name has changed
    return True


@claim("l5.check_shape", L5, "has shape ¤ × ¤\n   (`⌊(5 + 2 − 3)/2⌋ + 1 = 3`, `⌊(7 + 2 − 3)/2⌋ + 1 = 4`)")
def _():
    y, _ = nn.conv2d_forward(np.zeros((1, 1, 5, 7)), np.zeros((1, 1, 3, 3)), stride=2)
    return y.shape[2], y.shape[3]


@claim("l5.check_store", L5, "— ¤ named parameter tensors in one flat vector of\n   ¤ floats")
def _():
    store = _net().store
    return len(store.names), store.size


@claim("l5.gradcheck", L5, "below ¤\nfor every layer", kind="bound")
def _():
    return max(relative_errors(gradient_checks(True)))


@claim("l5.check_fb", L5, "on the `FilterBlock` gives a relative error below ¤", kind="bound")
def _():
    return relative_errors(gradient_checks(True))[-1]


exempt(L5, "(`u ≈ 6e-8`)", "the unit round-off of float32")
exempt(L5, "(`u ≈ 1e-16`, `ε = 1e-6`: truncation ≈ 1e-12, rounding ≈ 1e-10)", "ε², u/ε: the choice of the check")
exempt(L5, "(`1e-16 / ε`,", "the unit round-off")
exempt(L5, "(`a = −0.5`)", "the definition of Keys' kernel")


def _upsampler_taps():
    """The 8 taps the learnable classic upscaler starts from (its first channel's central row)."""
    from mgbp_classic.resize import Upscale
    store = nn.ParamStore(seed=0, dtype=np.float64)
    up = nn.Upsample2x(store, "u", 1)
    store.finalize()
    kernel = store["u.weight"].reshape(8, 8) if "u.weight" in store.names else None
    taps = Upscale(2).taps
    if kernel is not None:
        assert np.allclose(kernel, np.outer(taps, taps)), "the upscaler does not start as bicubic"
    return taps


@claim("l5.distances", L5, "at distances `(¤, ¤, ¤, ¤)` — taps `[¤, ¤, ¤,\n¤]`")
def _():
    t = _upsampler_taps()
    return (1.75, 0.75, 0.25, 1.25, t[0], t[2], t[4], t[6])


@claim("l5.taps", L5, "`p = [¤, ¤, ¤, ¤, ¤, ¤, ¤, ¤]`")
def _():
    return _upsampler_taps()



if __name__ == "__main__":
    for p in make_figures(FIGURES):
        print(p)
