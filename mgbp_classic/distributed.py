"""Beyond one machine: huge images, batches of files and data-parallel training on a Dask cluster.

This is the face of :mod:`mgbp_classic.scale_out`, the rooms that import Dask
(``pip install -e ".[dask]"``: without it importing this module is a ``ModuleNotFoundError`` naming
the extra). They run the same library functions as the local commands, cut into tasks for
``dask.distributed``:

* **Huge images** (:func:`upscale_zarr`, ``scale_out.zarr_images``): an image stored as a Zarr array is read as a
  ``dask.array`` in tiles, each tile is upscaled by the network's runner with ``map_overlap`` (the
  overlap is the runner's margin of context, reflected at the image border exactly as the local tiled
  path reflects it; colour premultiplied by alpha as :func:`mgbp_classic.pipeline.upscale.upscale`
  does) and the result is written to a Zarr array chunk by chunk, so neither the input nor the output
  is ever whole in one process.
* **Batches** (:func:`upscale_files`, :func:`evaluate_files`, ``scale_out.files``): one task per image, run exactly as the
  local batch runs it (the network's runner reads the model for the image, a few milliseconds);
  every output is written by the worker that made it, atomically and at most once, even when a lost
  worker's task is run again elsewhere.
* **Data-parallel training** (:class:`DataParallelGradient`, ``scale_out.training``): every step's batch is split into
  shards, each worker computes loss (7) and its gradient on its shard with the same engine, and
  the client adds the shards' gradients (weighted by shard size, which makes the sum the gradient
  of the full batch's mean loss) before its Adam step. The parameters travel to the workers once
  per step by ``Client.scatter``.

A cluster (``scale_out.cluster``) is either an existing one (``scheduler="tcp://host:8786"``) or a ``LocalCluster`` that
:func:`connect` starts and always stops again (also on Ctrl-C).
"""
try:
    import dask  # noqa: F401 -- the optional extra, checked here for every room of scale_out
    import zarr  # noqa: F401
except ImportError as _exc:                                   # pragma: no cover - exercised via the CLI
    # ModuleNotFoundError (not a plain ImportError): what a missing optional extra is, so that
    # `pytest.importorskip` skips the Dask tests with this reason instead of stopping the collection
    raise ModuleNotFoundError('mgbp_classic.distributed needs Dask; install the extra: pip install -e ".[dask]"',
                              name=getattr(_exc, "name", None) or "dask") from _exc

from .scale_out.cluster import connect, dashboard_link
from .scale_out.files import FileResult, evaluate_files, file_signature, publish, run_batch, upscale_files
from .scale_out.training import DataParallelGradient, shard_bounds, shard_gradient
from .scale_out.zarr_images import image_to_zarr, upscale_zarr, zarr_to_image

__all__ = ["INSTALL_HINT", "connect", "dashboard_link", "upscale_zarr", "image_to_zarr",
           "zarr_to_image", "FileResult", "file_signature", "publish", "upscale_files", "run_batch",
           "evaluate_files", "shard_gradient", "shard_bounds", "DataParallelGradient"]

#: What to run when Dask is missing (the command line prints it).
INSTALL_HINT = 'pip install -e ".[dask]"'
