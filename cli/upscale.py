"""``mgbp-classic upscale``: upscale images, folders and patterns by 2**levels, any scale or to a size."""
import sys
from pathlib import Path

import click

from mgbp_classic.pipeline import batch
from mgbp_classic.pipeline import upscale as _up
from mgbp_classic._parallel import use_threads
from mgbp_classic.exceptions import ImageError
from mgbp_classic.imaging.formats import FORMATS
from mgbp_classic.pipeline.plan import format_bytes

from ._cluster import cluster_options, open_cluster, upscale_batch, wanted
from ._common import (existing_options, existing_policy, library_errors, memory_option, output_option, run_jobs,
                      sigterm_exits, threads_option)

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
    """``--method``: one of the registered methods; default :data:`mgbp_classic.pipeline.upscale.DEFAULT_METHOD`
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
                         help="net: side of the low-resolution tiles processed at a time (default: the largest "
                              "that fits --memory).")(f)
        return click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="net: model file (default: the pretrained model in the package).")(f)
    return decorate


def method_kwargs(method, model, tile, iterations=None):
    """The method options given on the command line, for ``upscale(**kwargs)`` (absent ones are not
    passed), checked by :func:`mgbp_classic.pipeline.upscale.check_method_options` before any image is read:
    ``click.BadParameter`` naming the option when ``method`` does not take it."""
    given = {k: v for k, v in (("model", model), ("tile", tile)) if v is not None}
    with library_errors():
        _up.check_method_options(method, iterations=iterations, **given)
    return given


@click.command("upscale")
@click.option("--levels", type=click.IntRange(min=1), default=None,
              help=f"Number N of 2x levels; the output is 2**N times larger. [default: {DEFAULT_LEVELS} "
                   "unless --scale, --width or --height is given]")
@click.option("--scale", type=click.FloatRange(min=1, min_open=True), default=None,
              help="Any factor > 1 (e.g. 3 or 2.5): the method runs the smallest 2**N >= it, then MATLAB "
                   "bicubic imresize (anti-aliased) brings the result to the exact size.")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Output width in pixels (the height keeps the aspect ratio unless --height is given).")
@click.option("--height", type=click.IntRange(min=1), default=None,
              help="Output height in pixels (the width keeps the aspect ratio unless --width is given).")
@mu_option()
@method_option()
@iterations_option()
@output_option("Output file (one image) or directory (several images, a folder, a pattern; -r mirrors "
               "the tree under it). Default: <stem>_x<factor>.<ext> beside each input.")
@click.option("--format", "format_", type=click.Choice(list(FORMATS)), default=None,
              help="Output format. [default: from -o's extension, else the input's format when it is one "
                   "of these, else png]")
@click.option("--quality", type=click.IntRange(1, 100), default=None,
              help="JPEG/WebP quality 1-100. [default: jpeg 92, webp 90]")
@click.option("--strip-metadata", is_flag=True,
              help="Write no ICC profile and no EXIF (by default both are carried, with the orientation "
                   "reset to 1 and the pixel dimensions updated).")
@click.option("-r", "--recursive", is_flag=True,
              help="Descend into the subdirectories of directory inputs, mirroring the tree under -o.")
@existing_options
@memory_option("Memory budget, e.g. 2GiB or 800MB; sets the network's tile size. [default: half the "
               "available memory, between 1 and 8 GiB]")
@threads_option()
@click.option("--dry-run", is_flag=True,
              help="Print the plan (each output's path and size, tiles, memory, estimated time); write nothing.")
@click.option("--save-levels", is_flag=True,
              help="Also write every intermediate level's image (<stem>_x2, <stem>_x4, ...); with --levels only.")
@net_options()
@cluster_options
@click.argument("images", nargs=-1, required=True)
def command(levels, scale, width, height, mu, method, iterations, output, format_, quality, strip_metadata,
            recursive, skip_existing, overwrite, memory, threads, dry_run, save_levels, model, tile, scheduler,
            workers, images):
    """Upscale IMAGES (files, directories, glob patterns) by 2**LEVELS, by any --scale or to a size.

    Reads greyscale, RGB, RGBA and palette images, 8- or 16-bit (PNG, JPEG, WebP, TIFF, BMP, ...),
    turned upright by their EXIF orientation. Writes PNG or TIFF (16-bit for a 16-bit input), JPEG
    or WebP, with the input's ICC profile and EXIF. Colour is processed in the input's colour space;
    colour is premultiplied by alpha. Outputs are written atomically and never over an input; an
    existing output is an error unless --skip-existing or --overwrite. With several images a file
    that fails is reported and the others are written; the exit status is 1 if any failed.
    """
    sized = [n for n, v in (("--scale", scale), ("--width", width), ("--height", height)) if v is not None]
    if levels is not None and sized:
        raise click.UsageError(f"--levels and {sized[0]} exclude each other; give one way to set the size")
    if save_levels and sized:
        raise click.UsageError(f"--save-levels needs --levels (every level is a power of two), got {sized[0]}")
    if quality is not None and format_ is not None and FORMATS[format_].quality is None:
        raise click.BadParameter(f"applies to JPEG and WebP only, got --format {format_}", param_hint="'--quality'")
    context = click.get_current_context()
    context.with_resource(use_threads(threads))                       # restored when the command ends
    term = context.with_resource(sigterm_exits())                     # no temporary file left by SIGTERM
    method = resolve_method(method)
    options = method_kwargs(method, model, tile, iterations)
    options.pop("tile", None)
    settings = batch.Settings(levels=DEFAULT_LEVELS if levels is None and not sized else levels, scale=scale,
                              width=width, height=height, method=method, mu=mu, iterations=iterations,
                              format=format_, quality=quality, strip_metadata=strip_metadata, memory=memory, tile=tile,
                              save_levels=save_levels, options=options)
    with library_errors():
        jobs, single = batch.plan_files(images, output, name=settings.name, extra=settings.extra, recursive=recursive,
                                        existing=existing_policy(skip_existing, overwrite))
    if dry_run:
        _dry_run(jobs, settings)
    elif wanted(scheduler, workers):                  # one task per image on a Dask cluster, the same rules
        with library_errors():
            batch.make_parents(jobs)
        with open_cluster(scheduler, workers) as client:
            failed = upscale_batch(client, jobs, settings, label=settings.describe(), threads=threads)
        sys.exit(1 if failed else 0)
    else:
        run_jobs(jobs, settings, single=single, label=f"upscaling {settings.describe()}", term=term)


def _dry_run(jobs, settings):
    """Print each job's plan; nothing is written."""
    problems = 0
    peak = 0
    for job in jobs:
        try:
            shape = batch.probe(job.source.path)[0]
            plan = batch.plan_job(job, settings, shape)
        except (ValueError, ImageError) as exc:
            problems += 1
            click.echo(f"would fail {job.source.path}: {' '.join(str(exc).split())}")
            continue
        peak = max(peak, plan.memory)
        click.echo(f"plan {job.source.path} -> {job.target}{batch.describe_existing(job)}: {plan.describe()}")
    click.echo(f"dry run: {len(jobs) - problems} of {len(jobs)} images planned (peak memory ~{format_bytes(peak)}), "
               f"nothing written")
    if problems:
        raise SystemExit(1)
