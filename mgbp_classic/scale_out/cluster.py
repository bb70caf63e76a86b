"""A Dask client on an existing cluster or on a local one started for the block; the threads of a task.

A cluster is either an existing one (``scheduler="tcp://host:8786"``) or a ``LocalCluster`` that
:func:`connect` starts and always stops again (also on Ctrl-C). A task runs its Numba kernels on
the threads it is given (:func:`task_threads`); worker threads of one process take turns in
Numba's kernels where its threading layer needs it (:func:`numba_turn`).
"""
import contextlib
import os
import threading

import dask
from dask.distributed import Client, LocalCluster

from .._parallel import machine_threads, sleeping_idle_threads
from .._validate import ParamError, check_int

__all__ = ["connect", "dashboard_link", "numba_turn", "task_threads"]

#: Taken around a task's compute only when Numba's threading layer cannot be entered from two
#: threads at once (its fallback "workqueue" layer; "omp" and "tbb" can).
_WORKQUEUE_LOCK = threading.Lock()


@contextlib.contextmanager
def numba_turn():
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


def task_threads(n):
    """Run this task's Numba kernels on ``n`` threads (``None``: leave them as they are).

    In a worker that has not run a Numba kernel yet this also lets the pool's idle threads sleep
    (:func:`~mgbp_classic._parallel.sleeping_idle_threads`, as the command line does).
    """
    sleeping_idle_threads()
    if n:
        import numba
        numba.set_num_threads(max(1, min(int(n), machine_threads())))
