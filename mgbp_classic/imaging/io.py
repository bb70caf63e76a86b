"""Reading and writing images as float arrays in [0, 1].

Reading is :mod:`mgbp_classic.imaging.reader` (:func:`read_image`, :func:`read_header`, re-exported here):
the header first, every accepted colour model and sample type listed there.
Writing (:mod:`mgbp_classic.imaging.formats`) produces PNG and TIFF (8/16-bit), JPEG and WebP, with the
input's ICC profile and EXIF when given, and is atomic: the file is written under a temporary name
in the target directory and moved into place with :func:`os.replace`
(:func:`mgbp_classic.atomic.atomic_write`), so a failure never leaves a partial file or damages an
existing one. EXIF orientation is applied on reading
(:mod:`mgbp_classic.imaging.metadata`): every image enters the library upright.

Conventions: greyscale ``(H, W)``, RGB ``(H, W, 3)``, RGBA ``(H, W, 4)``, float64 in [0, 1].
"""
import os

import numpy as np

from ..exceptions import ImageError, ParamError
from .formats import ImageWriter
from .metadata import output_exif
from .reader import ImageInfo, read_header, read_image

__all__ = ["ImageInfo", "read_header", "read_image", "write_image", "quantize", "to_uint8"]


# ----------------------------------------------------------------------------------------------
# 8-bit grid helpers
# ----------------------------------------------------------------------------------------------
def quantize(image, bit_depth=8):
    """Round a float image in [0, 1] to the ``bit_depth`` grid, staying float.

    Parameters
    ----------
    image : array_like
        Float image (any shape); values are clipped to [0, 1] first.
    bit_depth : {8, 16}, optional
        Grid ``k / (2**bit_depth − 1)``.

    Returns
    -------
    numpy.ndarray
        ``clip(round(x · m), 0, m) / m`` with ``m = 2**bit_depth − 1``; float32 stays float32,
        everything else float64. (``np.round`` rounds halves to even; exact halves
        ``(k + 0.5)/m`` do not occur for images that went through float arithmetic.)
    """
    if bit_depth not in (8, 16):
        raise ParamError("bit_depth", f"must be 8 or 16, got {bit_depth!r}")
    arr = np.asarray(image)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    m = float(2 ** bit_depth - 1)
    return (np.clip(np.round(arr.astype(np.float64) * m), 0, m) / m).astype(dtype)


def to_uint8(image):
    """Alias of ``quantize(image, 8)``: float image rounded to the 8-bit grid (still float)."""
    return quantize(image, 8)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------
def write_image(path, image, *, bit_depth=8, format=None, quality=None, metadata=None):
    """Write a float image in [0, 1] as PNG, TIFF, JPEG or WebP, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its extension (``.png``, ``.tif``/``.tiff``, ``.jpg``/``.jpeg``, ``.webp``)
        chooses the format unless ``format`` is given. Its directory must exist.
    image : array_like
        ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``, finite; clipped to [0, 1]
        and rounded to the ``bit_depth`` grid.
    bit_depth : {8, 16}, optional
        Sample depth; PNG and TIFF hold 8 and 16, JPEG and WebP are written with 8.
    format : {"png", "tiff", "jpeg", "webp"}, optional
        Overrides the extension.
    quality : int, optional
        1..100, JPEG and WebP only (default :data:`mgbp_classic.imaging.formats.DEFAULT_QUALITY`).
    metadata : mgbp_classic.imaging.metadata.ImageMetadata, optional
        ICC profile and EXIF to embed (EXIF with orientation 1 and this image's pixel dimensions).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ImageError
        Bad path, format, shape or values, or a write failure; nothing is created or changed then.

    Notes
    -----
    The encoders are in :mod:`mgbp_classic.imaging.formats`; :class:`~mgbp_classic.imaging.formats.ImageWriter`
    writes the same files band by band for images larger than memory.
    """
    name = os.fspath(path)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or arr.size == 0:
        raise ImageError(f"cannot write image {name!r}: image must be (H, W), (H, W, 1), "
                         f"(H, W, 3) or (H, W, 4), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ImageError(f"cannot write image {name!r}: image must be numeric, got dtype "
                         f"{arr.dtype}")
    h, w = arr.shape[:2]
    icc = metadata.icc_profile if metadata is not None else None
    exif = output_exif(metadata.exif, width=w, height=h) if metadata is not None else None
    writer = ImageWriter(name, height=h, width=w, channels=1 if arr.ndim == 2 else arr.shape[2],
                         bit_depth=bit_depth, format=format, quality=quality, icc_profile=icc, exif=exif)
    with writer:
        writer.write(arr)
    return name
