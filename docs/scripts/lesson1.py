"""Figures of lesson 1 (upsample and filter): zero insertion, interpolation filters, aliasing.

Run ``python docs/scripts/lesson1.py`` to rewrite the figures in ``docs/figures/``; the tests call
``make_figures(tmp, small=True)``.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic.resize import KERNELS, Downscale, Upscale, imresize  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
NFFT = 4096


def dtft(taps, origin=0, n=NFFT):
    """Samples of ``H(ω) = Σ_t h[t] e^{-iω(t + origin)}`` on ``ω ∈ [-π, π)`` (returned with ω)."""
    omega = np.linspace(-np.pi, np.pi, n, endpoint=False)
    t = np.arange(len(taps)) + origin
    return omega, np.exp(-1j * np.outer(omega, t)) @ np.asarray(taps, float)


def zero_insert(x, s):
    """``(x ↑ s)[n] = x[n/s]`` when ``s`` divides ``n``, else 0."""
    y = np.zeros(s * len(x))
    y[::s] = x
    return y


def upsample_and_filter(x, s, kernel="cubic"):
    """``(x ↑ s) ∗ p`` written out as a convolution (1-D, symmetric extension of x first)."""
    op = Upscale(s, kernel=kernel)
    pad = len(op.taps)
    xe = np.concatenate([x[pad - 1::-1], x, x[:-pad - 1:-1]])      # d c b a | a b c d | d c b a
    full = np.convolve(zero_insert(xe, s), op.taps)
    start = s * pad - op.origin[0]             # y[j] = Σ_i p[j − s·i − origin] x[i] = (x↑s ∗ p)[j − origin]
    return full[start:start + s * len(x)]


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 90)
    plt.close(fig)
    return path


def fig_zero_insertion(outdir, small):
    """Time and frequency view of x, x↑2 and (x↑2) ∗ p."""
    rng = np.random.default_rng(1)
    n, s = (24, 2) if small else (40, 2)
    # a smooth test signal: three cosines at 0.12π, 0.3π and 0.55π
    freqs = np.array([0.12, 0.3, 0.55]) * np.pi
    phases = rng.uniform(0, 2 * np.pi, 3)

    def signal(t):
        return sum(np.cos(f * t + p) for f, p in zip(freqs, phases)) / 3

    x = signal(np.arange(n))
    up = zero_insert(x, s)
    y = upsample_and_filter(x, s)
    # MATLAB/imresize convention: fine sample j sits at coarse coordinate (j + 0.5)/s − 0.5
    tf = (np.arange(s * n) + 0.5) / s - 0.5
    assert np.allclose(y, imresize(x[:, None], (s, 1))[:, 0])        # the convolution is imresize
    op = Upscale(s)
    w, hp = dtft(op.taps, op.origin[0])

    fig, axes = plt.subplots(3, 2, figsize=(11, 7.5), constrained_layout=True)
    tt = np.linspace(-0.5, n - 0.5, 2000)
    axes[0, 0].plot(tt, signal(tt), color="0.8", lw=1)
    axes[0, 0].stem(np.arange(n), x, basefmt=" ")
    axes[0, 0].set_title("x[n] (coarse grid)")
    axes[1, 0].stem(np.arange(s * n), up, basefmt=" ", linefmt="C1-", markerfmt="C1o")
    axes[1, 0].set_title(f"zero insertion (x ↑ {s})[m]: s − 1 zeros between samples")
    axes[2, 0].plot(tt, signal(tt), color="0.8", lw=1, label="underlying signal")
    axes[2, 0].plot(tf, y, "C2.", label="(x ↑ 2) ∗ p")
    axes[2, 0].plot(np.arange(n), x, "C0o", mfc="none", label="x[n]")
    axes[2, 0].legend(loc="lower right", fontsize=8)
    axes[2, 0].set_title("filtered: bicubic p removes the spectral image")
    axes[2, 0].set_xlabel("coarse-pixel coordinate")

    wx, hx = dtft(x * np.hanning(n))
    wu, hu = dtft(up * np.hanning(s * n + 1)[:-1])
    wy, hy = dtft(y * np.hanning(s * n + 1)[:-1])
    axes[0, 1].plot(wx / np.pi, np.abs(hx))
    axes[0, 1].set_title("|X(ω)| (windowed)")
    axes[1, 1].plot(wu / np.pi, np.abs(hu), "C1")
    axes[1, 1].plot(w / np.pi, np.abs(hp) / s * np.abs(hu).max(), "k--", lw=1, label="|P(ω)| (scaled)")
    axes[1, 1].axvspan(-1, -1 / s, color="C3", alpha=0.08)
    axes[1, 1].axvspan(1 / s, 1, color="C3", alpha=0.08, label="images of X")
    axes[1, 1].legend(loc="upper right", fontsize=8)
    axes[1, 1].set_title("|X(2ω)|: the spectrum compressed, with an image around ±π")
    axes[2, 1].plot(wy / np.pi, np.abs(hy), "C2")
    axes[2, 1].set_title("|Y(ω)| = |P(ω) X(2ω)|: images attenuated")
    axes[2, 1].set_xlabel("ω / π (fine grid)")
    for ax in axes[:, 1]:
        ax.set_xlim(-1, 1)
    return _save(fig, outdir, "lesson1_zero_insertion.png", small)


def fig_filters(outdir, small):
    """Kernels k(x) and the frequency responses of the 2× and 4× interpolation filters p."""
    names = ["box", "linear", "cubic", "lanczos3"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    xs = np.linspace(-3.2, 3.2, 641)
    for name in names:
        axes[0].plot(xs, KERNELS[name](xs), label=name)
    axes[0].axhline(0, color="0.6", lw=0.5)
    axes[0].set_title("interpolation kernels k(x)")
    axes[0].set_xlabel("x (coarse pixels)")
    axes[0].legend(fontsize=8)
    for ax, s in zip(axes[1:], (2, 4)):
        for name in names:
            op = Upscale(s, kernel=name)
            w, h = dtft(op.taps, op.origin[0])
            ax.plot(w / np.pi, np.abs(h) / s, label=name)
        ax.plot([-1, -1 / s, -1 / s, 1 / s, 1 / s, 1], [0, 0, 1, 1, 0, 0], "k--", lw=1, label="ideal")
        ax.set_xlim(0, 1)
        ax.set_title(f"|P(ω)| / {s} of the {s}× filter p (fine grid)")
        ax.set_xlabel("ω / π")
        ax.axvline(1 / s, color="0.6", lw=0.5)
        ax.legend(fontsize=8)
    return _save(fig, outdir, "lesson1_filters.png", small)


def zone_plate(n, top=0.9):
    """``(1 + cos(φ(r))) / 2`` with local frequency ``φ'(r)`` growing linearly from 0 at the centre
    to ``top·π`` at the corners (so the HR image itself is free of aliasing)."""
    c = (np.arange(n) - n / 2 + 0.5)
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    rmax = np.sqrt(2) * n / 2
    return 0.5 + 0.5 * np.cos(top * np.pi * r2 / (2 * rmax))


def log_spectrum(image, size=256):
    """``log10 |DFT|`` of the Hann-windowed image, zero-padded to ``size``², normalised to max 1."""
    win = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    spec = np.abs(np.fft.fftshift(np.fft.fft2((image - image.mean()) * win, s=(size, size))))
    return np.log10(1e-3 + spec / spec.max())


def gratings(n, freqs):
    """Sum of cosine gratings ``cos(ω₁ i + ω₂ j)`` for ``(ω₁, ω₂)`` in ``freqs`` (radians/pixel), in [0, 1]."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return 0.5 + 0.5 * sum(np.cos(w1 * i + w2 * j) for w1, w2 in freqs) / len(freqs)


def wrap_frequency(w):
    """Fold a frequency into [−π, π)."""
    return (np.asarray(w) + np.pi) % (2 * np.pi) - np.pi


def fig_aliasing(outdir, small):
    """Decimation by 4 without and with the anti-aliasing filter g: a zone plate and two gratings."""
    n, s = (96, 4) if small else (256, 4)
    low, high = (0.12 * np.pi, 0.05 * np.pi), (0.52 * np.pi, 0.30 * np.pi)   # |high| ≈ 0.6π > π/4
    cases = [("HR Y", lambda y: y),
             (f"Y ↓ {s} (no filter)", lambda y: y[s // 2::s, s // 2::s]),
             ("cubic, not widened", lambda y: imresize(y, 1 / s, antialiasing=False)),
             (f"(Y ∗ g) ↓ {s} = imresize(Y, 1/{s})", lambda y: Downscale(s)(y))]
    zone, grate = zone_plate(n), gratings(n, [low, high])
    assert np.allclose(Downscale(s)(zone), imresize(zone, 1 / s))
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.6), constrained_layout=True)
    for col, (title, op) in enumerate(cases):
        axes[0, col].imshow(op(zone), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0, col].set_title(title, fontsize=10)
        axes[0, col].set_axis_off()
        ax = axes[1, col]
        ax.imshow(log_spectrum(op(grate)), cmap="magma", vmin=-3, vmax=0, extent=[-1, 1, 1, -1])
        factor = 1 if col == 0 else s                  # frequencies in the units of this grid
        for (w1, w2), colour, label in ((low, "deepskyblue", "low grating"), (high, "lime", "high grating")):
            f = wrap_frequency(factor * np.array([w1, w2])) / np.pi
            ax.plot([f[1], -f[1]], [f[0], -f[0]], "o", mfc="none", mec=colour, ms=9 if col == 0 else 17,
                    mew=1.6, label=label if col == 0 else ("alias of the high one" if colour == "lime" else None))
        if col == 0:
            ax.plot([-1 / s, 1 / s, 1 / s, -1 / s, -1 / s], [-1 / s, -1 / s, 1 / s, 1 / s, -1 / s], "c--", lw=1)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.set_xlabel("ω₂ / π")
        ax.set_ylabel("ω₁ / π")
        ax.set_title("log |spectrum| of the two gratings", fontsize=9)
        if col in (0, 1):
            ax.legend(loc="lower left", fontsize=7, framealpha=0.6)
    return _save(fig, outdir, "lesson1_aliasing.png", small)


def fig_upscalers(outdir, small):
    """A crop of the sample image upscaled 4× by zero insertion and by four interpolation kernels."""
    import mgbp_classic
    from mgbp_classic.io import read_image
    s = 4
    x = read_image(mgbp_classic.sample_image_path())
    x = x[44:68, 64:96] if not small else x[48:60, 72:88]
    zeros = np.zeros((s * x.shape[0], s * x.shape[1], 3))
    zeros[s // 2::s, s // 2::s] = x
    panels = [(x, "input (nearest display)"), (np.clip(zeros * 1.0, 0, 1), f"x ↑ {s} (zeros)")]
    for name in ("box", "linear", "cubic", "lanczos3"):
        y = Upscale(s, kernel=name)(x)
        panels.append((np.clip(y, 0, 1), f"(x ↑ {s}) ∗ p, {name}"))
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 2.9), constrained_layout=True)
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return _save(fig, outdir, "lesson1_upscalers.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 1 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_zero_insertion(outdir, small), fig_filters(outdir, small), fig_aliasing(outdir, small),
            fig_upscalers(outdir, small)]


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
