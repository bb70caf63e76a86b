"""Figures of lesson 1 (upsample and filter): zero insertion, interpolation filters, aliasing; and the
numbers the lesson quotes (registered at the bottom, checked by ``tests/test_claims.py``).

The notebook ``docs/notebooks/lesson1.py`` runs this; ``make_figures(outdir, small=...)`` writes the
figures.
"""
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mgbp_classic.resize import KERNELS, Downscale, Upscale, imresize  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
NFFT = 4096
#: The figure's 1-D test signal: three cosines at these frequencies (× π, coarse grid).
SIGNAL_FREQS = (0.12, 0.30, 0.55)
#: The zone plate's local frequency at the corners (× π).
ZONE_TOP = 0.90
#: The two gratings of the aliasing figure (× π, HR grid).
LOW_GRATING, HIGH_GRATING = (0.12, 0.05), (0.52, 0.30)


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


def response(s, w, kernel="cubic"):
    """``|p̂(ω)| / s`` of the s× filter of ``kernel`` at the fine-grid frequencies ``w``."""
    op = Upscale(s, kernel=kernel)
    return np.abs(dtft_at(op.taps, op.origin[0], np.atleast_1d(w))) / s


def dtft_at(taps, origin, omega):
    """``Σ_t h[t] e^{-iω(t + origin)}`` at the given frequencies."""
    t = np.arange(len(taps)) + origin
    return np.exp(-1j * np.outer(np.atleast_1d(omega), t)) @ np.asarray(taps, float)


def side_lobe(s=4, kernel="box"):
    """Height and position (× π) of the largest stopband lobe of ``|p̂|/s`` beyond the first zero."""
    w = np.linspace(2 * np.pi / s, np.pi, 8001)
    r = response(s, w, kernel)
    i = int(np.argmax(r))
    return r[i], w[i] / np.pi


def narrow_cubic_response(w):
    """Response of the cubic kernel *not* widened for a 4× decimation (taps k(±0.5), k(±1.5))."""
    taps = KERNELS["cubic"](np.array([-1.5, -0.5, 0.5, 1.5]))
    return abs(dtft_at(taps, -1.5, w)[0])


def widened_response(w, s=4):
    """Response of MATLAB's widened anti-aliasing filter ``g`` of ``Downscale(s)``."""
    op = Downscale(s)
    return abs(dtft_at(op.taps, op.origin[0], w)[0])


def _save(fig, outdir, name, small):
    path = Path(outdir) / name
    fig.savefig(path, dpi=60 if small else 100, bbox_inches="tight")
    plt.close(fig)
    return path


def fig_zero_insertion(outdir, small):
    """Time and frequency view of x, x↑2 and (x↑2) ∗ p."""
    rng = np.random.default_rng(1)
    n, s = (24, 2) if small else (40, 2)
    # a smooth test signal: three cosines at 0.12π, 0.3π and 0.55π
    freqs = np.array(SIGNAL_FREQS) * np.pi
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
    axes[0, 0].set_title(r"$x[n]$ (coarse grid)")
    axes[1, 0].stem(np.arange(s * n), up, basefmt=" ", linefmt="C1-", markerfmt="C1o")
    axes[1, 0].set_title(rf"zero insertion $(x\uparrow {s})[m]$: $s-1$ zeros between samples")
    axes[2, 0].plot(tt, signal(tt), color="0.8", lw=1, label="underlying signal")
    axes[2, 0].plot(tf, y, "C2.", label=r"$(x\uparrow 2) * p$")
    axes[2, 0].plot(np.arange(n), x, "C0o", mfc="none", label=r"$x[n]$")
    axes[2, 0].legend(loc="lower right", fontsize=8)
    axes[2, 0].set_title(r"filtered: bicubic $p$ removes the spectral image")
    axes[2, 0].set_xlabel("coarse-pixel coordinate")

    wx, hx = dtft(x * np.hanning(n))
    wu, hu = dtft(up * np.hanning(s * n + 1)[:-1])
    wy, hy = dtft(y * np.hanning(s * n + 1)[:-1])
    axes[0, 1].plot(wx / np.pi, np.abs(hx))
    axes[0, 1].set_title(r"$|X(\omega)|$ (windowed)")
    axes[1, 1].plot(wu / np.pi, np.abs(hu), "C1")
    axes[1, 1].plot(w / np.pi, np.abs(hp) / s * np.abs(hu).max(), "k--", lw=1, label=r"$|\hat p(\omega)|$ (scaled)")
    axes[1, 1].axvspan(-1, -1 / s, color="C3", alpha=0.08)
    axes[1, 1].axvspan(1 / s, 1, color="C3", alpha=0.08, label="images of X")
    axes[1, 1].legend(loc="upper right", fontsize=8)
    axes[1, 1].set_title(r"$|X(2\omega)|$: the spectrum compressed, an image around $\pm\pi$")
    axes[2, 1].plot(wy / np.pi, np.abs(hy), "C2")
    axes[2, 1].set_title(r"$|Y(\omega)| = |\hat p(\omega)\,X(2\omega)|$: image attenuated")
    axes[2, 1].set_xlabel(r"$\omega/\pi$ (fine grid)")
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
    axes[0].set_title(r"interpolation kernels $k(x)$")
    axes[0].set_xlabel("x (coarse pixels)")
    axes[0].legend(fontsize=8)
    for ax, s in zip(axes[1:], (2, 4)):
        for name in names:
            op = Upscale(s, kernel=name)
            w, h = dtft(op.taps, op.origin[0])
            ax.plot(w / np.pi, np.abs(h) / s, label=name)
        ax.plot([-1, -1 / s, -1 / s, 1 / s, 1 / s, 1], [0, 0, 1, 1, 0, 0], "k--", lw=1, label="ideal")
        ax.set_xlim(0, 1)
        ax.set_title(rf"$|\hat p(\omega)|/{s}$ of the {s}× filter $p$ (fine grid)")
        ax.set_xlabel(r"$\omega/\pi$")
        ax.set_ylim(0, 1.1)
        ax.grid(alpha=0.3)
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
    low, high = tuple(np.pi * np.array(LOW_GRATING)), tuple(np.pi * np.array(HIGH_GRATING))   # |high| ≈ 0.6π > π/4
    cases = [("HR Y", lambda y: y),
             (f"Y ↓ {s} (no filter)", lambda y: y[s // 2::s, s // 2::s]),
             ("cubic, not widened", lambda y: imresize(y, 1 / s, antialiasing=False)),
             (f"(Y ∗ g) ↓ {s} = imresize(Y, 1/{s})", lambda y: Downscale(s)(y))]
    zone, grate = zone_plate(n, ZONE_TOP), gratings(n, [low, high])
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
        ax.set_xlabel(r"$\omega_2/\pi$")
        ax.set_ylabel(r"$\omega_1/\pi$")
        ax.set_title("log |spectrum| of the two gratings", fontsize=9)
        if col in (0, 1):
            ax.legend(loc="lower left", fontsize=7, framealpha=0.6)
    return _save(fig, outdir, "lesson1_aliasing.png", small)


def fig_upscalers(outdir, small):
    """A crop of the sample image upscaled 4× by zero insertion and by four interpolation kernels."""
    import mgbp_classic
    from mgbp_classic.imaging.io import read_image
    s = 4
    x = read_image(mgbp_classic.sample_image_path())
    x = x[44:68, 64:96] if not small else x[48:60, 72:88]
    zeros = np.zeros((s * x.shape[0], s * x.shape[1], 3))
    zeros[s // 2::s, s // 2::s] = x
    panels = [(x, "input (nearest display)"),
              (np.clip(zeros * s * s, 0, 1), rf"$x\uparrow {s}$ (zeros; brightened ×{s * s})")]
    for name in ("box", "linear", "cubic", "lanczos3"):
        y = Upscale(s, kernel=name)(x)
        panels.append((np.clip(y, 0, 1), rf"$(x\uparrow {s}) * p$, {name}"))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), constrained_layout=True)
    for ax, (img, title) in zip(axes.ravel(), panels):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    return _save(fig, outdir, "lesson1_upscalers.png", small)


def make_figures(outdir, *, small=False):
    """Write every figure of lesson 1 into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [fig_zero_insertion(outdir, small), fig_filters(outdir, small), fig_aliasing(outdir, small),
            fig_upscalers(outdir, small)]


# --------------------------------------------------------------------------------------------------
# The numbers lesson 1 quotes (checked by tests/test_claims.py; see claims.py)
from claims import SOLUTIONS, claim, exempt  # noqa: E402

S1 = SOLUTIONS[1]                  # the instructor's page of the exercises' solutions
L1 = "lesson1_upsampling.md"


@claim("l1.signal", L1, "three cosines (¤π, ¤π, ¤π)")
def _():
    return SIGNAL_FREQS


@claim("l1.blur_at_0.275", L1, "The ¤π component sits at ¤π after upsampling, where the\nbicubic "
       "response `|p̂|/2` has already dropped to ¤")
def _():
    return SIGNAL_FREQS[2], SIGNAL_FREQS[2] / 2, response(2, SIGNAL_FREQS[2] / 2 * np.pi)[0]


@claim("l1.taps", L1, "  = [¤, ¤, ¤, ¤, ¤, ¤, ¤, ¤],")
def _():
    return Upscale(2).taps


@claim("l1.phase", L1, "two phases `[¤, ¤, ¤, ¤]`")
def _():
    return Upscale(2).taps[0::2]


@claim("l1.offsets", L1, "p = [k(−¤), k(−¤), k(−¤), k(−¤), k(¤), k(¤), k(¤), k(¤)]")
def _():
    # MATLAB: fine sample j sits at coarse coordinate (j + ½)/2 − ½; the taps sample k at the distances
    j = np.arange(-4, 4)
    return np.abs((j + 0.5) / 2)


@claim("l1.box_lobe", L1, "at 4× it has a lobe of ¤ at ¤π")
def _():
    return side_lobe(4, "box")


@claim("l1.linear_cutoff", L1, "attenuates the passband early (¤ at the 2× cut-off)")
def _():
    return response(2, np.pi / 2, "linear")[0]


@claim("l1.cubic", L1, "`|p̂|/s` = ¤ at π/4 and ¤ at the cut-off π/2 for 2×")
def _():
    return response(2, [np.pi / 4, np.pi / 2])


@claim("l1.lanczos3", L1, "small passband overshoot (¤ at π/4")
def _():
    return response(2, np.pi / 4, "lanczos3")[0]


@claim("l1.zone", L1, "from 0 at the centre to ¤π at the corners")
def _():
    return ZONE_TOP


@claim("l1.gratings", L1, "a low one at (¤π, ¤π) and a high one\nat (¤π, ¤π)")
def _():
    return LOW_GRATING + HIGH_GRATING


@claim("l1.low_moves", L1, "the low grating moves to 4 × (¤π, ¤π) = (¤π, ¤π)")
def _():
    return LOW_GRATING + tuple(wrap_frequency(4 * np.pi * np.array(LOW_GRATING)) / np.pi)


@claim("l1.high_folds", L1, "`4 × (¤π, ¤π) mod 2π = (¤π, ¤π)`")
def _():
    return HIGH_GRATING + tuple(wrap_frequency(4 * np.pi * np.array(HIGH_GRATING)) / np.pi)


@claim("l1.narrow", L1, "still ¤% of it with the narrow kernel")
def _():
    w1, w2 = np.pi * np.array(HIGH_GRATING)
    return 100 * narrow_cubic_response(w1) * narrow_cubic_response(w2)


@claim("l1.widened", L1, "its response `|ĝ(¤π) ĝ(¤π)|` is\n¤)", tol=[0, 0, 0.05e-5])
def _():
    w1, w2 = np.pi * np.array(HIGH_GRATING)
    return HIGH_GRATING + (widened_response(w1) * widened_response(w2),)


@claim("l1.check_taps", L1, "the middle two ¤, each phase summing to 1")
def _():
    return Upscale(2).taps[3]


@claim("l1.check_cutoff", L1, "bicubic 2× filter — ¤ (the figure's cut-off value)")
def _():
    return response(2, np.pi / 2)[0]


@claim("l1.check_alias", L1, "`wrap_frequency(4 * ¤ * np.pi) / np.pi` from `docs/scripts/lesson1.py` — ¤")
def _():
    return HIGH_GRATING[0], wrap_frequency(4 * np.pi * HIGH_GRATING[0]) / np.pi


@claim("l1.sol_phases", S1, "`[k(−¤), k(−¤), k(¤), k(¤)]` and `[k(−¤), k(−¤), k(¤), k(¤)]`")
def _():
    # fine sample j sits at coarse coordinate (j + ½)/2 − ½: distances to the 4 nearest samples
    return 1.75, 0.75, 0.25, 1.25, 1.25, 0.25, 0.75, 1.75


@claim("l1.sol_linear", S1, "The taps are `[¤, ¤, ¤, ¤]`")
def _():
    return Upscale(2, kernel="linear").taps


@claim("l1.sol_linear_formula", S1, "`p̂(ω) = 2(¤ cos(ω/2) + ¤ cos(3ω/2))`; at `ω = π/2`: "
       "`2(¤·¤ − ¤·¤) = ¤`,\n   and `|p̂|/2 = ¤`")
def _():
    t = Upscale(2, kernel="linear").taps
    c = np.cos(np.pi / 4)
    return t[1], t[0], t[1], c, t[0], c, 2 * (t[1] - t[0]) * c, response(2, np.pi / 2, "linear")[0]


@claim("l1.sol_alias", S1, "`4 × ¤π = ¤π ≡ −¤π (mod 2π)`: a grating at `(−¤π, 0)`, i.e. `|ω₁| = ¤π`")
def _():
    a = abs(wrap_frequency(4 * 0.3 * np.pi)) / np.pi
    return 0.3, 1.2, a, a, a


@claim("l1.sol_narrow", S1, "samples `k` at `±¤, ±¤` *input* pixels:\n   `[−¤, ¤, ¤, −¤]`")
def _():
    t = KERNELS["cubic"](np.array([-1.5, -0.5, 0.5, 1.5]))
    return 0.5, 1.5, -t[0], t[1], t[2], -t[3]


@claim("l1.sol_narrow_response", S1, "Its response is `2(¤ cos(ω/2) − ¤ cos(3ω/2))`: ¤ at ¤π and ¤ at "
       "¤π, product\n   ¤ — the 85% of the figure")
def _():
    t = KERNELS["cubic"](np.array([0.5, 1.5]))
    w1, w2 = np.pi * np.array(HIGH_GRATING)
    a, b = narrow_cubic_response(w1), narrow_cubic_response(w2)
    return t[0], -t[1], a, HIGH_GRATING[0], b, HIGH_GRATING[1], a * b


exempt(L1, "a = −0.5", "the definition of Keys' kernel")
exempt(L1, "`a = −0.5`", "the definition of Keys' kernel")
exempt(L1, "Upscale(2).taps` — eight taps", "a self-check instruction")
exempt(S1, "agree to round-off (1e-15)", "the floating-point round-off, not a result")
exempt(L1, "(0.3π, 0)", "an exercise's input")


if __name__ == "__main__":
    for path in make_figures(FIGURES):
        print(path, f"{path.stat().st_size / 1024:.0f} kB")
