"""Huge images: an image stored as a Zarr array, upscaled tile by tile into a Zarr array.

The image is read as a ``dask.array`` in tiles; each tile is upscaled by the network's runner with
``map_overlap`` (the overlap is the runner's margin of context, reflected at the image border exactly
as the local tiled path reflects it; colour premultiplied by alpha as
:func:`mgbp_classic.pipeline.upscale.upscale` does) and the result is written to a Zarr array chunk
by chunk, so neither the input nor the output is ever whole in one process.
"""
import contextlib
import os
import shutil
import uuid
from functools import lru_cache

import dask
import dask.array as da
import numpy as np
import zarr
from dask.distributed import as_completed, default_client

from .._validate import ParamError, check_int
from ..imaging.io import read_image, write_image
from ..inference import DEFAULT_MARGIN, DEFAULT_TILE
from ..pipeline.runner import NetRunner
from .cluster import numba_turn, task_threads

__all__ = ["upscale_zarr", "image_to_zarr", "zarr_to_image"]


def _scale_of(dtype, name="source"):
    """Value of white for an image dtype (1 for floats)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return float(np.iinfo(dtype).max)
    if dtype.kind == "f":
        return 1.0
    raise ParamError(name, f"must hold unsigned integers or floats, got dtype {dtype}")


@lru_cache(maxsize=8)
def _worker_runner(model, mu, margin):
    """This worker process's :class:`~mgbp_classic.pipeline.runner.NetRunner` for these settings: the model is
    read once per process, and each worker thread keeps its engine in the runner."""
    return NetRunner(model, mu=mu, margin=margin)


def _upscale_block(block, *, levels, mu, model, margin, factor, out_dtype, threads):
    """One overlapped tile ``(h + 2m, w + 2m, C)`` → the upscaled centre ``(h s, w s, C)``, by the
    runner as a whole image is upscaled (colour premultiplied by alpha, alpha by bicubic)."""
    task_threads(threads)
    img = block.astype(np.float64) / factor if factor != 1.0 else block.astype(np.float64)
    with numba_turn():
        out = _worker_runner(model, mu, margin).block(img, levels)
    if np.dtype(out_dtype).kind == "u":
        white = _scale_of(out_dtype)
        return np.round(out.astype(np.float64) * white).astype(out_dtype)
    return out.astype(out_dtype)


def _tile_chunks(n, tile, margin):
    """Chunk lengths of one axis: tiles of ``tile`` from the origin, the local path's grid; a last
    piece shorter than ``margin`` (Dask's overlap needs that much of every neighbour) joins the
    tile before it."""
    chunks = [tile] * (n // tile) + ([n % tile] if n % tile else [])
    if len(chunks) > 1 and chunks[-1] < margin:
        last = chunks.pop()
        chunks[-1] += last
    return tuple(chunks)


def upscale_zarr(source, target, *, levels, mu=2, model=None, tile=DEFAULT_TILE, margin=DEFAULT_MARGIN,
                 overwrite=False, dtype=None, threads=None, client=None, progress=None):
    """Upscale an image stored as a Zarr array by ``2**levels`` with the network, into a Zarr array.

    Parameters
    ----------
    source : str or os.PathLike or zarr.Array or ndarray
        Zarr array (a path or fsspec URL of one, or the array; an in-memory array also works) shaped ``(H, W)`` or ``(H, W, C)``,
        C in 1–4, of unsigned integers (white = the dtype's maximum) or floats in [0, 1].
    target : str or os.PathLike
        Path (or fsspec URL) of the Zarr array to write, ``(H s, W s[, C])`` with s = ``2**levels``.
        A local target is written under a temporary name beside it and renamed when complete.
    levels, mu : int
        As in :func:`mgbp_classic.inference.upscale_rgb`.
    model : path, optional
        Model file (default: the pretrained model); every worker reads it (once per process).
    tile : int
        Side of the low-resolution tiles (the Dask chunks; the tiles of the local tiled path).
    margin : int
        LR pixels of context each tile borrows from its neighbours (reflected at the border).
    overwrite : bool
        Replace an existing ``target``; otherwise it is an error.
    dtype : numpy dtype, optional
        Output dtype (default: the input's; floats are stored as float32).
    threads : int, optional
        Numba threads each task uses.
    client : dask.distributed.Client, optional
        Where to compute (default: Dask's current scheduler, e.g. the client of :func:`connect`).
    progress : callable, optional
        ``progress(done, total)`` over output chunks (with a distributed client).

    Returns
    -------
    str
        ``target``.

    Notes
    -----
    The tiles are those of :func:`mgbp_classic.inference.upscale_rgb` with the same ``tile`` and
    ``margin`` (Dask's ``boundary="reflect"`` is NumPy's ``"symmetric"`` padding), so the two agree
    to the float32 rounding of the network and the output's quantisation; only a last tile shorter
    than ``margin`` is merged into its neighbour (within 1/255 of the local result, like any tiling).
    """

    tile = check_int(tile, "tile", minimum=1)
    margin = check_int(margin, "margin", minimum=0)
    levels = check_int(levels, "levels", minimum=1)
    mu = check_int(mu, "mu", minimum=1)
    threads = check_int(threads, "threads", minimum=1, optional=True)
    target = os.fspath(target)
    local = "://" not in target
    if local and os.path.exists(target) and not overwrite:
        raise FileExistsError(f"target {target} exists (pass overwrite=True to replace it)")
    array = source if hasattr(source, "shape") else zarr.open_array(os.fspath(source), mode="r")
    shape = tuple(array.shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4):
        raise ParamError("source", f"must be a Zarr array shaped (H, W) or (H, W, C) with C in 1-4, got shape {shape}")
    if min(shape[:2]) < max(margin, 1):
        raise ParamError("source", f"must be at least {margin} pixels on each side for margin {margin}, "
                         f"got shape {shape}")
    factor = _scale_of(array.dtype)
    out_dtype = np.dtype(dtype) if dtype is not None else \
        (np.dtype(np.float32) if np.dtype(array.dtype).kind == "f" else np.dtype(array.dtype))
    model = NetRunner(model, mu=mu, margin=margin).model        # a bad model file fails here, in one line

    s = 2 ** levels
    chunks = (_tile_chunks(shape[0], tile, margin), _tile_chunks(shape[1], tile, margin))
    lr = (da.from_zarr(array) if isinstance(array, zarr.Array) else da.from_array(array)).rechunk(chunks + ((shape[2],) if len(shape) == 3 else ()))
    if lr.ndim == 2:
        lr = lr[:, :, None]
    channels = lr.shape[2]
    up = da.map_overlap(
        _upscale_block, lr, depth={0: margin, 1: margin, 2: 0}, boundary={0: "reflect", 1: "reflect", 2: "none"},
        trim=False, dtype=out_dtype, chunks=(tuple(c * s for c in chunks[0]), tuple(c * s for c in chunks[1]),
                                            (channels,)),
        levels=int(levels), mu=int(mu), model=model, margin=int(margin), factor=factor, out_dtype=out_dtype,
        threads=threads, meta=np.empty((0, 0, 0), out_dtype))

    staging = os.path.join(os.path.dirname(os.path.abspath(target)),
                           f".{os.path.basename(target)}.{uuid.uuid4().hex[:8]}.partial") if local else target
    out_shape = (shape[0] * s, shape[1] * s) + shape[2:]
    zarr.open_array(staging, mode="w", shape=out_shape, dtype=out_dtype,
                    chunks=(tile * s, tile * s) + shape[2:])
    # one task per output chunk: compute the tile and write it; every Zarr chunk is written by exactly
    # one task (a merged last tile covers whole Zarr chunks), so no locks are needed
    blocks = up.to_delayed()
    offsets = [np.cumsum((0,) + c) * s for c in chunks]
    writes = [dask.delayed(_store_block, pure=False)(blocks[i, j, 0], staging,
                                                     (slice(offsets[0][i], offsets[0][i + 1]),
                                                      slice(offsets[1][j], offsets[1][j + 1])))
              for i in range(blocks.shape[0]) for j in range(blocks.shape[1])]
    _compute_all(writes, client=client, progress=progress)
    if local:
        if os.path.exists(target):
            trash = staging + ".old"
            os.replace(target, trash)
            os.replace(staging, target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, target)
    return target


def _store_block(block, path, region):
    """Write one upscaled tile into the Zarr array at ``path`` (run on a worker)."""
    z = zarr.open_array(path, mode="r+")
    z[region] = block if z.ndim == 3 else block[:, :, 0]
    return block.nbytes


def _compute_all(tasks, *, client=None, progress=None):
    """Run a list of Dask ``delayed`` tasks on ``client`` (default: the current distributed client,
    else Dask's local scheduler), calling ``progress(done, total)`` as they finish."""
    if client is None:
        with contextlib.suppress(ValueError):
            client = default_client()
    total = len(tasks)
    if client is None:                                         # Dask's threads in this process
        from dask.callbacks import Callback
        keys, done = {t.key for t in tasks}, [0]

        def posttask(key, result, dsk, state, worker_id):
            if key in keys and progress is not None:
                done[0] += 1
                progress(done[0], total)
        with Callback(posttask=posttask):
            dask.compute(*tasks)
        return
    futures = client.compute(tasks)
    try:
        for done, future in enumerate(as_completed(futures), 1):
            future.result()                                    # raises the task's error, if any
            if progress is not None:
                progress(done, total)
    except BaseException:
        client.cancel(futures)
        raise


def image_to_zarr(image, target, *, chunks=512, overwrite=False):
    """Store an image file or array as a Zarr array (8/16-bit images keep their integers).

    Parameters
    ----------
    image : path or ndarray
        An image file (read with :func:`mgbp_classic.imaging.io.read_image`) or an array.
    target : str or os.PathLike
        Zarr path to create.
    chunks : int
        Chunk side.
    overwrite : bool
        Replace an existing target.

    Returns
    -------
    zarr.Array
    """
    if isinstance(image, (str, os.PathLike)):
        pixels, info = read_image(image, return_info=True)
        depth = info.bit_depth
        dtype = np.uint16 if depth == 16 else np.uint8
        array = np.round(pixels * np.iinfo(dtype).max).astype(dtype)
    else:
        array = np.asarray(image)
    mode = "w" if overwrite else "w-"
    z = zarr.open_array(os.fspath(target), mode=mode, shape=array.shape, dtype=array.dtype,
                        chunks=(chunks, chunks) + array.shape[2:])
    z[...] = array
    return z


def zarr_to_image(source, target, *, overwrite=False):
    """Write a (small enough) Zarr image array as an image file (:func:`mgbp_classic.imaging.io.write_image`)."""
    z = zarr.open_array(os.fspath(source), mode="r")
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"target {target} exists (pass overwrite=True to replace it)")
    values = np.asarray(z[...])
    white = _scale_of(values.dtype)
    return write_image(target, values / white, bit_depth=16 if values.dtype == np.uint16 else 8)
