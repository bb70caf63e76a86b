"""Keeping freed memory in the process, so that large arrays are not page-faulted in again and again.

A pass of the network allocates hundreds of arrays of tens to hundreds of megabytes. glibc hands
every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB) to the kernel as
fresh pages and returns it on ``free``: each new array then costs one page fault per 4 KiB page
and the kernel's zeroing of it before NumPy writes a byte. On this project's 2-core machine that
was a third of an upscale's CPU time (system time) and a third of its wall time. Raising the mmap
threshold and turning off the trimming of the heap keeps freed blocks in the heap, where the next
array finds them already mapped: the resident size stays at the peak of the process instead of
falling back after each array, and the system time all but disappears. (A trim threshold, even one
of 1 GiB, is not enough: a ×8 pass frees more than that at once between its levels, and the next
pass faulted 3.7 GB back in, 5 s of system time out of 19 s.)

This is a setting of the whole process, so the package never makes it on import: the command-line
entry point calls :func:`retain_freed_memory` (it owns its process), and a program that embeds the
engine may call it too.
"""
import ctypes
import sys

__all__ = ["retain_freed_memory", "release_freed_memory"]

_M_TRIM_THRESHOLD = -1           # mallopt parameters of glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_NEVER = -1                      # M_TRIM_THRESHOLD of -1: no automatic trimming (mallopt(3))


def retain_freed_memory(threshold=1 << 30):
    """Serve allocations below ``threshold`` bytes from the heap and keep all freed memory mapped.

    Freed memory is never handed back on its own (glibc's automatic trimming of the heap's top is
    turned off): a pass that frees more than any fixed amount at once would otherwise give it back
    and fault it in again on the next pass. The resident size stays at the process's peak until
    :func:`release_freed_memory`.

    Parameters
    ----------
    threshold : int, optional
        Largest allocation taken from the heap (larger ones are still mapped and unmapped one by
        one). Default 1 GiB.

    Returns
    -------
    bool
        Whether the setting was made: ``False`` where the C library is not glibc (macOS, Windows,
        musl), where nothing changes.
    """
    mallopt = _glibc("mallopt", (ctypes.c_int, ctypes.c_int), ctypes.c_int)
    if mallopt is None:
        return False
    value = int(min(max(threshold, 1 << 20), (1 << 31) - 1))
    return bool(mallopt(_M_MMAP_THRESHOLD, value)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER))


def release_freed_memory():
    """Give the free memory of every heap back to the system (glibc ``malloc_trim(0)``).

    For a program that keeps freed memory (:func:`retain_freed_memory`) and moves from one kind of
    work to another, e.g. from training steps to inference: the blocks freed by the first are
    returned instead of being held beside those of the second. Returns whether it could be done.
    """
    trim = _glibc("malloc_trim", (ctypes.c_size_t,), ctypes.c_int)
    if trim is None:
        return False
    trim(0)
    return True


def _glibc(name, argtypes, restype):
    """The C library's function ``name`` with its signature, or None off Linux or where it lacks it (musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(None), name)     # the C library the process runs on (no lookup)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, restype
    return fn
