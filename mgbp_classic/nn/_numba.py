"""Numba settings shared by every kernel of :mod:`mgbp_classic.nn`, chosen in one place.

``FASTMATH`` lets LLVM reassociate and contract (fused multiply-add) floating-point sums so that
the inner loops vectorise, but it never includes ``nnan``/``ninf``: NaN and infinity propagate
exactly as in NumPy. ``JIT`` and ``PJIT`` are the two decorators used by the kernels.
"""
from numba import njit

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

JIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True)
PJIT = njit(cache=True, fastmath=set(FASTMATH), nogil=True, parallel=True)
