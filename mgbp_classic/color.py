"""RGB <-> YCbCr exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` (ITU-R BT.601, studio swing).

MATLAB's definition, for RGB scaled to [0, 1] and YCbCr on the 8-bit scale::

    [Y ]   [ 16]   [ 65.481  128.553   24.966] [R]
    [Cb] = [128] + [-37.797  -74.203  112.000] [G]
    [Cr]   [128]   [112.000  -93.786  -18.214] [B]

so Y ∈ [16, 235] and Cb, Cr ∈ [16, 240]. The class of the input decides the scaling (as in
MATLAB): floating-point input is in [0, 1] and gives Y in [16/255, 235/255] (float32 stays
float32, no clipping); ``uint8`` input gives ``uint8`` output, ``uint16`` gives ``uint16``,
both rounded half away from zero and saturated, as MATLAB's ``imlincomb`` does.
"""
import numpy as np

from .exceptions import ParamError

__all__ = ["LUMA_WEIGHTS", "rgb2ycbcr", "ycbcr2rgb", "rgb2y"]

#: BT.601 luma weights of R, G, B (the relative weights of MATLAB ``rgb2ycbcr``'s Y; they sum to 1).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
LUMA_WEIGHTS.setflags(write=False)

_T = np.array([[65.481, 128.553, 24.966],
               [-37.797, -74.203, 112.0],
               [112.0, -93.786, -18.214]])
_OFFSET = np.array([16.0, 128.0, 128.0])
_TINV = np.linalg.inv(_T)

# (matrix scale, offset scale) per input class, MATLAB rgb2ycbcr.m / ycbcr2rgb.m
_FWD = {"float": (1 / 255, 1 / 255), "uint8": (1 / 255, 1.0), "uint16": (257 / 65535, 257.0)}
_INV = {"float": (255.0, 1.0), "uint8": (255.0, 255.0), "uint16": (65535 / 257, 65535.0)}


def _class_of(arr, name):
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ParamError(name, f"must have 3 channels in its last axis, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return "uint8"
    if arr.dtype == np.uint16:
        return "uint16"
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer) \
            or arr.dtype == np.bool_:
        return "float"
    raise ParamError(name, f"must be float in [0, 1], uint8 or uint16, got dtype {arr.dtype}")


def _lincomb(arr, mat, offset, cls, out_rows=slice(None)):
    """MATLAB ``imlincomb`` per output channel: ``sum_k mat[p, k] * arr[..., k] + offset[p]``."""
    x = arr.astype(np.float64)
    rows = range(3)[out_rows]
    out = np.stack([mat[p, 0] * x[..., 0] + mat[p, 1] * x[..., 1] + mat[p, 2] * x[..., 2]
                    + offset[p] for p in rows], axis=-1)
    if cls == "float":
        return out.astype(np.float32 if arr.dtype == np.float32 else np.float64)
    info = np.iinfo(np.uint8 if cls == "uint8" else np.uint16)
    # round half away from zero, then saturate (MATLAB integer conversion)
    out = np.sign(out) * np.floor(np.abs(out) + 0.5)
    return np.clip(out, info.min, info.max).astype(info.dtype)


def rgb2ycbcr(rgb):
    """Convert RGB to YCbCr exactly as MATLAB ``rgb2ycbcr``.

    Parameters
    ----------
    rgb : array_like
        ``(..., 3)`` array: float in [0, 1] (float32 stays float32, other non-uint types become
        float64), or ``uint8`` / ``uint16``.

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` YCbCr in the same class: float with Y ∈ [16/255, 235/255], or rounded
        and saturated ``uint8`` / ``uint16``.

    Examples
    --------
    >>> import numpy as np
    >>> rgb2ycbcr(np.array([[255, 0, 0]], dtype=np.uint8))
    array([[ 81,  90, 240]], dtype=uint8)
    """
    arr = np.asarray(rgb)
    cls = _class_of(arr, "rgb")
    ts, os_ = _FWD[cls]
    return _lincomb(arr, ts * _T, os_ * _OFFSET, cls)


def rgb2y(rgb):
    """Only the luma Y of :func:`rgb2ycbcr`; shape ``(...)``, same class rules."""
    arr = np.asarray(rgb)
    cls = _class_of(arr, "rgb")
    ts, os_ = _FWD[cls]
    return _lincomb(arr, ts * _T, os_ * _OFFSET, cls, slice(0, 1))[..., 0]


def ycbcr2rgb(ycc):
    """Convert YCbCr back to RGB exactly as MATLAB ``ycbcr2rgb``.

    Parameters
    ----------
    ycc : array_like
        ``(..., 3)``: float (Y in [16/255, 235/255]) or ``uint8`` / ``uint16``.

    Returns
    -------
    numpy.ndarray
        RGB in the same class; floating-point output is *not* clipped (as MATLAB), integer
        output is rounded and saturated.
    """
    arr = np.asarray(ycc)
    cls = _class_of(arr, "ycc")
    ts, os_ = _INV[cls]
    return _lincomb(arr, ts * _TINV, -os_ * (_TINV @ _OFFSET), cls)
