"""Batches of files on a cluster: one task per image, run exactly as the local batch runs it.

Every output is written by the worker that made it, under a temporary name beside its target and
then published, atomically and at most once, even when a lost worker's task is run again elsewhere
(:func:`publish`). Scores of a dataset likewise, one task per image (:func:`evaluate_files`).
"""
import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from dask.distributed import as_completed, get_worker

from ..imaging.io import read_image
from ..pipeline.batch import Summary, record_skip, run_job   # the local batch's one-job runner, reused as is
from ..pipeline.upscale import evaluate_image
from .cluster import numba_turn, task_threads

__all__ = ["FileResult", "file_signature", "publish", "upscale_files", "run_batch", "evaluate_files"]


@dataclass
class FileResult:
    """What the task of one :class:`mgbp_classic.pipeline.batch.Job` did.

    Attributes
    ----------
    job : mgbp_classic.pipeline.batch.Job
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
    """Run one :class:`mgbp_classic.pipeline.batch.Job` on a worker and publish its outputs; never raises.

    The job runs exactly as the local batch runs it (:func:`mgbp_classic.pipeline.batch.run_job`: formats,
    metadata, any size, the streamed network), but into temporary names beside the targets, which
    are then published with :func:`publish` against ``existing`` (the targets' signatures when the
    batch was planned).
    """
    start = time.perf_counter()
    try:
        worker = get_worker().address
    except ValueError:
        worker = ""
    task_threads(threads)
    result = FileResult(job, "wrote", worker=worker)
    targets = [*job.extra, job.target]
    staged = [Path(_staging_name(t)) for t in targets]
    try:
        with numba_turn():
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
    jobs : sequence of mgbp_classic.pipeline.batch.Job
        From :func:`mgbp_classic.pipeline.batch.plan_batch` (which applied the existing-output policy); jobs
        marked ``skip`` are not sent. Paths must be ones every worker sees (a shared filesystem).
    settings : mgbp_classic.pipeline.batch.Settings
        As for :func:`mgbp_classic.pipeline.batch.run_batch` (a ``model`` option must be readable by every worker).
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
    """:func:`mgbp_classic.pipeline.batch.run_batch` on a cluster: the same jobs, callbacks and summary.

    Returns
    -------
    mgbp_classic.pipeline.batch.Summary
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
    task_threads(threads)
    hr = read_image(path)
    with numba_turn():
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
        as :func:`mgbp_classic.pipeline.upscale.evaluate_image` returns it, in completion order. A task's error
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
