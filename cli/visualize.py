"""``mgbp-classic visualize``: the network's effective filters at chosen pixels and its residual (Figure 9)."""
import sys
from pathlib import Path

import click
import numpy as np

from mgbp_classic._parallel import use_threads
from mgbp_classic._validate import check_levels, check_suffix
from mgbp_classic.deepfilter import DeepFilter
from mgbp_classic.imaging.io import write_image
from mgbp_classic.pipeline.runner import NetRunner

from ._common import library_errors, read_image_or_fail, threads_option


class PixelType(click.ParamType):
    """``X,Y``: column and row of an output pixel (non-negative integers)."""

    name = "X,Y"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).replace(" ", "").split(",")
        try:
            x, y = (int(p) for p in parts)
        except ValueError:
            self.fail(f"must be two integers X,Y (column, row of the output), got {value!r}", param, ctx)
        if x < 0 or y < 0:
            self.fail(f"must be non-negative X,Y, got {value!r}", param, ctx)
        return x, y


@click.command("visualize")
@click.option("--levels", type=click.IntRange(min=1), default=2, show_default=True,
              help="Number N of 2x levels; the filters make the 2**N output.")
@click.option("--mu", type=click.IntRange(min=1), default=2, show_default=True,
              help="Back-projection steps per level (the model is trained with 2).")
@click.option("--pixel", "pixels", type=PixelType(), multiple=True, required=True,
              help="Output pixel X,Y (column, row of the 2**N upscaled image, from 0); repeat for more.")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file (default: the pretrained model shipped in the package).")
@click.option("--margin", type=click.IntRange(min=0), default=None,
              help="LR pixels of reflection padding, as inference uses [default: 16].")
@click.option("--radius", type=click.IntRange(min=1), default=None,
              help="Half-width of the filter panels in input pixels [default: the 99% mass of the filters].")
@click.option("--difference", is_flag=True,
              help="Also draw each filter minus bicubic (what the network changes), on its own scale.")
@click.option("--residual", "residual_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also save the effective residual R: .npy (float array, H x W x 3) or .png (16-bit, 0.5 + R).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Figure file (.png, .pdf or .svg).")
@threads_option()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
def command(levels, mu, pixels, model, margin, radius, difference, residual_path, output, threads, image):
    """Draw the network's effective filters at output pixels of IMAGE, with its effective residual.

    Every ReLU's gain is recorded in one forward pass and frozen, which turns the network into an
    exact affine map Y = F X + R (Theorem 1 of the MGBP paper). Each --pixel gets the filter that
    makes its output luma from a grey input (one backward pass of the frozen network), drawn over
    the input pixels next to the bicubic filter at the same pixel; R is the frozen network on a
    black image. The check F X + R = net(X) at the pixels is printed.
    """
    click.get_current_context().with_resource(use_threads(threads))   # restored when the command ends
    from matplotlib.figure import Figure

    from mgbp_classic.plotting import plot_filters

    with library_errors():
        check_suffix(output, "output", {f".{e}" for e in Figure().canvas.get_supported_filetypes()}
                     & {".png", ".pdf", ".svg"})
        if residual_path is not None:
            check_suffix(residual_path, "residual_path", {".npy", ".png"})
    if residual_path is not None and residual_path.resolve() == output.resolve():
        raise click.BadParameter("must differ from the figure path", param_hint="'--residual'")
    img = read_image_or_fail(image)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]                                    # the alpha channel is not the network's
    with library_errors():
        check_levels(levels, img.shape)
    s = 2 ** levels
    oh, ow = img.shape[0] * s, img.shape[1] * s
    for x, y in pixels:
        if x >= ow or y >= oh:
            raise click.BadParameter(f"{x},{y} lies outside the {ow}x{oh} output (x in 0..{ow - 1}, "
                                     f"y in 0..{oh - 1})", param_hint="'--pixel'")
    with library_errors():
        runner = NetRunner(model, mu=mu, **({} if margin is None else {"margin": margin}))
    yx = [(y, x) for x, y in pixels]
    steps = 2 + len(yx)
    with click.progressbar(length=steps, label="visualize", file=sys.stderr, show_pos=True) as bar, \
            library_errors():
        df = DeepFilter(runner.net, img, levels=levels, mu=runner.mu, margin=runner.margin)
        bar.update(1)                                          # gains recorded (the network's output)

        def progress(done, total, start=[1]):
            bar.update(done + 1 - start[0])
            start[0] = done + 1

        filters = df.filters(yx, progress=progress)           # one frozen pass (it gives R), one backward per row
        residual = df.residual
        bar.update(steps - bar.pos)
    errors = df.pixel_errors(yx, filters)
    name = Path(model).name if model is not None else "pretrained model"
    fig = plot_filters(df.output, yx, filters.sum(axis=3), scale=s, residual=residual, bicubic=df.bicubic(yx),
                       difference=difference, radius=radius,
                       title=f"{image.name}: effective filters ×{s}, µ = {mu} ({name})")
    with library_errors():
        fig.savefig(output, dpi=110)
        if residual_path is not None:
            if residual_path.suffix.lower() == ".npy":
                np.save(residual_path, residual)
            else:
                write_image(residual_path, np.clip(0.5 + residual, 0, 1), bit_depth=16)
    click.echo(f"wrote {output} ({len(yx)} pixel{'s' * (len(yx) > 1)}, x{s}, mu={mu}); "
               f"|F X + R - net(X)| at the pixels <= {errors.max():.1e}")
    if residual_path is not None:
        click.echo(f"wrote {residual_path} (effective residual, max |R| = {np.abs(residual).max():.4f})")
