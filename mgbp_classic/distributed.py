"""Beyond one machine: huge images, batches of files and data-parallel training on a Dask cluster.

This is the only module of the package that imports Dask (``pip install -e ".[dask]"``). It runs
the same library functions as the local commands, cut into tasks for ``dask.distributed``:

* **Huge images** (:func:`upscale_zarr`): an image stored as a Zarr array is read as a
  ``dask.array`` in tiles, each tile is upscaled by the network's runner with ``map_overlap`` (the
  overlap is the runner's margin of context, reflected at the image border exactly as the local tiled
  path reflects it; colour premultiplied by alpha as :func:`mgbp_classic.upscale.upscale` does) and
  the result is written to a Zarr array chunk by chunk, so neither the input nor the output is ever
  whole in one process.
* **Batches** (:func:`upscale_files`, :func:`evaluate_files`): one task per image, run exactly as the
  local batch runs it (the network's runner reads the model for the image, a few milliseconds);
  every output is written by the worker that made it, atomically and at most once, even when a lost
  worker's task is run again elsewhere.
* **Data-parallel training** (:class:`DataParallelGradient`): every step's batch is split into
  shards, each worker computes loss (7) and its gradient on its shard with the same engine, and
  the client adds the shards' gradients (weighted by shard size, which makes the sum the gradient
  of the full batch's mean loss) before its Adam step. The parameters travel to the workers once
  per step by ``Client.scatter``.

A cluster is either an existing one (``scheduler="tcp://host:8786"``) or a ``LocalCluster`` that
:func:`connect` starts and always stops again (also on Ctrl-C).
"""
import contextlib
from functools import lru_cache
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster, as_completed, default_client, get_worker
    import zarr
except ImportError as _exc:                                   # pragma: no cover - exercised via the CLI
    # ModuleNotFoundError (not a plain ImportError): what a missing optional extra is, so that
    # `pytest.importorskip` skips the Dask tests with this reason instead of stopping the collection
    raise ModuleNotFoundError('mgbp_classic.distributed needs Dask; install the extra: pip install -e ".[dask]"',
                              name=getattr(_exc, "name", None) or "dask") from _exc

from ._parallel import machine_threads, sleeping_idle_threads
from ._validate import ParamError, check_int
from .batch import Summary, record_skip, run_job   # the local batch's one-job runner, reused as is
from .data import PatchSampler
from .inference import DEFAULT_MARGIN, DEFAULT_TILE
from .io import read_image, write_image
from .net import MGBPNet, NetConfig, multiscale_loss
from .nn import Engine
from .runner import NetRunner
from .upscale import evaluate_image

__all__ = ["INSTALL_HINT", "connect", "dashboard_link", "upscale_zarr", "image_to_zarr",
           "zarr_to_image", "FileResult", "file_signature", "publish", "upscale_files", "run_batch",
           "evaluate_files", "shard_gradient", "shard_bounds", "DataParallelGradient"]

#: What to run when Dask is missing (the command line prints it).
INSTALL_HINT = 'pip install -e ".[dask]"'

#: Taken around a task's compute only when Numba's threading layer cannot be entered from two
#: threads at once (its fallback "workqueue" layer; "omp" and "tbb" can).
_WORKQUEUE_LOCK = threading.Lock()


@contextlib.contextmanager
def _numba_turn():
    """Let worker threads of one process take turns in Numba's parallel kernels if they must."""
    import numba
    try:
        safe = numba.threading_layer() != "workqueue"
    except ValueError:                                         # no parallel kernel has run yet
        safe = False
    if safe:
        yield
        return
    with _WORKQUEUE_LOCK:
        yield


# ----------------------------------------------------------------------------------------------
# Clusters
# ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def connect(*, scheduler=None, workers=None, threads_per_worker=1, processes=True, worker_threads=None,
            echo=None):
    """A ``dask.distributed.Client`` on an existing cluster or on a local one started for the block.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, as printed by ``dask scheduler``).
    workers : int, optional
        Start a ``LocalCluster`` with this many workers instead; it is closed when the block ends,
        however it ends (an exception, Ctrl-C), so no worker process outlives the command.
    threads_per_worker : int
        Threads of each local worker (1: one task at a time per worker; the network's own kernels
        use the worker's Numba threads).
    processes : bool
        Local workers as separate processes (``True``) or as threads of this process.
    worker_threads : int, optional
        Numba and BLAS threads of each local worker process (default: the machine's cores shared
        out, ``max(1, cores // workers)``, so that the workers do not oversubscribe the cores).
    echo : callable, optional
        Receives one line with the dashboard link.

    Yields
    ------
    dask.distributed.Client
    """
    if (scheduler is None) == (workers is None):
        raise ParamError("workers" if workers is not None else "scheduler",
                         f"scheduler or workers must be given (one of them), got scheduler={scheduler!r} "
                         f"and workers={workers!r}", subject="")
    cluster = None
    if workers is not None:
        workers = check_int(workers, "workers", minimum=1)
        if worker_threads is None:
            worker_threads = max(1, machine_threads() // workers)
        # NumPy's BLAS reads its thread count when it loads, which a worker does before its first
        # task: those variables go in before the process starts (the nannies also copy them into
        # this process's environment, where they change nothing: BLAS is loaded here already). Numba
        # reads NUMBA_NUM_THREADS when it is imported -- in a worker, by the first task -- and checks
        # it again at every compilation, so it goes to the workers only.
        threads = str(int(worker_threads))
        # silence_logs: the workers' own log lines (a heartbeat cut by the shutdown, ...) stay quiet;
        # a task's error reaches the client as the task's exception, a lost worker as KilledWorker
        # OPENBLAS_THREAD_TIMEOUT: OpenBLAS's idle threads stop spinning at once, as in the command's own
        # process (cli/main.py), so that they leave the cores to the network's Numba kernels
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                   **{name: threads for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
                   "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4")}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads_per_worker),
                                   processes=processes, dashboard_address=":0", silence_logs=50,
                                   **({"env": {"NUMBA_NUM_THREADS": threads}} if processes else {}))
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ParamError("scheduler", f"{scheduler!r} cannot be reached: {exc}") from None
    try:
        if echo is not None:
            link = dashboard_link(client)
            count = len(client.scheduler_info().get("workers", {}))
            echo(f"dask: {count} worker{'s' * (count != 1)}, " + (f"dashboard {link}" if link else "no dashboard"))
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def dashboard_link(client):
    """The URL of the cluster's dashboard (``None`` when it has none, e.g. without bokeh)."""
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None                                        # e.g. bokeh is not installed
        return client.dashboard_link
    except Exception:
        return None


def _threads_for(n):
    """Run this task's Numba kernels on ``n`` threads (``None``: leave them as they are).

    In a worker that has not run a Numba kernel yet this also lets the pool's idle threads sleep
    (:func:`~mgbp_classic._parallel.sleeping_idle_threads`, as the command line does).
    """
    sleeping_idle_threads()
    if n:
        import numba
        numba.set_num_threads(max(1, min(int(n), machine_threads())))


# ----------------------------------------------------------------------------------------------
# Huge images: Zarr in, Zarr out, tile by tile
# ----------------------------------------------------------------------------------------------
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
    """This worker process's :class:`~mgbp_classic.runner.NetRunner` for these settings: the model is
    read once per process, and each worker thread keeps its engine in the runner."""
    return NetRunner(model, mu=mu, margin=margin)


def _upscale_block(block, *, levels, mu, model, margin, factor, out_dtype, threads):
    """One overlapped tile ``(h + 2m, w + 2m, C)`` → the upscaled centre ``(h s, w s, C)``, by the
    runner as a whole image is upscaled (colour premultiplied by alpha, alpha by bicubic)."""
    _threads_for(threads)
    img = block.astype(np.float64) / factor if factor != 1.0 else block.astype(np.float64)
    with _numba_turn():
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
        An image file (read with :func:`mgbp_classic.io.read_image`) or an array.
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
    """Write a (small enough) Zarr image array as an image file (:func:`mgbp_classic.io.write_image`)."""
    z = zarr.open_array(os.fspath(source), mode="r")
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"target {target} exists (pass overwrite=True to replace it)")
    values = np.asarray(z[...])
    white = _scale_of(values.dtype)
    return write_image(target, values / white, bit_depth=16 if values.dtype == np.uint16 else 8)


# ----------------------------------------------------------------------------------------------
# Batches of files: one task per image
# ----------------------------------------------------------------------------------------------
@dataclass
class FileResult:
    """What the task of one :class:`mgbp_classic.batch.Job` did.

    Attributes
    ----------
    job : mgbp_classic.batch.Job
    status : {"wrote", "failed"}
    written : list of (Path, tuple)
        Each output written and its ``(rows, cols)`` (``None`` for the intermediate levels).
    kept : list of (Path, tuple)
        Outputs found already written by an earlier run of the same task (not written again).
    message : str
        The reason of a failure (one line).
    seconds : float
        Time of the task on its worker.
    worker : str
        The worker's address.
    """

    job: object
    status: str
    written: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    worker: str = ""


def file_signature(path):
    """``(size, mtime_ns, inode)`` of a file, ``None`` if it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def publish(staging, target, existing):
    """Move a finished ``staging`` file to ``target`` unless ``target`` changed since it was planned.

    Parameters
    ----------
    staging : str
        A complete file in the target's folder.
    target : str
    existing : tuple or None
        :func:`file_signature` of ``target`` at planning time.

    Returns
    -------
    bool
        ``True`` if ``target`` was written; ``False`` if it had already been written (by an earlier
        run of the same task) and was left alone.

    Notes
    -----
    A new file is published with ``os.link``, which fails if the name exists, so two runs of a task
    can never both create it; a planned overwrite replaces the file (``os.replace``, atomic) only if it
    still has its planned signature.
    """
    try:
        if existing is None:
            try:
                os.link(staging, target)
            except FileExistsError:
                return False
            except OSError:                                    # no hard links here: check, then rename
                if os.path.exists(target):
                    return False
                os.replace(staging, target)
            return True
        if file_signature(target) != tuple(existing):
            return False
        os.replace(staging, target)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)


def _staging_name(target):
    head, name = os.path.split(os.path.abspath(target))
    stem, dot, suffix = name.rpartition(".")
    return os.path.join(head, f".{stem}.{uuid.uuid4().hex[:12]}.partial.{suffix}") if dot else \
        os.path.join(head, f".{name}.{uuid.uuid4().hex[:12]}.partial")


def upscale_job_task(job, settings, existing, *, threads=None):
    """Run one :class:`mgbp_classic.batch.Job` on a worker and publish its outputs; never raises.

    The job runs exactly as the local batch runs it (:func:`mgbp_classic.batch.run_job`: formats,
    metadata, any size, the streamed network), but into temporary names beside the targets, which
    are then published with :func:`publish` against ``existing`` (the targets' signatures when the
    batch was planned).
    """
    start = time.perf_counter()
    try:
        worker = get_worker().address
    except ValueError:
        worker = ""
    _threads_for(threads)
    result = FileResult(job, "wrote", worker=worker)
    targets = [*job.extra, job.target]
    staged = [Path(_staging_name(t)) for t in targets]
    try:
        with _numba_turn():
            _, size = run_job(replace(job, target=staged[-1], extra=staged[:-1]), settings)
        for target, staging, before in zip(targets, staged, existing):
            entry = (target, size if target == job.target else None)
            (result.written if publish(os.fspath(staging), os.fspath(target), before) else result.kept).append(entry)
    except Exception as exc:                                   # one bad file never stops the batch
        result.status, result.message = "failed", " ".join(str(exc).split()) or type(exc).__name__
    finally:
        for staging in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staging)
    result.seconds = time.perf_counter() - start
    return result


def upscale_files(client, jobs, settings, *, threads=None):
    """Upscale a planned batch on the cluster, one task per image; yields results as they finish.

    Parameters
    ----------
    client : dask.distributed.Client
    jobs : sequence of mgbp_classic.batch.Job
        From :func:`mgbp_classic.batch.plan_batch` (which applied the existing-output policy); jobs
        marked ``skip`` are not sent. Paths must be ones every worker sees (a shared filesystem).
    settings : mgbp_classic.batch.Settings
        As for :func:`mgbp_classic.batch.run_batch` (a ``model`` option must be readable by every worker).
    threads : int, optional
        Numba threads per task.

    Yields
    ------
    FileResult
        In completion order. A task whose worker is lost is run again on another worker by the
        scheduler (up to its ``allowed-failures``); that run finds the outputs an earlier run had
        already published and leaves them alone (:func:`publish`), so no file is written twice. A
        job that still cannot run (every attempt's worker died) is reported as failed.

    Notes
    -----
    Closing the generator early (e.g. Ctrl-C) cancels the tasks that have not finished.
    """
    options = dict(settings.options)
    if options.get("model") is not None:
        options["model"] = os.path.abspath(os.fspath(options["model"]))
    settings = replace(settings, options=options)
    futures = {}
    for job in jobs:
        if job.skip:
            continue
        job = replace(job, target=Path(os.path.abspath(job.target)),
                      extra=[Path(os.path.abspath(e)) for e in job.extra])
        existing = tuple(file_signature(t) for t in [*job.extra, job.target])
        futures[client.submit(upscale_job_task, job, settings, existing, threads=threads, pure=False)] = job
    try:
        for future in as_completed(list(futures)):
            try:
                yield future.result()
            except Exception as exc:                            # e.g. KilledWorker: every attempt was lost
                text = str(exc).strip().splitlines()
                yield FileResult(futures[future], "failed",
                                 message=f"{type(exc).__name__}: {text[0] if text else 'task lost'}")
    finally:
        client.cancel(list(futures))


def run_batch(client, jobs, settings, *, on_written=None, on_failed=None, on_skipped=None, threads=None):
    """:func:`mgbp_classic.batch.run_batch` on a cluster: the same jobs, callbacks and summary.

    Returns
    -------
    mgbp_classic.batch.Summary
        Written (each output once, including any an earlier run of a lost worker's task had
        published), skipped and failed files; callbacks are called as results arrive.
    """
    summary = Summary()
    for job in jobs:
        record_skip(job, summary, on_skipped)
    for result in upscale_files(client, jobs, settings, threads=threads):
        if result.status == "failed":
            summary.failed.append((result.job.source.path, result.message))
            if on_failed:
                on_failed(result.job.source.path, result.message)
            continue
        for target, size in result.written + result.kept:     # kept: published by a lost worker's run
            if target == result.job.target:
                summary.written.append((target, size))
                if on_written:
                    on_written(target, size, result.seconds)
    return summary


def evaluate_task(path, *, scale, method, levels, mu, iterations, options, threads=None):
    """Score one HR image under the standard protocol (run on a worker); the row of ``evaluate``."""
    _threads_for(threads)
    hr = read_image(path)
    with _numba_turn():
        score = evaluate_image(hr, scale=scale, method=method, levels=levels, mu=mu, iterations=iterations,
                               **options)
    return {"image": Path(path).name, **score}


def evaluate_files(client, files, *, scale, method, levels=None, mu=2, iterations=None, threads=None,
                   **options):
    """PSNR/SSIM of a method on every image of a dataset, one task per image.

    Yields
    ------
    (int, dict)
        The file's index in ``files`` and its row (``image``, ``psnr``, ``ssim``, ``seconds``, ``shape``)
        as :func:`mgbp_classic.upscale.evaluate_image` returns it, in completion order. A task's error
        is raised here (the local command stops at a bad image too).
    """
    if "model" in options and options["model"] is not None:
        options["model"] = os.path.abspath(os.fspath(options["model"]))
    futures = {client.submit(evaluate_task, os.path.abspath(os.fspath(f)), scale=scale, method=method,
                             levels=levels, mu=mu, iterations=iterations, options=options, threads=threads,
                             pure=False): i
               for i, f in enumerate(files)}
    try:
        for future in as_completed(list(futures)):
            yield futures[future], future.result()
    finally:
        client.cancel(list(futures))


# ----------------------------------------------------------------------------------------------
# Data-parallel training
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _sampler(data, patch, levels):
    return PatchSampler(list(data), patch=patch, levels=levels)


def _worker_sampler(data, patch, levels):
    """The :class:`~mgbp_classic.data.PatchSampler` of a training set, built once per worker process
    (the images are read from ``data``, a path every worker sees; drawing a batch only reads it)."""
    return _sampler(tuple(data), patch, levels)


#: Each worker thread's training network per architecture, with its engine: built on the thread's
#: first shard (the gradient buffer and the scratch buffers are the thread's own).
_THREAD = threading.local()


def _worker_net(network):
    """``(net, engine)``: this worker thread's network of the given architecture (``NetConfig`` as a
    dict) and its engine context."""
    key = tuple(sorted(network.items()))
    nets = _THREAD.__dict__.setdefault("nets", {})
    if key not in nets:
        nets[key] = (MGBPNet(NetConfig.from_dict(network)), Engine())
    return nets[key]


def shard_gradient(params, *, spec, step, lo, hi, threads=None):
    """Loss (7) and its gradient on patches ``lo:hi`` of step ``step``'s batch (run on a worker).

    Parameters
    ----------
    params : ndarray
        The flat float32 parameter vector of the step.
    spec : dict
        ``data``, ``patch``, ``levels``, ``mu``, ``batch``, ``seed`` of the run and ``network`` (the
        ``NetConfig`` as a dict).
    step : int
        The step whose batch is drawn (from a generator seeded ``(seed, step)``, as the trainer does).
    lo, hi : int
        The shard: patches ``lo … hi - 1`` of the batch.
    threads : int, optional
        Numba threads of this task.

    Returns
    -------
    loss : float
        The shard's loss times its weight ``(hi - lo) / batch``.
    parts : dict
        Every term of loss (7), weighted the same way.
    grads : ndarray
        The weighted gradient (float32, the parameter vector's shape).
    seconds : float
        Compute time of the shard on its worker (drawing the batch, forward and backward).

    Notes
    -----
    Loss (7) averages over the batch, so the mean over the full batch is the sum over shards of
    ``(n_shard / n_batch) ×`` the shard's mean, and so is its gradient: the client only adds.
    Every shard draws the *whole* batch (cheap: crops of the stored pyramids) and keeps its slice,
    so the batch is exactly the single-process batch.
    """
    _threads_for(threads)
    start = time.perf_counter()
    sampler = _worker_sampler(spec["data"], spec["patch"], spec["levels"])
    net, engine = _worker_net(spec["network"])
    weight = (hi - lo) / spec["batch"]
    rng = np.random.default_rng([spec["seed"], step])
    shard = [level[lo:hi] for level in sampler.sample(rng, spec["batch"])]
    net.store.params[...] = params
    net.store.zero_grad()
    with _numba_turn():
        loss, parts = multiscale_loss(net, shard, mu=spec["mu"], max_levels=spec["levels"], engine=engine)
    grads = net.store.grads * np.float32(weight)
    return loss * weight, {k: v * weight for k, v in parts.items()}, grads, time.perf_counter() - start


def shard_bounds(batch, shards):
    """``[(lo, hi), …]``: ``batch`` patches cut into ``shards`` nearly equal consecutive pieces."""
    shards = max(1, min(int(shards), int(batch)))
    edges = np.linspace(0, batch, shards + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class DataParallelGradient:
    """Loss (7) and its gradient for a training step, computed in shards on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
    config : mgbp_classic.train.TrainConfig
        The run (its ``data`` must be a path every worker can read). The architecture is that of
        the network passed to each call.
    shards : int, optional
        Pieces each batch is cut into (default: one per worker, at most ``config.batch``).
    threads : int, optional
        Numba threads per task (default: the worker's).

    Notes
    -----
    Each call scatters the parameters once to every worker (``Client.scatter(broadcast=True)``: one
    copy per worker, not one per task), submits one :func:`shard_gradient` task per shard and adds
    their weighted gradients into ``net.store.grads``. Communication per step: the parameters to
    each worker and one gradient from each shard, ``4 P (workers + shards)`` bytes for P parameters
    (``bytes_per_step`` after a call), plus the small task messages; ``shard_seconds`` holds the
    last step's compute time of each shard on its worker.

    Examples
    --------
    ::

        with connect(workers=2) as client:
            gradient = DataParallelGradient(client, config)
            loss, parts = gradient(net, step)      # fills net.store.grads; then adam.step(...)
    """

    def __init__(self, client, config, *, shards=None, threads=None):
        self.client = client
        self.threads = threads
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        self.shards = shard_bounds(config.batch, shards or nworkers)
        self.workers = nworkers
        self.spec = {"data": [os.path.abspath(d) if "://" not in str(d) else str(d) for d in config.data],
                     "patch": config.patch, "levels": config.levels, "mu": config.mu,
                     "batch": config.batch, "seed": config.seed}
        self.bytes_per_step = None
        self.shard_seconds = []

    def __call__(self, net, step):
        """Fill ``net.store.grads`` with the full batch's gradient at ``net``'s parameters; returns
        ``(loss, parts)`` as :func:`mgbp_classic.net.multiscale_loss` does."""
        spec = {**self.spec, "network": net.config.to_dict()}
        params = self.client.scatter(net.store.params, broadcast=True, hash=False)
        futures = [self.client.submit(shard_gradient, params, spec=spec, step=step, lo=lo, hi=hi,
                                      threads=self.threads, pure=False)
                   for lo, hi in self.shards]
        try:
            results = self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise
        finally:
            self.client.cancel([params])
        total = np.zeros(net.store.grads.shape, np.float64)
        loss, parts = 0.0, {}
        self.shard_seconds = [r[3] for r in results]
        for shard_loss, shard_parts, grads, _ in results:
            loss += shard_loss
            total += grads
            for key, value in shard_parts.items():
                parts[key] = parts.get(key, 0.0) + value
        net.store.grads[...] = total
        self.bytes_per_step = net.store.params.nbytes * (self.workers + len(results))
        return loss, parts
