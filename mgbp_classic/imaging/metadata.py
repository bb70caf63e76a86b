"""Image metadata carried from an input file to its upscaled output: ICC profile, EXIF, orientation.

The reader (:func:`mgbp_classic.imaging.io.read_image`) calls :func:`read_metadata` on the file's header and
:func:`apply_orientation` once on the decoded pixels, so every image enters the library upright. A
writer then asks :func:`output_exif` for the EXIF block to embed: the same tags, with the orientation
reset to 1 (the pixels are already upright) and the pixel dimensions set to the output's.

Colour is never converted: the ICC profile is carried as it is, and the pixels stay in the input's
colour space (the network works on the encoded values, as every peer upscaler does).

Pillow parses and serialises EXIF here (:class:`PIL.Image.Exif`); it reads the header only, not the
pixels.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["ImageMetadata", "read_metadata", "from_image", "apply_orientation", "output_exif", "ORIENTATION_TAG"]

#: EXIF tag numbers used here.
ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_PIXEL_X = 0xA002
_PIXEL_Y = 0xA003

#: IFD0 tags carried into the output: the descriptive ones. Tags that describe the pixel layout of a
#: TIFF file (size, samples, compression, strips, ...) are never copied; the writer sets its own.
_CARRIED_IFD0_TAGS = frozenset({
    0x010E,   # ImageDescription
    0x010F,   # Make
    0x0110,   # Model
    0x0112,   # Orientation (reset to 1 on output)
    0x011A,   # XResolution
    0x011B,   # YResolution
    0x0128,   # ResolutionUnit
    0x0131,   # Software
    0x0132,   # DateTime
    0x013B,   # Artist
    0x013E,   # WhitePoint
    0x013F,   # PrimaryChromaticities
    0x8298,   # Copyright
})


@dataclass(frozen=True)
class ImageMetadata:
    """What an image file says about its pixels beyond the samples.

    Attributes
    ----------
    icc_profile : bytes or None
        The embedded ICC colour profile, unchanged.
    exif : bytes or None
        The EXIF block (``b"Exif\\0\\0"`` + a TIFF structure, as Pillow writes it), restricted to
        descriptive tags and the Exif/GPS sub-directories; ``None`` when the file has none.
    orientation : int
        EXIF orientation 1..8 of the stored pixels (1: upright; 6: rotate 90° clockwise to view).
    """

    icc_profile: bytes = None
    exif: bytes = None
    orientation: int = 1

    @property
    def empty(self):
        """Whether there is nothing to carry (no profile, no EXIF)."""
        return self.icc_profile is None and self.exif is None


def read_metadata(path):
    """The ICC profile, EXIF and orientation of an image file (its header only).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ImageMetadata
        An empty record (orientation 1) when the file has no metadata or Pillow cannot open it: the
        pixel reader, not this function, reports unreadable files.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            return from_image(im)
    except Exception:  # noqa: BLE001 - metadata is optional; the pixel reader reports bad files
        return ImageMetadata()


def from_image(im):
    """The :class:`ImageMetadata` of an open Pillow image (its header only; a broken EXIF block
    gives no EXIF and orientation 1, never an error: the pixels may still be fine)."""
    icc = im.info.get("icc_profile") or None
    try:
        exif = im.getexif()
        orientation = _orientation(exif.get(ORIENTATION_TAG, 1))
        block = _serialise(exif)
    except Exception:  # noqa: BLE001 - see above
        orientation, block = 1, None
    return ImageMetadata(icc_profile=bytes(icc) if icc else None, exif=block, orientation=orientation)


def _orientation(value):
    try:
        value = int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError):
        return 1
    return value if 1 <= value <= 8 else 1


def _serialise(exif):
    """Descriptive IFD0 tags and the Exif/GPS sub-IFDs of a Pillow ``Exif`` as bytes, or None."""
    from PIL import Image

    out = Image.Exif()
    for tag, value in exif.items():
        if tag in _CARRIED_IFD0_TAGS:
            out[tag] = value
    for pointer in (_EXIF_IFD, _GPS_IFD):
        try:
            sub = dict(exif.get_ifd(pointer))
        except Exception:  # noqa: BLE001 - a broken sub-directory is dropped, the rest is kept
            sub = {}
        if sub:
            out[pointer] = sub
    if not len(out):
        return None
    try:
        return out.tobytes()
    except Exception:  # noqa: BLE001 - a tag Pillow cannot write back: carry nothing rather than fail
        return None


def apply_orientation(image, orientation):
    """Turn pixels stored with EXIF ``orientation`` upright.

    No resampling: each orientation is undone by flips and a transpose, so every pixel is kept exactly.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)``.
    orientation : int
        EXIF orientation 1..8 (anything else is treated as 1).

    Returns
    -------
    ndarray
        The upright image (a view when possible): ``(W, H, ...)`` for orientations 5..8.

    Notes
    -----
    The eight values are the dihedral group of the square (EXIF 2.32, tag 0x0112): 2 mirror
    left-right, 3 rotate 180°, 4 mirror top-bottom, 5 transpose, 6 rotate 90° clockwise, 7 transverse
    (transpose then rotate 180°), 8 rotate 90° counter-clockwise. They match Pillow's
    ``ImageOps.exif_transpose``.
    """
    x = np.asarray(image)
    o = _orientation(orientation)
    if o == 2:
        return x[:, ::-1]
    if o == 3:
        return x[::-1, ::-1]
    if o == 4:
        return x[::-1]
    if o == 5:
        return x.swapaxes(0, 1)
    if o == 6:
        return np.rot90(x, -1)
    if o == 7:
        return x.swapaxes(0, 1)[::-1, ::-1]
    if o == 8:
        return np.rot90(x, 1)
    return x


def output_exif(exif, *, width, height):
    """The EXIF block for an output image: orientation 1, pixel dimensions ``width`` × ``height``.

    Parameters
    ----------
    exif : bytes or None
        :attr:`ImageMetadata.exif`.
    width, height : int
        Size of the written image.

    Returns
    -------
    PIL.Image.Exif or None
        ``None`` when there is no EXIF to carry.
    """
    if not exif:
        return None
    from PIL import Image

    out = Image.Exif()
    try:
        out.load(exif)
        sub = dict(out.get_ifd(_EXIF_IFD))
    except Exception:  # noqa: BLE001 - unparseable EXIF is not carried
        return None
    out[ORIENTATION_TAG] = 1
    sub[_PIXEL_X] = int(width)
    sub[_PIXEL_Y] = int(height)
    out[_EXIF_IFD] = sub
    return out
