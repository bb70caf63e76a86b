"""Reading image files into float arrays in [0, 1]: the header first, then the pixels.

One reader for every command. It opens a file with Pillow, which parses only the header (size,
colour model, sample type, frame count, ICC profile, EXIF), decides from that header what the
pixels mean and whether they are accepted, and only then decodes them. So an image that is too
large, a colour model that is not supported or a sample type without a defined range is refused
before any pixel is decoded, and every refusal is one line that names the file, says what it is
and what is supported.

What is accepted, and how it becomes ``(H, W)`` greyscale, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA:

=====================  ===========================================================================
file's colour model    returned
=====================  ===========================================================================
bilevel, greyscale     greyscale (1-bit: 0 or 1; 2/4/8-bit scaled by Pillow to 8 bit)
grey + alpha           RGBA, the grey replicated (premultiplied grey is divided by its alpha)
palette                RGB, or RGBA when the palette has transparency
RGB, RGBX              RGB (the padding byte dropped)
RGBA, premultiplied    RGBA (premultiplied colour divided by its alpha)
CMYK (JPEG, TIFF)      RGB by ``R = (1 − C)(1 − K)`` (and G, B alike) on the exact samples; Adobe
                       JPEGs store CMYK inverted and YCCK as YCbCr of the inverted C, M, Y: both
                       are undone (a CMYK JPEG without Adobe marker is taken as plain CMYK)
YCbCr (TIFF)           RGB (JPEG's YCbCr is decoded to RGB by the JPEG decoder itself)
=====================  ===========================================================================

Sample types: unsigned integers of 1 to 16 bits are divided by their real maximum, ``2**bits − 1``
(a 12-bit TIFF by 4095; a PNM file's own ``maxval``), and keep 16 bits when they have more than 8:
16-bit PNGs (interlaced or not) and PNM files are decoded here, and 16-bit colour TIFFs by imageio's
TIFF reader, because Pillow truncates 16-bit colour to 8 bits. 32-bit float samples (TIFF, PFM) are
accepted when they lie in [0, 1]. 32-bit and signed integers are refused: their range is unknown
(a file holding 0..255 in 32-bit integers is not a nearly black picture, nor is it 8-bit for sure).
Other colour models (CIE L*a*b*, HSV, ...) are refused.

Several frames (an animated GIF, PNG or WebP, a multi-page TIFF): the first frame is read and a
:class:`~mgbp_classic.exceptions.MultiFrameWarning` says how many the file holds; this is the
rule for every format. An MPO file (a JPEG with auxiliary images: thumbnails, depth maps, the
second view of a stereo pair -- phones write them) is one picture, its primary image. Formats
that hold one picture at several sizes (ICO, ICNS) give the largest.

The EXIF orientation is applied (:func:`mgbp_classic.imaging.metadata.apply_orientation`): every image
enters the library upright, and :class:`ImageInfo` gives the upright size with the orientation the
file stored (a writer resets it to 1).
"""
import os
import struct
import threading
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..exceptions import ImageError, MultiFrameWarning, ParamError
from .metadata import ImageMetadata, apply_orientation, from_image

__all__ = ["DEFAULT_MAX_PIXELS", "ImageInfo", "SUPPORTED_FORMATS", "describe_file", "read_header", "read_image"]

#: Largest image (width × height) :func:`read_image` decodes unless told otherwise: 2**28 pixels,
#: e.g. 16384 × 16384 (a float64 RGBA copy of it is 8.6 GB).
DEFAULT_MAX_PIXELS = 2 ** 28

#: How errors name what is read (Pillow reads these and more; see its documentation).
SUPPORTED_FORMATS = "PNG, JPEG, TIFF, WebP, BMP, GIF, PNM (PPM/PGM/PBM) and the other formats Pillow reads"

_SUPPORTED_MODELS = ("greyscale, grey+alpha, palette, RGB, RGBA, CMYK and YCbCr, "
                     "with 1- to 16-bit integer or 32-bit float samples")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageInfo:
    """What a file is, read from its header: the record :func:`read_image` returns beside the pixels.

    Attributes
    ----------
    path : str
        The file.
    format : str
        Pillow's name of the file format: ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"WEBP"``, ...
    width, height : int
        Size in pixels of the returned, upright picture (the stored size turned by ``orientation``).
    frames : int
        Number of frames the file holds (1 for a still image; only the first is read).
    mode : {"L", "RGB", "RGBA"}
        What the returned pixels are: ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``.
    source_mode : str
        The file's own colour model and sample type, as Pillow names it (``"CMYK"``, ``"P"``,
        ``"LA"``, ``"I;16"``, ...; ``"RGB;16"``, ``"RGBA;16"``, ``"LA;16"`` for 16-bit colour).
    bit_depth : {8, 16}
        The sample depth that keeps the input's precision (what a writer should use): 16 for
        samples of more than 8 bits and for float samples, else 8.
    orientation : int
        EXIF orientation the file stored, 1..8 (1, "upright", when absent or invalid); the returned
        pixels are already turned upright.
    icc_profile : bytes or None
        The embedded ICC profile when it describes the returned pixels; ``None`` when the file has
        none, or the reader changed the colour model (CMYK → RGB, grey+alpha → RGBA), or the
        profile's colour space does not match ``mode``.
    exif : bytes or None
        The EXIF block to carry (descriptive tags and the Exif/GPS directories, as
        :class:`mgbp_classic.imaging.metadata.ImageMetadata` holds it), ``None`` when the file has none.
    """

    path: str
    format: str
    width: int
    height: int
    frames: int
    mode: str
    source_mode: str
    bit_depth: int
    orientation: int = 1
    icc_profile: bytes = None
    exif: bytes = None

    @property
    def shape(self):
        """Shape of the returned pixel array: ``(H, W)`` or ``(H, W, C)``."""
        channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[self.mode]
        return (self.height, self.width) + channels

    @property
    def pixels(self):
        """``width * height``."""
        return self.width * self.height

    @property
    def metadata(self):
        """What a writer carries into the output: :class:`~mgbp_classic.imaging.metadata.ImageMetadata`."""
        return ImageMetadata(icc_profile=self.icc_profile, exif=self.exif, orientation=self.orientation)


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------
def read_header(path):
    """Read what an image file is without decoding its pixels.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ImageInfo

    Raises
    ------
    ImageError
        The file is missing, unreadable, not an image, or of a colour model or sample type that
        :func:`read_image` does not accept (one line: the file, what it is, what is supported).
    """
    name = _check_file(path)
    with _open(name) as im:
        return _plan_or_fail(im, name).info


def read_image(path, *, max_pixels=DEFAULT_MAX_PIXELS, dtype=np.float64, return_info=False):
    """Read an image file into a float array in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        Any file Pillow reads (:data:`SUPPORTED_FORMATS`); see the module notes for the colour
        models and sample types accepted. A file of several frames gives its first frame, with a
        :class:`~mgbp_classic.exceptions.MultiFrameWarning`.
    max_pixels : int or None, optional
        Refuse (before decoding) an image of more than this many pixels, width × height;
        default :data:`DEFAULT_MAX_PIXELS`; ``None``: no limit.
    dtype : {numpy.float64, numpy.float32}, optional
        Type of the returned array.
    return_info : bool, optional
        Also return the file's :class:`ImageInfo`.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, ImageInfo)
        ``(H, W)`` greyscale, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; each sample divided by the
        real maximum of its type (255 for 8 bits, 65535 for 16 bits, ...).

    Raises
    ------
    ImageError
        The file is missing, is a directory, is empty, is not an image, is truncated or corrupt,
        holds an unsupported colour model or sample type, or is larger than ``max_pixels``; the
        one-line message names the file, says what it is and what is accepted.

    Examples
    --------
    >>> import mgbp_classic
    >>> image, info = read_image(mgbp_classic.sample_image_path(), return_info=True)
    >>> image.shape, info.mode, info.bit_depth
    ((72, 96, 3), 'RGB', 8)
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ParamError("dtype", f"must be float32 or float64, got {dtype}")
    if max_pixels is not None and (not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1):
        raise ParamError("max_pixels", f"must be None or an integer >= 1, got {max_pixels!r}")
    name = _check_file(path)
    with _open(name) as im:
        plan = _plan_or_fail(im, name)
        info = plan.info
        if max_pixels is not None and info.pixels > max_pixels:
            raise ImageError(f"cannot read image {name!r}: it is {info.width}×{info.height} "
                             f"({_megapixels(info.pixels)}), more than the {_megapixels(max_pixels)} "
                             f"accepted")
        if info.frames > 1:
            warnings.warn(MultiFrameWarning(
                f"{name!r} holds {info.frames} frames ({info.format}); only the first is read"),
                stacklevel=2)
        try:
            samples, maxval = plan.decode(im)
        except ImageError:
            raise
        except Exception as exc:  # any decoder failure on any file becomes one ImageError
            raise ImageError(f"cannot read image {name!r}: the {info.format} data is truncated or "
                             f"corrupt ({_reason(exc)})") from None
    image = _to_float(samples, maxval, plan, name, dtype)
    stored = plan.stored_shape
    if image.shape != stored:                # a decoder disagreeing with its header: never pass it on
        raise ImageError(f"cannot read image {name!r}: the {info.format} header says "
                         f"{stored[1]}×{stored[0]} {info.mode}, the data decodes to {image.shape}")
    image = np.ascontiguousarray(apply_orientation(image, info.orientation))
    return (image, info) if return_info else image


# ----------------------------------------------------------------------------------------------
# opening: the file itself, then Pillow on its header
# ----------------------------------------------------------------------------------------------
def _check_file(path):
    name = os.fspath(path)
    if not isinstance(name, str):
        name = os.fsdecode(name)
    if not os.path.exists(name):
        raise ImageError(f"cannot read image {name!r}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"cannot read image {name!r}: it is a directory")
    if not os.path.isfile(name):
        raise ImageError(f"cannot read image {name!r}: not a regular file")
    if not os.access(name, os.R_OK):
        raise ImageError(f"cannot read image {name!r}: permission denied")
    if os.path.getsize(name) == 0:
        raise ImageError(f"cannot read image {name!r}: the file is empty (0 bytes)")
    return name


_PILLOW_LIMIT = threading.Lock()


@contextmanager
def _open(name):
    """Pillow's lazy image (only the header parsed), with Pillow's own size limit lifted: the
    caller's ``max_pixels`` decides, with a message that gives the size."""
    from PIL import Image, UnidentifiedImageError

    with _PILLOW_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(name)
        except UnidentifiedImageError:
            raise ImageError(f"cannot read image {name!r}: {_what_it_is(name)}, not an image file "
                             f"(supported: {SUPPORTED_FORMATS})") from None
        except OSError as exc:
            if exc.errno is not None:                 # the system could not read the file
                raise ImageError(f"cannot read image {name!r}: {exc.strerror or _reason(exc)}") from None
            raise ImageError(f"cannot read image {name!r}: its header is truncated or corrupt "
                             f"({_reason(exc)})") from None
        except Exception as exc:  # a plugin failing on a malformed header
            raise ImageError(f"cannot read image {name!r}: its header is truncated or corrupt "
                             f"({_reason(exc)})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield im
    finally:
        im.close()


def describe_file(path):
    """What a file is, in a few words, for messages about a file of the wrong kind.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        E.g. ``"it is a PNG image (96×72)"``, ``"it is a text file"``, ``"the file is empty"``.
    """
    name = os.fspath(path)
    if os.path.getsize(name) == 0:
        return "the file is empty"
    try:
        with _open(name) as im:
            return f"it is a {im.format} image ({im.size[0]}×{im.size[1]})"
    except ImageError:
        return _what_it_is(name)


def _what_it_is(name):
    """A short description of a file that Pillow does not recognise, from its first bytes."""
    with open(name, "rb") as f:
        head = f.read(512)
    signatures = [(b"PK\x03\x04", "a ZIP archive (e.g. an .npz model file)"), (b"%PDF", "a PDF document"),
                  (b"\x1f\x8b", "gzip-compressed data"), (b"\x93NUMPY", "a NumPy .npy array file"),
                  (_PNG_SIGNATURE, "a PNG file with a corrupt header"),
                  (b"\xff\xd8\xff", "a JPEG file with a corrupt header")]
    for magic, what in signatures:
        if head.startswith(magic):
            return f"it is {what}"
    text = head.lstrip()
    if text[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in text[:256].lower():
        return "it is an XML/SVG text file (vector graphics are not read)"
    if text[:1] == b"<":
        return "it is an HTML/XML text file"
    try:
        head.decode("utf-8")
        printable = all(c >= 32 or c in (9, 10, 13) for c in head)
    except UnicodeDecodeError:
        printable = False
    if printable:
        return "it is a text file"
    return f"its format is unknown (it starts with bytes {head[:8].hex(' ')})"


# ----------------------------------------------------------------------------------------------
# the plan: what the header says the pixels are, and how to decode them
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    info: ImageInfo
    decode: object          # decode(im) -> (integer or float samples, maxval)
    convert: str            # how the decoded samples become L / RGB / RGBA (see _to_float)
    stored_shape: tuple     # shape of the decoded array, before the orientation is applied


def _plan_or_fail(im, name):
    try:
        return _plan(im, name)
    except ImageError:
        raise
    except Exception as exc:  # a plugin failing on a malformed header (frame count, tags, EXIF)
        raise ImageError(f"cannot read image {name!r}: its {im.format or 'image'} header is corrupt "
                         f"({_reason(exc)})") from None


def _plan(im, name):
    """Read the header of Pillow's lazy image ``im`` and decide how its pixels are decoded."""
    fmt = im.format or "unknown"
    width, height = im.size
    frames = 1 if fmt == "MPO" else max(1, int(getattr(im, "n_frames", 1) or 1))

    def refuse(what):
        raise ImageError(f"cannot read image {name!r}: a {fmt} image of {what} is not supported "
                         f"(supported: {_SUPPORTED_MODELS})")

    route = None
    if fmt == "PNG":
        route = _png16_route(name)
    elif fmt == "PPM":
        route = _pnm16_route(name)
    elif fmt == "TIFF":
        route = _tiff_route(im, name, refuse)
    if route is None:
        route = _pillow_route(im, fmt, im.mode, refuse)
    decode, convert, mode, depth, src = route

    meta = from_image(im)
    icc = meta.icc_profile
    if icc is not None and not _icc_matches(icc, mode, convert):
        icc = None
    stored = (int(height), int(width)) + {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    if meta.orientation >= 5:                         # transposing orientations swap the sides
        width, height = height, width
    info = ImageInfo(path=name, format=fmt, width=int(width), height=int(height), frames=frames,
                     mode=mode, source_mode=src, bit_depth=depth, orientation=meta.orientation,
                     icc_profile=icc, exif=meta.exif)
    return _Plan(info, decode, convert, stored)


def _pillow(as_mode=None):
    """A decoder through Pillow: the first frame, converted to ``as_mode`` when given."""
    def decode(image):
        image.seek(0)
        image.load()
        if as_mode is not None and image.mode != as_mode:
            image = image.convert(as_mode)
        return np.asarray(image), None
    return decode


def _pillow_route(im, fmt, src, refuse):
    """``(decode, convert, mode, bit_depth, source_mode)`` for the pixels Pillow decodes as they are.

    ``convert`` names how the decoded samples become the returned ``mode`` (see :func:`_to_float`).
    """
    keyed = "transparency" in im.info                 # a palette's, or a grey/RGB colour key
    if src == "1":
        return _pillow("L"), "L", "L", 8, src
    if src in ("L", "RGB") and keyed:
        return _pillow("RGBA"), "RGBA", "RGBA", 8, src
    if src in ("L", "RGB"):
        return _pillow(), src, src, 8, src
    if src in ("LA", "La", "RGBA", "RGBa"):
        return _pillow(), src, "RGBA", 8, src
    if src in ("P", "PA"):
        alpha = src == "PA" or keyed
        return (_pillow("RGBA"), "RGBA", "RGBA", 8, src) if alpha else (_pillow("RGB"), "RGB", "RGB", 8, src)
    if src == "RGBX":
        return _pillow(), "RGBX", "RGB", 8, src
    if src == "YCbCr":
        return _pillow("RGB"), "RGB", "RGB", 8, src
    if src == "CMYK":
        # Pillow reads every CMYK JPEG as Adobe's inverted CMYK (and libjpeg turns Adobe YCCK into
        # that too); a CMYK JPEG without the Adobe marker stores plain CMYK: undo the inversion.
        inverted = fmt in ("JPEG", "MPO") and im.info.get("adobe") is None
        return _pillow(), ("CMYK-inverted" if inverted else "CMYK"), "RGB", 8, src
    if src.startswith("I;16"):
        return _pillow(), "L", "L", 16, src
    if src == "F":
        return _pillow(), "L", "L", 16, src
    names = {"I": "32-bit integer samples (their range is unknown; convert to 8 or 16 bits)",
             "LAB": "CIE L*a*b* colour", "HSV": "HSV colour"}
    refuse(names.get(src, f"colour model {src!r}"))


def _png16_route(name):
    """16-bit PNGs, interlaced or not, decoded here (Pillow truncates 16-bit colour to 8 bits)."""
    png = _png_ihdr(name)
    if png is None or png[2] != 16:
        return None
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(png[3])
    if channels is None:
        return None                                   # an invalid colour type: Pillow will say so
    keyed = channels in (1, 3) and len(_png_trns_key(name)) == channels
    src = {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    convert = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels] + ("+key" if keyed else "")
    mode = {1: "L", 2: "RGBA", 3: "RGB", 4: "RGBA"}[channels] if not keyed else "RGBA"
    return (lambda _im: (_decode_png_file(name), 65535)), convert, mode, 16, src


def _pnm16_route(name):
    """PGM/PPM with ``maxval`` above 255, decoded here (Pillow scales 16-bit colour to 8 bits)."""
    pnm = _pnm_header(name)
    if pnm is None or pnm[4] <= 255:
        return None
    _, _, _, channels, maxval = pnm
    mode = "L" if channels == 1 else "RGB"
    return (lambda _im: (_decode_pnm(name), maxval)), mode, mode, 16, "I;16" if channels == 1 else "RGB;16"


def _tiff_route(im, name, refuse):
    """TIFF sample types (from the tags): integers of 1-16 bits, 32-bit floats; 16-bit colour."""
    tags = im.tag_v2

    def first(tag, default):
        value = tags.get(tag, default)
        return value[0] if isinstance(value, tuple) and value else value

    bits = max(tuple(tags.get(258, (1,))) if isinstance(tags.get(258), tuple) else (first(258, 1),))
    sample_format, samples = first(339, 1), int(first(277, 1) or 1)
    photometric, extra = first(262, 1), first(338, None)
    if sample_format == 2:
        refuse(f"{bits}-bit signed integer samples (their range is unknown; convert to unsigned 8 or 16 bits)")
    if sample_format == 1 and bits > 16:
        refuse(f"{bits}-bit integer samples (their range is unknown; convert to 8 or 16 bits)")
    if sample_format == 3 and bits != 32:
        refuse(f"{bits}-bit float samples")
    if sample_format not in (1, 3):
        refuse(f"samples of TIFF SampleFormat {sample_format}")
    if sample_format == 3 or bits <= 8 or samples == 1:
        if sample_format == 1 and 8 < bits < 16 and samples == 1:
            # e.g. 12-bit grey: Pillow gives the samples unscaled, 0 .. 2**bits - 1
            return (lambda image: (_pillow()(image)[0], 2 ** bits - 1)), "L", "L", 16, im.mode
        return None                                   # Pillow decodes these as they are
    # several channels of 9-16 bits: imageio's TIFF reader keeps the 16 bits
    if photometric == 2 and samples in (3, 4):
        convert = "RGB" if samples == 3 else {0: "RGBX", 1: "RGBa"}.get(extra, "RGBA")
    elif photometric == 1 and samples == 2:
        convert = "La" if extra == 1 else "LA"
    elif photometric == 5 and samples == 4:
        convert = "CMYK"
    else:
        refuse(f"{samples} samples of {bits} bits (photometric interpretation {photometric})")
    mode = {"RGB": "RGB", "RGBX": "RGB", "CMYK": "RGB"}.get(convert, "RGBA")
    src = {"La": "La", "LA": "LA", "CMYK": "CMYK", "RGBX": "RGBX", "RGBa": "RGBa"}.get(convert, mode) + ";16"
    top = 2 ** bits - 1
    return (lambda _im: (_decode_tiff16(name, samples), top)), convert, mode, 16, src


def _icc_matches(icc, mode, convert):
    """Whether an ICC profile describes the returned pixels (its colour space field, bytes 16-19)."""
    if len(icc) < 20 or convert.startswith("CMYK") or convert in ("LA", "La"):
        return False
    space = bytes(icc[16:20])
    return space == (b"GRAY" if mode == "L" else b"RGB ")


# ----------------------------------------------------------------------------------------------
# from samples to floats
# ----------------------------------------------------------------------------------------------
def _to_float(samples, maxval, plan, name, dtype):
    arr = np.asarray(samples)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ImageError(f"cannot read image {name!r}: its float samples contain NaN or infinity")
        low, high = float(arr.min()), float(arr.max())
        if low < 0.0 or high > 1.0:
            raise ImageError(f"cannot read image {name!r}: float samples must lie in [0, 1], found "
                             f"{low:g} to {high:g}")
        values = arr
    else:
        if maxval is None:
            maxval = {np.dtype(np.bool_): 1, np.dtype(np.uint8): 255}.get(arr.dtype, 65535)
        if arr.dtype.kind in "iu" and arr.size and (int(arr.min()) < 0 or int(arr.max()) > maxval):
            raise ImageError(f"cannot read image {name!r}: samples range from {int(arr.min())} to "
                             f"{int(arr.max())}, beyond the file's stated maximum {maxval:g}")
        values = arr.astype(np.float64) / float(maxval)

    convert = plan.convert
    key = convert.endswith("+key")
    convert = convert.replace("+key", "")
    if convert == "L":
        out = values if values.ndim == 2 else values[..., 0]
    elif convert in ("LA", "La"):
        grey, alpha = values[..., 0], values[..., 1]
        if convert == "La":
            grey = _unpremultiply(grey, alpha)
        out = np.stack([grey, grey, grey, alpha], axis=2)
    elif convert in ("RGB", "RGBX"):
        out = values[..., :3]
    elif convert in ("RGBA", "RGBa"):
        out = values[..., :4].copy()
        if convert == "RGBa":
            out[..., :3] = _unpremultiply(out[..., :3], out[..., 3:])
    elif convert in ("CMYK", "CMYK-inverted"):
        cmyk = 1.0 - values if convert == "CMYK-inverted" else values
        out = (1.0 - cmyk[..., :3]) * (1.0 - cmyk[..., 3:4])
    else:  # pragma: no cover - every route names one of the conversions above
        raise AssertionError(convert)
    if key:                                   # a 16-bit PNG's tRNS colour key becomes alpha
        out = _apply_colour_key(out, samples, name)
    return np.ascontiguousarray(out, dtype=dtype)


def _unpremultiply(colour, alpha):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(alpha > 0, np.clip(colour / np.where(alpha > 0, alpha, 1.0), 0.0, 1.0), 0.0)


def _apply_colour_key(out, samples, name):
    key = _png_trns_key(name)
    samples = np.asarray(samples)
    if samples.ndim == 2:
        transparent = samples == key[0]
        rgb = np.stack([out, out, out], axis=2)
    else:
        transparent = np.all(samples == np.asarray(key, dtype=samples.dtype), axis=2)
        rgb = out
    return np.concatenate([rgb, (~transparent).astype(np.float64)[..., None]], axis=2)


def _megapixels(pixels):
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels} pixels"


def _reason(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


# ----------------------------------------------------------------------------------------------
# 16-bit PNG (Pillow truncates 16-bit colour to 8 bits): a decoder from the PNG specification
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


def _png_ihdr(path):
    """``(width, height, bit_depth, colour_type, interlace)`` of a PNG file, or None."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _png_trns_key(path):
    """The tRNS colour key of a grey or RGB PNG (one or three samples), ``()`` when it has none.

    Only the chunks before the image data are looked at; a damaged file gives ``()`` here and is
    reported by the decoder.
    """
    with open(path, "rb") as f:
        blob = f.read()
    pos = 8
    while pos + 8 <= len(blob):
        length, ctype = struct.unpack(">I4s", blob[pos:pos + 8])
        if ctype == b"IDAT" or pos + 8 + length > len(blob):
            return ()
        if ctype == b"tRNS":
            data = blob[pos + 8:pos + 8 + length]
            return struct.unpack(f">{len(data) // 2}H", data[: len(data) // 2 * 2])
        pos += 12 + length
    return ()


#: Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _decode_png_file(path):
    with open(path, "rb") as f:
        return _decode_png(f.read())


def _decode_png(blob):
    """Decode a grey / grey+alpha / RGB / RGBA PNG of bit depth 8 or 16, interlaced or not.

    Returns an ``(H, W)`` or ``(H, W, C)`` uint8/uint16 array. Raises ValueError.
    """
    if blob[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    chunks = _png_chunks(blob)
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if channels is None or depth not in (8, 16) or interlace not in (0, 1):
        raise ValueError(f"unsupported PNG layout (colour type {ctype}, bit depth {depth}, "
                         f"interlace {interlace})")
    bpp = channels * depth // 8
    passes = []
    for x0, y0, dx, dy in ([(0, 0, 1, 1)] if interlace == 0 else _ADAM7):
        pw, ph = -(-(w - x0) // dx) if w > x0 else 0, -(-(h - y0) // dy) if h > y0 else 0
        if pw and ph:                         # an empty pass has no bytes, not even filter bytes
            passes.append((x0, y0, dx, dy, pw, ph, ph * (pw * bpp + 1)))
    expected = sum(p[-1] for p in passes)
    # decompress at most what the header promises, and check it before allocating the image
    raw = zlib.decompressobj().decompress(b"".join(d for t, d in chunks if t == b"IDAT"), expected)
    if len(raw) < expected:
        raise ValueError(f"truncated PNG image data ({len(raw)} of {expected} bytes)")
    raw = np.frombuffer(raw, dtype=np.uint8)
    samples = np.zeros((h, w * bpp), dtype=np.uint8)
    pos = 0
    for x0, y0, dx, dy, pw, ph, size in passes:
        rows = _png_unfilter(raw[pos:pos + size], ph, pw * bpp, bpp)
        if rows.shape[0] != ph:
            raise ValueError("invalid PNG filter type")
        pos += size
        view = samples.reshape(h, w, bpp)
        view[y0::dy, x0::dx] = rows.reshape(ph, pw, bpp)
    arr = samples.view(">u2" if depth == 16 else np.uint8).astype(np.uint16 if depth == 16 else np.uint8)
    return arr.reshape(h, w) if channels == 1 else arr.reshape(h, w, channels)


# ----------------------------------------------------------------------------------------------
# PNM with maxval > 255 (Pillow scales 16-bit colour to 8 bits)
# ----------------------------------------------------------------------------------------------
def _pnm_header(path):
    """``(magic, width, height, channels, maxval)`` of a P2/P3/P5/P6 file, or None."""
    with open(path, "rb") as f:
        head = f.read(1024)
    tokens, pos = _pnm_tokens(head, 4)
    if len(tokens) < 4 or tokens[0] not in (b"P2", b"P3", b"P5", b"P6"):
        return None
    magic = tokens[0].decode()
    try:
        width, height, maxval = (int(t) for t in tokens[1:4])
    except ValueError:
        return None
    return magic, width, height, 1 if magic in ("P2", "P5") else 3, maxval


def _pnm_tokens(blob, count, pos=0):
    """The first ``count`` whitespace-separated tokens (``#`` comments skipped) and the offset after."""
    tokens = []
    n = len(blob)
    while len(tokens) < count and pos < n:
        c = blob[pos:pos + 1]
        if c.isspace():
            pos += 1
        elif c == b"#":
            end = blob.find(b"\n", pos)
            pos = n if end < 0 else end + 1
        else:
            start = pos
            while pos < n and not blob[pos:pos + 1].isspace() and blob[pos:pos + 1] != b"#":
                pos += 1
            tokens.append(blob[start:pos])
    return tokens, pos


def _decode_pnm(path):
    with open(path, "rb") as f:
        blob = f.read()
    tokens, pos = _pnm_tokens(blob, 4)
    magic = tokens[0]
    width, height = int(tokens[1]), int(tokens[2])
    channels = 1 if magic in (b"P2", b"P5") else 3
    count = width * height * channels
    if magic in (b"P5", b"P6"):
        data = np.frombuffer(blob, dtype=">u2", count=count, offset=pos + 1)
    else:
        data = np.array(blob[pos:].split()[:count], dtype=np.int64)
        if data.size != count:
            raise ValueError(f"{data.size} samples, expected {count}")
    data = data.astype(np.uint16 if data.max(initial=0) < 65536 else np.int64)
    return data.reshape(height, width) if channels == 1 else data.reshape(height, width, 3)


# ----------------------------------------------------------------------------------------------
# TIFF with 16-bit samples and several channels (Pillow truncates them to 8 bits)
# ----------------------------------------------------------------------------------------------
def _decode_tiff16(path, samples):
    import imageio.v3 as iio

    with warnings.catch_warnings():          # imageio's TIFF reader announces its future removal
        warnings.simplefilter("ignore", DeprecationWarning)
        arr = np.asarray(iio.imread(path, index=0, plugin="TIFF"))
    if arr.ndim == 3 and arr.shape[0] == samples and arr.shape[2] != samples:
        arr = np.moveaxis(arr, 0, 2)                             # planar configuration 2
    if arr.ndim != 3 or arr.shape[2] != samples:
        raise ValueError(f"decoded to shape {arr.shape}, expected {samples} samples per pixel")
    if arr.dtype.kind not in "u" or arr.dtype.itemsize > 2:
        raise ValueError(f"decoded to {arr.dtype} samples")
    return arr
