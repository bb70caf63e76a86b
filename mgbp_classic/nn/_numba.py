"""Numba settings shared by every kernel of :mod:`mgbp_classic.nn`, chosen in one place.

``FASTMATH`` lets LLVM reassociate and contract (fused multiply-add) floating-point sums so that
the inner loops vectorise, but it never includes ``nnan``/``ninf``: NaN and infinity propagate
exactly as in NumPy. ``JIT`` and ``PJIT`` are the two decorators used by the kernels.
"""
from numba import njit

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

JIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True)
PJIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True, parallel=True)

import numba as _numba

#: Work (elements touched) below which a parallel kernel runs on one thread: waking the thread
#: pool costs ~10-50 µs on an idle machine and milliseconds on a loaded one, more than the work.
SERIAL_BELOW = 1 << 15


def run(kernel, work, *args):
    """Call ``kernel(*args)``, on one thread when ``work`` is below :data:`SERIAL_BELOW`."""
    if work >= SERIAL_BELOW:
        return kernel(*args)
    threads = _numba.get_num_threads()
    if threads == 1:
        return kernel(*args)
    _numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        _numba.set_num_threads(threads)
