"""Argument checks for every public function and every command: one room, one policy.

A public function validates and converts its arguments here, once, then calls private code that
never checks again (STYLE: "public function = validate + convert + allocate, then a private
kernel"). Every message names the argument, what is allowed and what was received, on one line,
and every error is a :class:`~mgbp_classic.exceptions.ParamError` whose ``param`` names the
argument it blames (the command line reports it against the option of that name). Each check is
written once, here; ``tests/test_architecture.py`` lists them.

The policy
----------
dtype
    float32 stays float32; every other accepted dtype becomes float64 (:func:`float_dtype`).
Arrays (:func:`check_array`)
    What the linear operators and the solvers act on (``resize``, ``ibp``, ``multigrid``,
    ``convergence``): any real numeric dtype (bool, integers, floats; not complex), taken *by value*
    (a uint8 array holding 0…255 becomes float64 0…255: an operator does not know about 8-bit
    images). Shaped ``(H, W)`` or ``(H, W, C)`` with ``H, W, C ≥ 1`` and any number of channels.
    NaN and infinity are refused by the solvers (``finite=True``); the resampling operators
    propagate them as NumPy does (``finite=False``).
Images (:func:`check_image`)
    What the image-level entry points take (``upscale``, the network, the deep filters): a *float*
    array, values nominally in [0, 1] (not checked: the methods clip their outputs). An integer
    image is refused, because a uint8 image would be upscaled as 0…255 and clipped to white; read
    files with :func:`mgbp_classic.imaging.io.read_image` or divide by 255. Shaped ``(H, W)`` or
    ``(H, W, C)`` with ``C`` in the set the function names (``upscale``: 1–4, grey, grey + alpha,
    RGB, RGBA; the network: 3). NaN and infinity are refused.
Integers (:func:`check_int`, :func:`is_int`)
    A Python or NumPy integer, never a bool (``True`` is not 1) and never a float (``2.0`` is not 2).
Threads (:func:`check_threads`)
    Between 1 and :func:`mgbp_classic._parallel.machine_threads`, the one idea of "the cores".
Sizes of memory (:func:`parse_memory`)
    ``"2GiB"``, ``"1.5 GB"``, ``"800MiB"`` or a positive number of bytes.
Output files (:func:`check_output_path`, :func:`check_name_length`)
    Refused before any work when they could not be written.
"""
import errno
import math
import numbers
import os
import re
import tempfile
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ._parallel import machine_threads
from .exceptions import ParamError

__all__ = [
    "MAX_OUTPUT_PIXELS", "ParamError", "check_array", "check_callback", "check_choice", "check_image", "check_int",
    "check_levels", "check_levels_mu", "check_name_length", "check_output_path", "check_pixels", "check_real",
    "check_scale",
    "check_shape", "check_suffix", "check_threads", "check_tol", "float_dtype", "is_int", "max_levels",
    "parse_memory",
]

#: Largest output (height × width, per channel) the upscalers agree to make: 2**26 pixels, e.g.
#: 8192 × 8192. It bounds ``levels`` for a given image size (memory: the classic methods hold a few
#: float64 copies of the output).
MAX_OUTPUT_PIXELS = 2 ** 26

#: The channel counts of an image: grey, grey + alpha, RGB, RGBA.
IMAGE_CHANNELS = (1, 2, 3, 4)


def float_dtype(dtype):
    """The dtype policy: ``float32`` for float32, ``float64`` for everything else."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def is_int(value):
    """Whether ``value`` is an integer (Python or NumPy) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(value, name, *, minimum, maximum=None, optional=False, where=""):
    """``value`` as an ``int`` ≥ ``minimum`` (and ≤ ``maximum``; ``None`` passes through when ``optional``).

    ``where`` is added to the range in the message, e.g. ``" for a 40x30 image"``.

    Raises
    ------
    ParamError
        ``{name} must be an integer >= {minimum}, got {value!r}`` (``None or an integer`` when
        ``optional``; ``an integer between {minimum} and {maximum}`` with a ``maximum``).
    """
    if optional and value is None:
        return None
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        allowed = f"an integer >= {minimum}" if maximum is None else f"an integer between {minimum} and {maximum}"
        raise ParamError(name, f"must be {'None or ' if optional else ''}{allowed}{where}, got {value!r}")
    return int(value)


def check_real(value, name, *, minimum=None, strict=False):
    """``value`` as a finite ``float`` (never a bool), ``> minimum`` when ``strict`` else ``>= minimum``.

    Raises
    ------
    ParamError
        ``{name} must be a finite number > 0, got {value!r}`` (or ``>= 0``, or no bound).
    """
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        raise ParamError(name, f"must be a finite number{bound}, got {value!r}")
    return float(value)


def check_levels_mu(levels, mu):
    """Both Algorithm-1 counts: ``levels ≥ 1`` and ``mu ≥ 1``; returns ``(levels, mu)`` as ints."""
    return check_int(levels, "levels", minimum=1), check_int(mu, "mu", minimum=1)


def check_tol(tol):
    """A solver's tolerance: ``None`` or a finite number ≥ 0, returned as a float."""
    if tol is None:
        return None
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ParamError("tol", f"must be None or a finite number >= 0, got {tol!r}")
    return float(tol)


def check_callback(callback):
    """``None`` or a callable."""
    if callback is not None and not callable(callback):
        raise ParamError("callback", f"must be callable or None, got {type(callback).__name__}")
    return callback


def check_shape(shape, name="shape"):
    """A grid size: a positive integer ``n`` (meaning ``(n, n)``) or a pair of them."""
    if is_int(shape):
        shape = (shape, shape)
    ok = isinstance(shape, (tuple, list)) and len(shape) == 2 and all(is_int(v) and v >= 1 for v in shape)
    if not ok:
        raise ParamError(name, f"must be a positive integer or a pair of them, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_finite(arr, name):
    if not np.all(np.isfinite(arr)):
        raise ParamError(name, f"must contain finite values only, got NaN or infinity")


def check_array(a, name, *, finite=True):
    """A real numeric ``(H, W)`` or ``(H, W, C)`` array, converted by the dtype policy (C-contiguous).

    Parameters
    ----------
    a : array_like
    name : str
        The argument's name, for the messages.
    finite : bool, optional
        Refuse NaN and infinity (default True).

    Returns
    -------
    numpy.ndarray
        float32 or float64, C-contiguous (no copy when ``a`` already is).
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise ParamError(name, f"must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ParamError(name, f"must be shaped (H, W) or (H, W, C) with H, W, C >= 1, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=float_dtype(arr.dtype))
    if finite:
        _check_finite(arr, name)
    return arr


def check_image(image, name="image", *, channels=IMAGE_CHANNELS):
    """A finite float image ``(H, W)`` or ``(H, W, C)`` with ``C`` in ``channels``, by the dtype policy.

    Parameters
    ----------
    image : array_like
    name : str, optional
    channels : tuple of int, optional
        Allowed channel counts; 1 also allows ``(H, W)``. Default 1, 2, 3, 4.

    Returns
    -------
    numpy.ndarray
        float32 or float64 (no copy when ``image`` already is one of them).
    """
    arr = np.asarray(image)
    if arr.dtype.kind != "f":
        raise ParamError(name, f"must be a float array with values in [0, 1], got dtype {arr.dtype}")
    grey = 1 in channels
    if not ((arr.ndim == 2 and grey) or (arr.ndim == 3 and arr.shape[2] in channels)):
        if len(channels) == 1 and not grey:
            raise ParamError(name, f"must be an (H, W, {channels[0]}) array, got shape {arr.shape}")
        raise ParamError(name, f"must be shaped (H, W) or (H, W, C) with C in "
                               f"{', '.join(map(str, channels))}, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ParamError(name, f"must have at least one pixel, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr.astype(float_dtype(arr.dtype), copy=False)


def max_levels(shape, max_pixels=MAX_OUTPUT_PIXELS):
    """Largest number of 2× levels whose output, ``2**levels`` times larger on each side, has at most
    ``max_pixels`` pixels per channel; 0 when the image is too large to be upscaled even once."""
    pixels = int(shape[0]) * int(shape[1])
    if pixels <= 0:
        return 0
    return max(0, int(math.floor(math.log(max_pixels / pixels, 4) + 1e-12)))


def check_levels(levels, shape, *, max_pixels=MAX_OUTPUT_PIXELS, why=None):
    """``levels`` as an int between 1 and :func:`max_levels` for an image of ``shape``.

    ``why``, when given, is added to the message of a too large ``levels`` in parentheses (what
    sets the cap, e.g. ``"the streamed network makes at most 2**30 pixels"``).

    Raises
    ------
    ParamError
        ``levels`` is not an integer in the range (``param`` ``"levels"``), or the image is too
        large to be upscaled even once (``param`` ``"image"``).
    """
    levels = check_int(levels, "levels", minimum=1)
    top = max_levels(shape, max_pixels)
    if levels > top:
        h, w = shape[:2]
        note = f" ({why})" if why else ""
        if top < 1:
            raise ParamError("image", f"must have at most {max_pixels // 4} pixels to be upscaled, "
                                      f"got a {h}×{w} image")
        raise ParamError("levels", f"must be between 1 and {top} for a {h}×{w} image, got {levels}{note}")
    return levels


def check_pixels(pixels, shape, name="pixels"):
    """``pixels``: one ``(y, x)`` pair or a sequence of them, inside ``shape`` (rows, cols) → (K, 2) int64.

    Whole-valued floats are accepted (``(3.0, 4.0)``), fractional ones are not.
    """
    arr = np.asarray(pixels)
    if arr.ndim == 1 and arr.size == 2:
        arr = arr[None]
    ok = arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] >= 1
    if ok and arr.dtype.kind == "f":
        ok = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    elif ok:
        ok = arr.dtype.kind in "iu"
    if not ok:
        raise ParamError(name, f"must be a (y, x) pair or a sequence of them (integers), got {pixels!r}")
    arr = arr.astype(np.int64)
    h, w = shape
    bad = (arr[:, 0] < 0) | (arr[:, 0] >= h) | (arr[:, 1] < 0) | (arr[:, 1] >= w)
    if np.any(bad):
        y, x = arr[np.argmax(bad)]
        raise ParamError(name, f"must lie in the {h}×{w} output (y in 0..{h - 1}, x in 0..{w - 1}), "
                               f"got (y={y}, x={x})")
    return arr


def check_scale(scale, name="scale"):
    """A factor: a finite number > 1 (never a bool), returned as a float."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(scale, (bool, np.bool_)) or not math.isfinite(value) or value <= 1:
        raise ParamError(name, f"must be a number > 1, got {scale!r}")
    return value


def check_choice(value, name, choices):
    """``value`` if it is one of ``choices``, else the one-line error listing them."""
    if not any(value == c and type(value) is type(c) for c in choices):
        raise ParamError(name, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_threads(threads, name="threads"):
    """``threads`` as an int between 1 and the cores (:func:`mgbp_classic._parallel.machine_threads`);
    ``None`` passes (all cores)."""
    top = machine_threads()
    if threads is not None and (not is_int(threads) or not 1 <= threads <= top):
        raise ParamError(name, f"must be between 1 and {top} (the cores this machine has), got {threads!r}")
    return None if threads is None else int(threads)


#: Units of :func:`parse_memory` (lower case): powers of 1000 and of 1024.
MEMORY_UNITS = MappingProxyType({
    "": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "m": 10 ** 6, "mb": 10 ** 6, "g": 10 ** 9, "gb": 10 ** 9,
    "t": 10 ** 12, "tb": 10 ** 12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40})


def parse_memory(text, name="memory"):
    """Bytes named by a size such as ``"2GiB"``, ``"1.5 GB"``, ``"800MiB"`` or ``"123456789"``.

    Parameters
    ----------
    text : str or int
        A positive number of bytes, or a number with a unit: B, kB/MB/GB/TB (powers of 1000),
        KiB/MiB/GiB/TiB (powers of 1024), in any case.
    name : str, optional
        The argument's name, for the message.

    Returns
    -------
    int
    """
    if is_int(text) and text > 0:
        return int(text)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in MEMORY_UNITS or float(match.group(1)) <= 0:
        raise ParamError(name, f"must be a positive size such as 2GiB, 1.5GB or 800MiB, got {text!r}")
    return int(float(match.group(1)) * MEMORY_UNITS[unit])


def check_suffix(path, name, suffixes, *, file=True):
    """A path whose name ends in one of ``suffixes`` (any case), in a directory that exists; with
    ``file``, not a directory."""
    path = Path(path)
    allowed = next(iter(suffixes)) if len(suffixes) == 1 else "one of " + ", ".join(sorted(suffixes))
    if path.suffix.lower() not in suffixes:
        raise ParamError(name, f"must end in {allowed}, got '{path.name}'")
    if file and path.is_dir():
        raise ParamError(name, f"'{path}' is a directory, not a file", subject="")
    if not path.resolve().parent.is_dir():
        raise ParamError(name, f"directory '{path.parent}' does not exist", subject="")
    return path


def check_name_length(path, name="output"):
    """``path`` if its last component fits its file system (``os.stat`` would raise ENAMETOOLONG:
    this is checked before the path is looked at)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        name_max = os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    size = len(os.fsencode(path.name))
    if size > name_max:
        raise ParamError(name, f"file name is {size} bytes long, more than the {name_max} bytes the file "
                               f"system allows", subject="")
    return path


def check_output_path(path, name="output", *, probe=True):
    """Refuse, before any work is done, an output file that could not be written.

    The directory must exist and accept a new file (``probe``: a short temporary file is created in
    it and removed, which finds permissions, read-only file systems and full disks alike), the name
    must fit the file system's limit, and the path must not be a directory.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    name : str, optional
        The argument that named it.
    probe : bool, optional
        Create the probe file (once per directory is enough: pass ``False`` for the others).

    Returns
    -------
    pathlib.Path
    """
    path = check_name_length(path, name)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ParamError(name, f"directory '{parent}' does not exist", subject="")
    if path.is_dir():
        raise ParamError(name, f"'{path}' is a directory, not a file", subject="")
    if probe:
        try:
            fd, temporary = tempfile.mkstemp(dir=parent, prefix=".mgbp-", suffix=".probe")
        except OSError as exc:
            reason = {errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
                      errno.ENOSPC: "no space left on the device"}.get(exc.errno, exc.strerror or str(exc))
            raise ParamError(name, f"cannot write into directory '{parent}': {reason}", subject="") from None
        os.close(fd)
        os.unlink(temporary)
    return path
