"""Figures of lesson 5 (a convolutional network by hand): the gradient check of every layer.

Run ``python docs/scripts/lesson5.py`` to rewrite the figures in ``docs/figures/``; the tests call
``make_figures(tmp, small=True)``.
"""
from pathlib import Path

import matplotlib

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


def fig_gradient_check(outdir, small):
    limit = 40 if small else None
    results = []
    for label, make, shape in MODULES:
        a, n = check_module(make, shape, limit)
        results.append((label, a, n))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.4))
    for label, a, n in results:
        ax0.plot(n, a, ".", ms=3, label=label)
    lim = max(np.abs(np.concatenate([n for _, _, n in results])).max(), 1e-3)
    ax0.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
    ax0.set_xlabel("central finite difference (float64, ε = 1e-6)")
    ax0.set_ylabel("backward pass")
    ax0.set_title("every input and parameter gradient")
    ax0.legend(fontsize=7, markerscale=3)
    labels = [r[0] for r in results]
    errs = [np.abs(a - n).max() / max(np.abs(n).max(), 1e-30) for _, a, n in results]
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
    ax1.set_title("relative error (≈ rounding 1e-16 / ε: the check is exact)")
    fig.tight_layout()
    path = Path(outdir) / "lesson5_gradient_check.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def fig_conv_as_matmul(outdir, small):
    """The 3×3 convolution as one matrix product over all pixels, then a sum of 9 shifted planes."""
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, 12, 12))
    w = np.zeros((1, 1, 3, 3))
    w[0, 0] = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]            # a Laplacian: easy to read
    y, _ = nn.conv2d_forward(x, w)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    panels = [(x[0, 0], "input x", "gray"), (w[0, 0], "kernel w (Laplacian)", "coolwarm"),
              (y[0, 0], "y = w ⋆ x (zero padding)", "gray")]
    for ax, (img, title, cmap) in zip(axes, panels):
        im = ax.imshow(img, cmap=cmap)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = Path(outdir) / "lesson5_convolution.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def make_figures(outdir, *, small=False):
    """Write the lesson's figures into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_gradient_check(outdir, small), fig_conv_as_matmul(outdir, small)]


if __name__ == "__main__":
    for p in make_figures(FIGURES):
        print(p)
