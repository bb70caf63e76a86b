"""Reading and writing images as float arrays in [0, 1].

Reading goes through :mod:`imageio` (PNG, JPEG, BMP, TIFF, ...), except for 16-bit PNGs, which
are decoded here: Pillow, imageio's reader, silently truncates 16-bit colour PNGs to 8 bit.
Writing (:mod:`mgbp_classic.formats`) produces PNG and TIFF (8/16-bit), JPEG and WebP, with the
input's ICC profile and EXIF when given, and is atomic: the file is written under a temporary name
in the target directory and moved into place with :func:`os.replace`, so a failure never leaves a
partial file or damages an existing one. EXIF orientation is applied on reading
(:mod:`mgbp_classic.metadata`): every image enters the library upright.

Conventions: greyscale ``(H, W)``, RGB ``(H, W, 3)``, RGBA ``(H, W, 4)``, float64 in [0, 1]
(8-bit samples divided by 255, 16-bit by 65535). Palette images become RGB, or RGBA when the
palette has transparency; grey+alpha becomes RGBA (grey replicated).
"""
import os
import struct
import warnings
import zlib

import numpy as np
from numba import njit

from .exceptions import ImageError
from .metadata import apply_orientation, read_metadata

__all__ = ["read_image", "write_image", "quantize", "to_uint8"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MODES = {2: "L", 3: "RGB", 4: "RGBA"}


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
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    arr = np.asarray(image)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    m = float(2 ** bit_depth - 1)
    return (np.clip(np.round(arr.astype(np.float64) * m), 0, m) / m).astype(dtype)


def to_uint8(image):
    """Alias of ``quantize(image, 8)``: float image rounded to the 8-bit grid (still float)."""
    return quantize(image, 8)


# ----------------------------------------------------------------------------------------------
# Minimal PNG codec for 16-bit images
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _png_unfilter(data, height, stride, bpp):
    """Undo PNG scanline filters (0 none, 1 sub, 2 up, 3 average, 4 Paeth).

    ``data`` holds ``height`` rows of ``1 + stride`` bytes (filter byte first). Returns the
    ``(height, stride)`` raw bytes, or an empty array on an unknown filter type.
    """
    out = np.zeros((height, stride), dtype=np.uint8)
    for r in range(height):
        base = r * (stride + 1)
        ftype = data[base]
        if ftype > 4:
            return np.zeros((0, stride), dtype=np.uint8)
        for i in range(stride):
            x = np.int32(data[base + 1 + i])
            a = np.int32(out[r, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(out[r - 1, i]) if r > 0 else np.int32(0)
            c = np.int32(out[r - 1, i - bpp]) if (r > 0 and i >= bpp) else np.int32(0)
            if ftype == 1:
                x += a
            elif ftype == 2:
                x += b
            elif ftype == 3:
                x += (a + b) // 2
            elif ftype == 4:
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    x += a
                elif pb <= pc:
                    x += b
                else:
                    x += c
            out[r, i] = np.uint8(x & 255)
    return out


def _png_chunks(blob):
    pos, chunks = 8, []
    while pos + 8 <= len(blob):
        length, ctype = struct.unpack(">I4s", blob[pos:pos + 8])
        data = blob[pos + 8:pos + 8 + length]
        if len(data) != length:
            raise ValueError("truncated PNG chunk")
        chunks.append((ctype, data))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return chunks


def _png_header(path):
    """(bit_depth, colour_type, interlace) of a PNG file, or None if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25], head[28]


def _decode_png(blob):
    """Decode a non-interlaced grey / grey+alpha / RGB / RGBA PNG of bit depth 8 or 16.

    Returns an ``(H, W)`` or ``(H, W, C)`` uint8/uint16 array. Raises ValueError.
    """
    if blob[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    chunks = _png_chunks(blob)
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if channels is None or depth not in (8, 16) or interlace != 0:
        raise ValueError(f"unsupported PNG layout (colour type {ctype}, bit depth {depth}, "
                         f"interlace {interlace})")
    raw = zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))
    bpp = channels * depth // 8
    stride = w * bpp
    if len(raw) < h * (stride + 1):
        raise ValueError("truncated PNG image data")
    rows = _png_unfilter(np.frombuffer(raw, dtype=np.uint8), h, stride, bpp)
    if rows.shape[0] != h:
        raise ValueError("invalid PNG filter type")
    arr = rows.view(">u2" if depth == 16 else np.uint8).astype(
        np.uint16 if depth == 16 else np.uint8)
    return arr.reshape(h, w) if channels == 1 else arr.reshape(h, w, channels)


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def _reason(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _read_raw(path):
    """Integer sample array of the first frame, palette/transparency resolved."""
    header = _png_header(path)
    if header is not None and header[0] == 16 and header[2] == 0:
        with open(path, "rb") as f:
            return _decode_png(f.read())
    import imageio.v3 as iio

    with warnings.catch_warnings():               # imageio's plugin-deprecation notices
        warnings.simplefilter("ignore", DeprecationWarning)
        return _read_with_imageio(iio, path)


def _read_with_imageio(iio, path):
    with iio.imopen(path, "r") as reader:
        try:
            meta = reader.metadata(index=0)
        except Exception:  # some plugins have no metadata; the array decides
            meta = {}
        if meta.get("mode") == "P":
            mode = "RGBA" if "transparency" in meta else "RGB"
            return reader.read(index=0, mode=mode)
        return reader.read(index=0)


def read_image(path, *, return_info=False):
    """Read an image file into a float64 array in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any image imageio reads (PNG, JPEG, BMP, TIFF, ...); the first frame is used.
    return_info : bool, optional
        Also return a dict ``{"bit_depth": 8 | 16, "mode": "L" | "RGB" | "RGBA",
        "path": str, "shape": tuple, "source_channels": int, "metadata": ImageMetadata}``
        (:class:`mgbp_classic.metadata.ImageMetadata`: ICC profile, EXIF, orientation).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, dict)
        ``(H, W)`` greyscale, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, float64; 8-bit samples
        divided by 255, 16-bit by 65535. Palette images are returned as RGB (RGBA when the
        palette has transparency); grey+alpha as RGBA with the grey replicated.

    Raises
    ------
    ImageError
        The file is missing, is a directory, cannot be decoded, or has an unsupported shape or
        sample type; the one-line message names the file.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise ImageError(f"cannot read image {name!r}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"cannot read image {name!r}: it is a directory")
    try:
        raw = np.asarray(_read_raw(name))
    except Exception as exc:  # any decoder failure becomes one ImageError
        raise ImageError(f"cannot read image {name!r}: {_reason(exc)}") from None

    if raw.dtype == np.bool_:
        raw, bit_depth, maxval = raw.astype(np.uint8), 8, 1.0
    elif raw.dtype == np.uint8:
        bit_depth, maxval = 8, 255.0
    elif np.issubdtype(raw.dtype, np.integer) and raw.size and raw.min() >= 0 \
            and raw.max() <= 65535:
        bit_depth, maxval = 16, 65535.0
    else:
        raise ImageError(f"cannot read image {name!r}: unsupported sample type {raw.dtype}")

    source_channels = 1 if raw.ndim == 2 else (raw.shape[2] if raw.ndim == 3 else 0)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    elif raw.ndim == 3 and raw.shape[2] == 2:                    # grey + alpha -> RGBA
        raw = raw[:, :, [0, 0, 0, 1]]
    if not (raw.ndim == 2 or (raw.ndim == 3 and raw.shape[2] in (3, 4))) or raw.size == 0:
        raise ImageError(f"cannot read image {name!r}: unsupported array shape {raw.shape}")

    image = raw.astype(np.float64) / maxval
    metadata = read_metadata(name)
    image = np.ascontiguousarray(apply_orientation(image, metadata.orientation))
    if not return_info:
        return image
    info = {"bit_depth": bit_depth, "mode": _MODES[2 if raw.ndim == 2 else raw.shape[2]],
            "path": name, "shape": image.shape, "source_channels": source_channels,
            "metadata": metadata}
    return image, info


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
        1..100, JPEG and WebP only (default :data:`mgbp_classic.formats.DEFAULT_QUALITY`).
    metadata : mgbp_classic.metadata.ImageMetadata, optional
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
    The encoders are in :mod:`mgbp_classic.formats`; :class:`~mgbp_classic.formats.ImageWriter`
    writes the same files band by band for images larger than memory.
    """
    from .formats import ImageWriter
    from .metadata import output_exif

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
