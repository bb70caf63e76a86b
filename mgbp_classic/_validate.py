"""Argument checks for every public function: one room, one policy. Imports nothing of the package.

A public function validates and converts its arguments here, once, then calls private code that
never checks again (STYLE: "public function = validate + convert + allocate, then a private
kernel"). Every message names the argument, what is allowed and what was received, on one line.

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
    files with :func:`mgbp_classic.io.read_image` or divide by 255. Shaped ``(H, W)`` or
    ``(H, W, C)`` with ``C`` in the set the function names (``upscale``: 1–4, grey, grey + alpha,
    RGB, RGBA; the network: 3). NaN and infinity are refused.
Integers (:func:`check_int`, :func:`is_int`)
    A Python or NumPy integer, never a bool (``True`` is not 1) and never a float (``2.0`` is not 2).
"""
import math
import numbers

import numpy as np

__all__ = [
    "MAX_OUTPUT_PIXELS", "check_array", "check_callback", "check_image", "check_int", "check_levels",
    "check_levels_mu", "check_pixels", "check_shape", "check_tol", "float_dtype", "is_int", "max_levels",
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


def check_int(value, name, *, minimum, optional=False):
    """``value`` as an ``int`` ≥ ``minimum`` (``None`` passes through when ``optional``).

    Raises
    ------
    ValueError
        ``{name} must be an integer >= {minimum}, got {value!r}`` (``None or an integer`` when
        ``optional``).
    """
    if optional and value is None:
        return None
    if not is_int(value) or value < minimum:
        allowed = f"None or an integer >= {minimum}" if optional else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_levels_mu(levels, mu):
    """Both Algorithm-1 counts: ``levels ≥ 1`` and ``mu ≥ 1``; returns ``(levels, mu)`` as ints."""
    return check_int(levels, "levels", minimum=1), check_int(mu, "mu", minimum=1)


def check_tol(tol):
    """A solver's tolerance: ``None`` or a finite number ≥ 0, returned as a float."""
    if tol is None:
        return None
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be None or a finite number >= 0, got {tol!r}")
    return float(tol)


def check_callback(callback):
    """``None`` or a callable."""
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    return callback


def check_shape(shape, name="shape"):
    """A grid size: a positive integer ``n`` (meaning ``(n, n)``) or a pair of them."""
    if is_int(shape):
        shape = (shape, shape)
    ok = isinstance(shape, (tuple, list)) and len(shape) == 2 and all(is_int(v) and v >= 1 for v in shape)
    if not ok:
        raise ValueError(f"{name} must be a positive integer or a pair of them, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_finite(arr, name):
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain finite values only, got NaN or infinity")


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
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ValueError(f"{name} must be shaped (H, W) or (H, W, C) with H, W, C >= 1, got shape {arr.shape}")
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
        raise ValueError(f"{name} must be a float array with values in [0, 1], got dtype {arr.dtype}")
    grey = 1 in channels
    if not ((arr.ndim == 2 and grey) or (arr.ndim == 3 and arr.shape[2] in channels)):
        if len(channels) == 1 and not grey:
            raise ValueError(f"{name} must be an (H, W, {channels[0]}) array, got shape {arr.shape}")
        raise ValueError(f"{name} must be shaped (H, W) or (H, W, C) with C in "
                         f"{', '.join(map(str, channels))}, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one pixel, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr.astype(float_dtype(arr.dtype), copy=False)


def max_levels(shape, max_pixels=MAX_OUTPUT_PIXELS):
    """Largest number of 2× levels whose output, ``2**levels`` times larger on each side, has at most
    ``max_pixels`` pixels per channel; 0 when the image is too large to be upscaled even once."""
    pixels = int(shape[0]) * int(shape[1])
    if pixels <= 0:
        return 0
    return max(0, int(math.floor(math.log(max_pixels / pixels, 4) + 1e-12)))


def check_levels(levels, shape, *, max_pixels=MAX_OUTPUT_PIXELS):
    """``levels`` as an int between 1 and :func:`max_levels` for an image of ``shape``."""
    levels = check_int(levels, "levels", minimum=1)
    top = max_levels(shape, max_pixels)
    if levels > top:
        h, w = shape[:2]
        if top < 1:
            raise ValueError(f"image must have at most {max_pixels // 4} pixels to be upscaled, "
                             f"got a {h}×{w} image")
        raise ValueError(f"levels must be between 1 and {top} for a {h}×{w} image, got {levels}")
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
        raise ValueError(f"{name} must be a (y, x) pair or a sequence of them (integers), got {pixels!r}")
    arr = arr.astype(np.int64)
    h, w = shape
    bad = (arr[:, 0] < 0) | (arr[:, 0] >= h) | (arr[:, 1] < 0) | (arr[:, 1] >= w)
    if np.any(bad):
        y, x = arr[np.argmax(bad)]
        raise ValueError(f"{name} must lie in the {h}×{w} output (y in 0..{h - 1}, x in 0..{w - 1}), "
                         f"got (y={y}, x={x})")
    return arr
