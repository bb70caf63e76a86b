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

#: Work (elements touched) below which a parallel kernel runs on one thread. Waking the thread pool
#: costs ~10-50 µs on an idle machine but was measured at 1-45 ms per call on this shared 2-core
#: machine under load, while a memory-bound pass over 1M float32 takes ~0.5 ms on one core: the
#: threads only pay off on the large tensors of the batch-16 layers.
SERIAL_BELOW = 1 << 20


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
