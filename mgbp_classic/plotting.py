"""Figures: every function that draws with matplotlib (the core modules never import it).

:func:`plot_rate_table`
    The residual histories of :func:`mgbp_classic.convergence.rate_table` with the predicted
    rates (lesson 4, ``mgbp-classic convergence --plot``).
:func:`plot_filters`
    Figure 9 of the paper: the network output, the effective filters of chosen output pixels
    (:class:`mgbp_classic.deepfilter.DeepFilter`) and the effective residual (lesson 7,
    ``mgbp-classic visualize``), with the helpers :func:`filter_window` and :func:`mass_radius`.

Figures are drawn on the Agg canvas (no pyplot state, no global backend change) and returned or
saved by the caller.
"""
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ._validate import ParamError, check_int, check_pixels
from .color import LUMA_WEIGHTS

__all__ = ["filter_window", "mass_radius", "plot_filters", "plot_rate_table"]


# ----------------------------------------------------------------------------------------------
# convergence (lesson 4)
# ----------------------------------------------------------------------------------------------
def plot_rate_table(rows, path, *, title=None):
    """Semilog plot of the residual histories of :func:`~mgbp_classic.convergence.rate_table` rows, with the predicted slopes.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`mgbp_classic.convergence.rate_table` (``history``, ``model_history``, ``predicted``, ``levels``, ``mu``).
    path : str or pathlib.Path
        Output file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Left: the level residual that each cycle contracts (IBP: the model-(1) residual), normalised
    by its start, against outer cycles, with the predicted rate drawn as a dashed line through
    the middle of each curve. Right: the model-(4) residual ``X − D^N Y`` at the same instants.
    Uses the Agg canvas directly (no global backend change).
    """
    path = Path(path)
    fig = Figure(figsize=(11, 4.4))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    colours = {1: "black", 2: "tab:blue", 3: "tab:red", 4: "tab:green", 5: "tab:purple"}
    styles = {1: "-", 2: "--", 3: ":", 4: "-."}
    for row in rows:
        h = np.asarray(row["history"], dtype=np.float64)
        m = np.asarray(row["model_history"], dtype=np.float64)
        if h.size == 0 or h[0] <= 0:
            continue
        colour = colours.get(row["levels"], "grey")
        style = styles.get(row["mu"], "-")
        name = "IBP" if row["levels"] == 1 else f"MGBP N={row['levels']}"
        label = f"{name}, µ={row['mu']}"
        t = np.arange(h.size)
        keep = h > 1e-14 * h[0]
        left.semilogy(t[keep], h[keep] / h[0], style, color=colour, lw=1.4, label=label)
        mid = int(np.nonzero(keep)[0][-1] * 0.5)
        if np.isfinite(row["predicted"]) and row["predicted"] > 0:
            span = np.arange(max(0, mid - h.size // 4), min(h.size, mid + h.size // 4))
            ref = h[mid] / h[0] * row["predicted"] ** (span - mid)
            left.semilogy(span, ref, color=colour, lw=0.8, alpha=0.6, dashes=(2, 2))
        right.semilogy(np.arange(m.size), m, style, color=colour, lw=1.4, label=label)
    left.set_xlabel("outer cycle t (µ back-projection steps at the finest level)")
    left.set_ylabel("level residual ‖e_t‖ / ‖e_0‖")
    left.set_title("contracted residual (thin dashed: predicted rate)")
    right.set_xlabel("outer cycle t")
    right.set_ylabel("model-(4) residual RMS(X − D^N Y)")
    right.set_title("residual of model (4)")
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=7, ncol=2, loc="lower left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# ----------------------------------------------------------------------------------------------
# deep filters (Figure 9, lesson 7)
# ----------------------------------------------------------------------------------------------
def filter_window(filt, pixel, *, scale, radius):
    """The part of a 2-D filter around the LR pixel under an output pixel.

    Parameters
    ----------
    filt : ndarray
        (H, W) filter over the input pixels (e.g. the luma view ``filters(...).sum(-1)``).
    pixel : (int, int)
        The output pixel (row y, column x) at factor ``scale``.
    scale : int
    radius : int
        Half-width of the window in LR pixels.

    Returns
    -------
    window : ndarray
        (2·radius + 1, 2·radius + 1) float64 centred on LR pixel ``(y // scale, x // scale)``;
        NaN outside the image.
    offset : (float, float)
        Position of the output pixel's centre relative to that LR pixel's centre, in LR pixels
        (``(p + 0.5) / scale − 0.5 − p // scale`` per axis).
    """
    filt = np.asarray(filt, dtype=np.float64)
    if filt.ndim != 2:
        raise ParamError("filt", f"must be a 2-D (H, W) filter, got shape {filt.shape}")
    radius = check_int(radius, "radius", minimum=0)
    h, w = filt.shape
    (y, x), = check_pixels([pixel], (h * scale, w * scale), "pixel")
    cy, cx = y // scale, x // scale
    win = np.full((2 * radius + 1, 2 * radius + 1), np.nan)
    y0, y1 = max(cy - radius, 0), min(cy + radius + 1, h)
    x0, x1 = max(cx - radius, 0), min(cx + radius + 1, w)
    win[y0 - cy + radius:y1 - cy + radius, x0 - cx + radius:x1 - cx + radius] = filt[y0:y1, x0:x1]
    off = ((y + 0.5) / scale - 0.5 - cy, (x + 0.5) / scale - 0.5 - cx)
    return win, off


def mass_radius(filt, pixel, *, scale, mass=0.99):
    """Smallest window half-width (LR pixels) around the pixel holding ``mass`` of the filter's Σ|f|."""
    filt = np.abs(np.asarray(filt, dtype=np.float64))
    h, w = filt.shape
    (y, x), = check_pixels([pixel], (h * scale, w * scale), "pixel")
    cy, cx = y // scale, x // scale
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.maximum(np.abs(yy - cy), np.abs(xx - cx)).ravel()                 # Chebyshev distance
    per = np.bincount(dist, weights=filt.ravel())
    total = per.sum()
    if total == 0:
        return 0
    return int(np.searchsorted(np.cumsum(per), mass * total))


def plot_filters(output, pixels, filters, *, scale, residual=None, bicubic=None, difference=False,
                 radius=None, title=None, columns=4):
    """Figure 9 of the paper: the output with marked pixels, each pixel's effective filter, the residual.

    Parameters
    ----------
    output : ndarray
        (sH, sW, 3) or (sH, sW) network output (clipped to [0, 1] for display).
    pixels : sequence of (int, int)
        Output pixels (row y, column x), numbered 1… on the image and the panels.
    filters : ndarray
        (K, H, W) 2-D filters over the input pixels (the luma view).
    scale : int
        Output factor ``s``.
    residual : ndarray, optional
        (sH, sW, 3) or (sH, sW) effective residual; drawn (its luma) beside the image.
    bicubic : ndarray, optional
        (K, H, W) bicubic filters at the same pixels, drawn under each effective filter on the
        same colour scale.
    difference : bool
        With ``bicubic``: also draw ``Δ = filter − bicubic`` under each pair, on its own scale (what
        the network changes with respect to the classic upscaler; ``Σ|Δ|`` printed above it).
    radius : int, optional
        Half-width of the filter windows in LR pixels; default: the largest over the pixels of
        the window holding 99 % of the filter's absolute sum (between 3 and 24).
    title : str, optional
    columns : int
        Filter panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot; save it with ``fig.savefig(path)``.

    Notes
    -----
    Filters are drawn on the LR pixel grid with a diverging map (red positive, blue negative,
    white zero, grey outside the image), each on its own symmetric scale ``±v`` printed above it
    with the filter's sum (its response to a constant image: 1 for any interpolator). A black ``+``
    marks where the output pixel's centre falls between the LR pixels.
    """
    diverging = colormaps["RdBu_r"].with_extremes(bad="0.85")                # grey: outside the image
    filters = np.asarray(filters, dtype=np.float64)
    img = np.clip(np.asarray(output, dtype=np.float64), 0, 1)
    pix = check_pixels(pixels, img.shape[:2])
    k = len(pix)
    if filters.ndim != 3 or filters.shape[0] != k:
        raise ParamError("filters", f"must be (K={k}, H, W) 2-D filters, got shape {filters.shape}")
    if bicubic is not None and np.shape(bicubic) != filters.shape:
        raise ParamError("bicubic", f"must have the shape of filters {filters.shape}, got {np.shape(bicubic)}")
    if radius is None:
        radius = max(mass_radius(f, p, scale=scale) for f, p in zip(filters, pix))
        radius = int(min(max(radius, 3), 24))
    columns = max(1, min(int(columns), k))
    rows_px = -(-k // columns)
    difference = bool(difference) and bicubic is not None
    per = 1 + (bicubic is not None) + difference
    colors = [f"C{i % 10}" for i in range(k)]

    aspect = img.shape[0] / img.shape[1]
    left_w = 4.6 / max(1.0, aspect) ** 0.5
    n_left = 2 if residual is not None else 1
    left_h = n_left * (left_w * aspect + 0.45)
    cell = float(np.clip(left_h / (per * rows_px) - 0.35, 1.45, 2.4))          # panel side, inches
    height = max(left_h, per * rows_px * (cell + 0.35)) + (0.25 + 0.22 * title.count("\n") if title else 0.1)
    fig = Figure(figsize=(left_w + 0.9 + max(columns * cell, 3.2), height), layout="constrained")
    sub_l, sub_r = fig.subfigures(1, 2, width_ratios=[left_w + 0.9, max(columns * cell, 3.2)], wspace=0.02)
    axes_l = np.atleast_1d(sub_l.subplots(n_left, 1))
    ax = axes_l[0]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="lanczos")
    for i, (y, x) in enumerate(pix):
        ax.plot(x, y, "o", ms=9, mfc="none", mec=colors[i], mew=2)
        ax.annotate(str(i + 1), (x, y), xytext=(6, -6), textcoords="offset points", color=colors[i],
                    fontsize=10, fontweight="bold")
    ax.set_title(f"network output ×{scale} and the chosen pixels", fontsize=9)
    ax.set_axis_off()
    if residual is not None:
        r = np.asarray(residual, dtype=np.float64)
        r = r @ LUMA_WEIGHTS if r.ndim == 3 else r
        v = float(np.percentile(np.abs(r), 99.5)) or float(np.abs(r).max()) or 1.0
        im = axes_l[1].imshow(r, cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
        axes_l[1].set_title(f"effective residual R (luma), max |R| = {np.abs(r).max():.3f}", fontsize=9)
        axes_l[1].set_axis_off()
        sub_l.colorbar(im, ax=axes_l[1], shrink=0.85, pad=0.01)
    grid = np.atleast_2d(sub_r.subplots(per * rows_px, columns, squeeze=False))
    ext = (-radius - 0.5, radius + 0.5, radius + 0.5, -radius - 0.5)
    for a in grid.ravel():
        a.set_axis_off()
    for i in range(k):
        r0, c0 = per * (i // columns), i % columns
        wins = [filter_window(filters[i], pix[i], scale=scale, radius=radius)]
        sums = [filters[i].sum()]
        if bicubic is not None:
            wins.append(filter_window(bicubic[i], pix[i], scale=scale, radius=radius))
            sums.append(np.sum(bicubic[i]))
        v = max(float(np.nanmax(np.abs(w))) for w, _ in wins) or 1.0
        titles = [f"{i + 1}: ±{v:.2f}, Σ = {sums[0]:.2f}"] + [f"bicubic, Σ = {t:.2f}" for t in sums[1:]]
        scales = [v] * len(wins)
        if difference:
            delta = filters[i] - np.asarray(bicubic[i], dtype=np.float64)
            wins.append(filter_window(delta, pix[i], scale=scale, radius=radius))
            scales.append(float(np.nanmax(np.abs(wins[-1][0]))) or 1.0)
            titles.append(f"Δ = {i + 1} − bicubic: ±{scales[-1]:.3f}\nΣ|Δ| = {np.abs(delta).sum():.3f}")
        for j, ((win, (oy, ox)), vj, text) in enumerate(zip(wins, scales, titles)):
            a = grid[r0 + j, c0]
            a.set_axis_on()
            a.imshow(win, cmap=diverging, vmin=-vj, vmax=vj, extent=ext, interpolation="nearest")
            a.plot(ox, oy, "+", color="k", ms=6, mew=1)
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(text, fontsize=7.5, color=colors[i] if j == 0 else "0.25")
            for spine in a.spines.values():
                spine.set_edgecolor(colors[i])
                spine.set_linewidth(1.5 if j == 0 else 0.8)
    sub_r.suptitle(f"effective filters on the input grid (±{radius} pixels)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
