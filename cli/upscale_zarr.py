"""``mgbp-classic upscale-zarr``: an image too large for memory, upscaled tile by tile from Zarr to Zarr."""
from pathlib import Path

import click
import numpy as np

from mgbp_classic._validate import check_suffix
from mgbp_classic.imaging.io import read_image

from ._cluster import cluster_options, distributed_module, open_cluster, task_bar, wanted
from ._common import library_errors


@click.command("upscale-zarr")
@click.option("--levels", type=click.IntRange(min=1), default=2, show_default=True,
              help="Number N of 2x levels; the output is 2**N times larger.")
@click.option("--mu", type=click.IntRange(min=1), default=2, show_default=True,
              help="Back-projection steps per level (the model is trained with 2).")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Model file (default: the pretrained model in the package); every worker reads it.")
@click.option("--tile", type=click.IntRange(min=8), default=256, show_default=True,
              help="Side of the low-resolution tiles (one task each); the output's Zarr chunks are "
                   "tile * 2**N.")
@click.option("--margin", type=click.IntRange(min=0), default=None,
              help="LR pixels of context around each tile, as the local tiled path uses [default: 16].")
@click.option("--overwrite", is_flag=True, help="Replace an existing TARGET.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Numba threads of each task [default: the worker's].")
@cluster_options
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
def command(levels, mu, model, tile, margin, overwrite, threads, scheduler, workers, source, target):
    """Upscale SOURCE (a Zarr array, H x W [x C], 8/16-bit or float) into the Zarr array TARGET
    with the learned network.

    The image is read and written tile by tile (a dask.array with map_overlap, the overlap being the
    network's margin), so neither SOURCE nor TARGET is ever whole in memory. Without --scheduler or
    --workers the tiles run in this process. SOURCE may also be an ordinary image file (read whole:
    for trying it out). Needs the dask extra: pip install -e ".[dask]".
    """
    dist = distributed_module("upscale-zarr")
    with library_errors():
        check_suffix(target, "target", {".zarr"}, file=False)
    if target.exists() and not overwrite:
        raise click.BadParameter(f"'{target}' exists (add --overwrite to replace it)", param_hint="TARGET")
    with library_errors():
        if source.is_dir():
            import zarr
            try:
                array = zarr.open_array(str(source), mode="r")
            except Exception as exc:
                raise click.BadParameter(f"'{source}' is not a Zarr array ({type(exc).__name__})",
                                         param_hint="SOURCE") from None
        else:
            image, info = read_image(source, return_info=True)
            dtype = np.uint16 if info.bit_depth == 16 else np.uint8
            array = np.round(image * np.iinfo(dtype).max).astype(dtype)
    s = 2 ** levels
    click.echo(f"{source}: {array.shape[1]}x{array.shape[0]} -> {array.shape[1] * s}x{array.shape[0] * s} "
               f"({array.dtype}), tiles of {tile}", err=True)
    bar = None

    def progress(done, total):
        nonlocal bar
        if bar is None:
            bar = task_bar(total, f"upscaling x{s} (tiles)")
            bar.__enter__()
        bar.update(done - bar.pos)

    options = dict(levels=levels, mu=mu, model=model, tile=tile, overwrite=overwrite, threads=threads,
                   progress=progress, **({} if margin is None else {"margin": margin}))
    try:
        with library_errors():
            if wanted(scheduler, workers):
                with open_cluster(scheduler, workers) as client:
                    dist.upscale_zarr(array, target, client=client, **options)
            else:
                dist.upscale_zarr(array, target, **options)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(f"wrote {target} ({array.shape[1] * s}x{array.shape[0] * s})")
