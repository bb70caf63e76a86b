"""``mgbp-classic upscale``: upscale one or many images by 2**levels."""
import sys
from pathlib import Path

import click

from mgbp_classic import upscale as _up
from mgbp_classic._validate import check_levels

from ._cluster import cluster_options, open_cluster, upscale_batch, wanted
from ._common import (ensure_directory, image_paths_argument, library_errors, output_option, plan_outputs,
                      progress, read_header_or_fail, read_image_or_fail)

#: Library argument name (first word of its ValueError messages) -> command-line option.
PARAM_HINTS = {"levels": "'--levels'", "mu": "'--mu'", "iterations": "'--iterations'",
               "method": "'--method'", "model": "'--model'", "tile": "'--tile'"}

DEFAULT_LEVELS = 2


class MethodChoice(click.Choice):
    """``click.Choice`` over the registered methods, read when the command runs (so ``net`` shows up
    as soon as it is registered)."""

    name = "method"

    def __init__(self):
        super().__init__([], case_sensitive=True)

    @property
    def choices(self):
        return tuple(_up.available_methods())

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns; the registry is the source of truth
        pass


def method_option():
    """``--method``: one of the registered methods; default :data:`mgbp_classic.upscale.DEFAULT_METHOD`
    (read when the command runs; resolve ``None`` with :func:`resolve_method`)."""
    return click.option(
        "--method", type=MethodChoice(), default=None,
        help="Upscaling method (bicubic: MATLAB imresize; ibp: Iterative Back-Projection; "
             "mgbp: classic Multi-Grid Back-Projection; further registered methods such as net). "
             f"[default: {_up.DEFAULT_METHOD}]")


def resolve_method(method):
    """The method to use: the one given, else the library's current default."""
    return method if method is not None else _up.DEFAULT_METHOD


def mu_option():
    return click.option("--mu", type=click.IntRange(min=1), default=_up.DEFAULT_MU, show_default=True,
                        help="Back-projection steps per level (1: V-cycle, 2: W-cycle).")


def iterations_option():
    return click.option("--iterations", type=click.IntRange(min=0), default=None,
                        help="Iterations of iterative methods (default: the method's own; "
                             f"ibp {_up.IBP_DEFAULT_ITERATIONS}, mgbp {_up.MGBP_DEFAULT_ITERATIONS}).")


def net_options():
    """``--model`` and ``--tile``, options of the learned network (``--method net``)."""
    def decorate(f):
        f = click.option("--tile", type=click.IntRange(min=1), default=None,
                         help="net: side of the low-resolution tiles processed at a time (bounded memory).")(f)
        return click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="net: model file (default: the pretrained model in the package).")(f)
    return decorate


def method_kwargs(method, model, tile, iterations=None):
    """The method options given on the command line, for ``upscale(**kwargs)`` (absent ones are not
    passed), checked by :func:`mgbp_classic.upscale.check_method_options` before any image is read:
    ``click.BadParameter`` naming the option when ``method`` does not take it."""
    given = {k: v for k, v in (("model", model), ("tile", tile)) if v is not None}
    with library_errors(PARAM_HINTS):
        _up.check_method_options(method, iterations=iterations, **given)
    return given


class TileProgress:
    """A ``progress(done, total)`` callback showing a click progress bar over tiles (when several)."""

    def __init__(self, label):
        self.label = label
        self.bar = None
        self.done = 0

    def __call__(self, done, total):
        if total < 2:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def output_name(path, levels):
    """``<stem>_x<2**levels>.png``."""
    return f"{Path(path).stem}_x{2 ** levels}.png"


@click.command("upscale")
@click.option("--levels", type=click.IntRange(min=1), default=DEFAULT_LEVELS, show_default=True,
              help="Number N of 2x levels; the output is 2**N times larger.")
@mu_option()
@method_option()
@iterations_option()
@output_option("Output file (one image) or directory (several images). "
               "Default: <stem>_x<2**N>.png beside each input.")
@click.option("--save-levels", is_flag=True,
              help="Also write every intermediate level's image (<stem>_x2.png, <stem>_x4.png, ...).")
@net_options()
@cluster_options
@image_paths_argument()
def command(levels, mu, method, iterations, output, save_levels, model, tile, scheduler, workers, images):
    """Upscale IMAGES by 2**LEVELS (greyscale, RGB, RGBA, palette; 8- or 16-bit).

    Colour is processed as RGB; an alpha channel is upscaled with bicubic interpolation. A 16-bit
    input gives a 16-bit PNG. Outputs are written atomically and never over an input.
    """
    from mgbp_classic.io import write_image

    images = list(images)

    def extra(src, main):
        if not save_levels:
            return []
        stem = src.stem if main.name == output_name(src, levels) else main.stem
        return [main.with_name(f"{stem}_x{2 ** k}.png") for k in range(1, levels)]

    plans = plan_outputs(images, output, lambda p: output_name(p, levels), extra=extra)
    ensure_directory(output, len(images))
    method = resolve_method(method)
    written = []
    options = method_kwargs(method, model, tile, iterations)
    if wanted(scheduler, workers):
        with open_cluster(scheduler, workers) as client:
            failed = upscale_batch(client, plans, images, levels=levels, method=method, mu=mu,
                                   iterations=iterations, options=options)
        sys.exit(1 if failed else 0)
    tiles = None
    if len(images) == 1 and "progress" in (_up.get_method(method).options or ()):
        tiles = options["progress"] = TileProgress(f"upscaling x{2 ** levels} (tiles)")
    with progress(list(zip(images, plans)), f"upscaling x{2 ** levels}") as items:
        for src, (main, more) in items:
            header = read_header_or_fail(src)          # the size is refused before any pixel is decoded
            with library_errors(PARAM_HINTS, where=src.name):
                check_levels(levels, header.shape, max_pixels=_up.MAX_OUTPUT_PIXELS)
            image, info = read_image_or_fail(src, return_info=True)
            try:
                with library_errors(PARAM_HINTS, where=src.name):
                    result = _up.upscale(image, levels=levels, method=method, mu=mu, iterations=iterations,
                                         return_levels=save_levels, **options)
            finally:
                if tiles is not None:
                    tiles.close()
            outs = result if save_levels else [result]
            targets = [*more, main]
            bit_depth = 16 if info.bit_depth == 16 else 8
            with library_errors():
                for out, target in zip(outs, targets):
                    write_image(target, out, bit_depth=bit_depth, metadata=info.metadata)
                    written.append((target, out.shape))
    for target, shape in written:
        click.echo(f"wrote {target} ({shape[1]}x{shape[0]})")
