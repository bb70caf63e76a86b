"""``mgbp-classic convergence``: predicted against measured convergence rates of IBP and MGBP."""
import sys
from pathlib import Path

import click

import numpy as np

from mgbp_classic._validate import check_suffix
from mgbp_classic.convergence import rate_table

from ._common import library_errors, read_image_or_fail

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _plot_path(ctx, param, value):
    if value is None:
        return None
    with library_errors():
        return check_suffix(value, "plot", PLOT_SUFFIXES)


def _greyscale(image):
    """Luma (BT.601 weights) of an RGB(A) image; greyscale unchanged."""
    if image.ndim == 2:
        return image
    if image.shape[2] in (1, 2):
        return image[..., 0]
    return image[..., :3] @ np.array([0.299, 0.587, 0.114])


def _centre_crop(image, side):
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top:top + side, left:left + side]


@click.command("convergence")
@click.option("--levels", "levels", type=click.IntRange(1, 4), multiple=True,
              help="Number N of 2× levels to study (repeat the option for several; 1 is IBP). "
                   "Default: 1 2 3.")
@click.option("--mu", "mu", type=click.IntRange(1, 6), multiple=True,
              help="Back-projection steps µ per level (repeatable; 1 V-cycle, 2 W-cycle). Default: 1 2.")
@click.option("--iterations", type=click.IntRange(min=3), default=None,
              help="Outer cycles run at the finest level for each case (default: enough to reach the "
                   "asymptotic rate: 60 for IBP, 200 for odd N, 400 for even N).")
@click.option("--kernel", type=click.Choice(["cubic", "linear", "lanczos2", "lanczos3", "box"]),
              default="cubic", show_default=True, help="Kernel of both g (down) and p (up), as in MATLAB imresize.")
@click.option("--size", "shape", type=click.IntRange(2, 32), default=8, show_default=True,
              help="Side of the random periodic input (when no IMAGE is given).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random input.")
@click.option("--crop", type=click.IntRange(4, 64), default=24, show_default=True,
              help="With IMAGE: analyse the centre crop of at most this side (the exact prediction costs "
                   "grow with the image area).")
@click.option("--plot", type=click.Path(dir_okay=True, path_type=str), default=None, callback=_plot_path,
              help="Write a semilog plot of the residual histories (.png, .pdf or .svg).")
@click.argument("image", required=False, type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
def command(levels, mu, iterations, kernel, shape, seed, crop, plot, image):
    """Predicted and measured convergence rates of IBP (N=1) and MGBP (N levels, µ steps).

    For each case, the finest level of MGBP is repeated for several outer cycles (µ back-projection
    steps each) and the residual that a cycle contracts is recorded; its rate per cycle, fitted on
    the tail of the history, is compared with the exact prediction from the block-diagonal Fourier
    form. Without IMAGE the input is uniform noise with periodic boundaries; with IMAGE its luma
    (centre crop) with MATLAB's symmetric boundaries, which the prediction also covers exactly.
    The last column, rel_diff, is |measured - predicted| / predicted.
    """
    levels = sorted(set(levels or (1, 2, 3)))
    mu = sorted(set(mu or (1, 2)))
    if image is not None:
        picture = _centre_crop(_greyscale(read_image_or_fail(image)), crop)
        source = f"{image.name} (luma, {picture.shape[0]}x{picture.shape[1]} centre crop, symmetric boundaries)"
    else:
        picture = None
        source = f"uniform noise {shape}x{shape}, seed {seed}, periodic boundaries"
    cases = [(lv, m) for lv in levels for m in mu]
    rows = []
    with library_errors():
        with click.progressbar(cases, label="measuring", file=sys.stderr,
                               item_show_func=lambda c: c and f"N={c[0]} µ={c[1]}") as bar:
            for lv, m in bar:
                rows += rate_table(levels=(lv,), mu=(m,), shape=shape, cycles=iterations, seed=seed,
                                   g=kernel, p=kernel, image=picture)
    click.echo(f"input: {source}; kernel pair: {kernel}/{kernel}")
    click.echo(f"{'levels':>6} {'mu':>3} {'predicted':>11} {'measured':>11} {'rel_diff':>9} {'cycles':>6}")
    for row in rows:
        click.echo(f"{row['levels']:>6d} {row['mu']:>3d} {row['predicted']:>11.6f} {row['measured']:>11.6f} "
                   f"{row['rel_diff']:>9.2e} {row['cycles']:>6d}")
    summary = []
    for name, keep in (("ibp", lambda r: r["levels"] == 1), ("mgbp", lambda r: r["levels"] > 1)):
        diffs = [r["rel_diff"] for r in rows if keep(r)]
        if diffs:
            finite = [d for d in diffs if np.isfinite(d)]
            summary.append(f"max_rel_diff_{name}={max(finite):.3g}" if finite else f"max_rel_diff_{name}=nan")
    click.echo("rates are per outer cycle (µ steps); " + " ".join(summary))
    if plot is not None:
        from mgbp_classic.plotting import plot_rate_table

        with library_errors():
            plot_rate_table(rows, plot, title=f"{source}; kernel {kernel}")
        click.echo(f"wrote {plot}")
