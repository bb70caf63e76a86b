"""The one rule for Numba's thread pool: run a parallel kernel on one thread when its work is small.

Waking the thread pool costs microseconds on an idle machine but up to a scheduler time slice
(milliseconds) on a busy one, which would dominate the many small calls of the solvers and of the
network's thin layers. Each caller names its own threshold (the resampling kernels and the network
kernels were measured separately), with one signature.
"""
import numba

__all__ = ["run"]


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
