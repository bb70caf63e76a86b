"""Numba settings shared by every kernel of :mod:`mgbp_classic.nn`, chosen in one place.

``FASTMATH`` lets LLVM reassociate and contract (fused multiply-add) floating-point sums so that
the inner loops vectorise, but it never includes ``nnan``/``ninf``: NaN and infinity propagate
exactly as in NumPy. ``JIT`` and ``PJIT`` are the two decorators used by the kernels.
"""
from numba import njit

from .. import _parallel

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

JIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True)
PJIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True, parallel=True)


#: Work (elements touched) below which a parallel kernel runs on one thread. Waking the thread pool
#: costs ~10-50 µs on an idle machine but was measured at 1-45 ms per call on this shared 2-core
#: machine under load, while a memory-bound pass over 1M float32 takes ~0.5 ms on one core: the
#: threads only pay off on the large tensors of the batch-16 layers.
SERIAL_BELOW = 1 << 20


def run(kernel, work, *args):
    """Call ``kernel(*args)``, on one thread when ``work`` is below :data:`SERIAL_BELOW`
    (:func:`mgbp_classic._parallel.run` with the network's threshold)."""
    return _parallel.run(kernel, work, *args, serial_below=SERIAL_BELOW)
