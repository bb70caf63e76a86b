"""The one rule for Numba's thread pool: run a parallel kernel on one thread when its work is small.

Waking the thread pool costs microseconds on an idle machine but up to a scheduler time slice
(milliseconds) on a busy one, which would dominate the many small calls of the solvers and of the
network's thin layers. Each caller names its own threshold (the resampling kernels and the network
kernels were measured separately), with one signature.

:func:`sleeping_idle_threads` is the other half of the rule, a setting of the whole process: the
network alternates Numba kernels with OpenBLAS products, and two pools that each keep their idle
threads spinning then fight over the two cores at every switch.

:func:`machine_threads` is the one idea of "the cores": what Numba's pool can run (its
``NUMBA_NUM_THREADS``, by default the cores this process may use); :func:`use_threads` sets the
pool's size for a block.
"""
import contextlib
import os

import numba

__all__ = ["machine_threads", "run", "sleeping_idle_threads", "use_threads"]


def machine_threads():
    """The cores this process can run kernels on: the size of Numba's thread pool
    (``NUMBA_NUM_THREADS``, which defaults to the cores the process may use)."""
    return int(numba.config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def use_threads(threads):
    """Within the block, Numba's kernels run on ``threads`` threads (``None``: unchanged); the
    previous count is restored after. ``threads`` must be checked already
    (:func:`mgbp_classic._validate.check_threads`)."""
    if threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(int(threads))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def run(kernel, work, *args, serial_below):
    """Call ``kernel(*args)``, on one thread when ``work`` (elements or multiply-adds) is below
    ``serial_below``; returns what the kernel returns."""
    if work >= serial_below:
        return kernel(*args)
    threads = numba.get_num_threads()
    if threads == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(threads)


#: The OpenMP setting of :func:`sleeping_idle_threads`.
WAIT_POLICY = ("OMP_WAIT_POLICY", "PASSIVE")


def sleeping_idle_threads():
    """Let the idle threads of Numba's OpenMP pool sleep at once instead of spinning.

    By default GNU OpenMP keeps an idle thread spinning for a while after a parallel loop. When a
    BLAS product follows (OpenBLAS has a pool of its own), the spinning threads take the cores from
    it: on this project's 2-core machine an alternation of bias + ReLU and two products over 16384
    pixels took 9.6 ms instead of the 3.4 ms of its three calls, and a whole upscale about 20 %
    longer. ``OMP_WAIT_POLICY=PASSIVE`` makes idle threads sleep; waking them costs tens of
    microseconds, which :func:`run`'s thresholds already pay for.

    The OpenMP runtime reads the variable once, when it is loaded (Numba loads it with its first
    parallel call), so this is a setting of the whole process, made by the command-line entry
    point and never on import; a value the user has set is kept.

    Returns
    -------
    bool
        Whether the policy is in force: ``False`` when the user chose another policy, or when an
        OpenMP runtime was loaded before the call (nothing is changed then).
    """
    name, value = WAIT_POLICY
    if name in os.environ:
        return os.environ[name].strip().upper() == value
    if _openmp_loaded():
        return False                     # too late: the runtime has read its settings
    os.environ[name] = value
    return True


def _openmp_loaded():
    """Whether an OpenMP runtime is mapped into this process (Linux; ``False`` where unknown)."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line or "libomp" in line or "libiomp" in line for line in maps)
    except OSError:
        return False
