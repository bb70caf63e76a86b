"""Image file encoders: PNG and TIFF (8/16-bit, streamed by rows), JPEG and WebP (8-bit, Pillow).

:class:`ImageWriter` takes the rows of an image in order, a band at a time, and commits the file
atomically when it is closed (:func:`mgbp_classic.atomic.atomic_write`: a temporary file in the target directory, moved into
place with :func:`os.replace`; on any error the temporary file is removed and nothing else changes). PNG and
TIFF are encoded as the rows arrive, so an output far larger than memory can be written by a
producer that makes it band by band (the tiled network does); JPEG and WebP are encoded by Pillow
from the whole 8-bit image, kept in memory until :meth:`ImageWriter.close`.

=========  ===========  ============================  ======================================
format     bit depths   metadata                      encoder
=========  ===========  ============================  ======================================
``png``    8, 16        ICC (iCCP), EXIF (eXIf)       here: zlib, filter "up", streamed
``tiff``   8, 16        ICC (tag 34675), EXIF         here: Deflate + horizontal predictor,
                        (IFD0 tags + Exif/GPS IFDs)   strips streamed; IFD by Pillow
``jpeg``   8            ICC (APP2), EXIF (APP1)       Pillow (libjpeg), 4:4:4 at quality ≥ 90
``webp``   8            ICC, EXIF                     Pillow (libwebp)
=========  ===========  ============================  ======================================

Pillow cannot hold 16-bit colour images (it has no 16-bit RGB mode), hence the two hand-written
container writers; they use :mod:`zlib` for compression and Pillow's
``TiffImagePlugin.ImageFileDirectory_v2`` to serialise TIFF tags (EXIF sub-directories included).
"""
import os
import struct
import tempfile
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ..atomic import atomic_write
from ..exceptions import ImageError

__all__ = ["FORMATS", "Format", "EXTENSIONS", "SUFFIX", "DEFAULT_QUALITY", "ImageWriter", "format_for",
           "output_bit_depth"]

class Format(NamedTuple):
    """One written format: what it holds and which encoder of :class:`ImageWriter` writes it."""

    extensions: tuple          # file name extensions (lower case), the standard one first
    bit_depths: tuple          # sample depths it holds
    alpha: bool                # whether it holds an alpha channel
    max_side: int              # largest width or height
    quality: object            # default quality 1..100 of a lossy format; None: no quality option
    encoder: str               # ImageWriter's hooks _<encoder>_begin, _<encoder>_rows, _<encoder>_end


#: The written formats, one writer each, in one table (the command line's ``--format`` reads it).
FORMATS = MappingProxyType({
    "png": Format((".png",), (8, 16), True, 2 ** 31 - 1, None, "png"),
    "tiff": Format((".tif", ".tiff"), (8, 16), True, 2 ** 32 - 1, None, "tiff"),
    "jpeg": Format((".jpg", ".jpeg"), (8,), False, 65535, 92, "pillow"),
    "webp": Format((".webp",), (8,), True, 16383, 90, "pillow"),
})

#: File name extension (lower case) -> format (from :data:`FORMATS`).
EXTENSIONS = MappingProxyType({ext: name for name, f in FORMATS.items() for ext in f.extensions})

#: Standard extension of each format, for derived output names (from :data:`FORMATS`).
SUFFIX = MappingProxyType({name: f.extensions[0] for name, f in FORMATS.items()})

#: ``quality`` used for the lossy formats when none is given, 1..100 (from :data:`FORMATS`).
DEFAULT_QUALITY = MappingProxyType({name: f.quality for name, f in FORMATS.items() if f.quality is not None})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def format_for(path, format=None):
    """The format to write ``path`` in: ``format`` if given, else the one its extension names.

    Parameters
    ----------
    path : str or os.PathLike
    format : {"png", "tiff", "jpeg", "webp"}, optional
        Overrides the extension (``"jpg"`` and ``"tif"`` are accepted).

    Returns
    -------
    str

    Raises
    ------
    ImageError
        Unknown format, or no format given and an unknown extension.
    """
    if format is not None:
        name = {"jpg": "jpeg", "tif": "tiff"}.get(str(format).lower(), str(format).lower())
        if name not in FORMATS:
            raise ImageError(f"cannot write image {os.fspath(path)!r}: format must be one of "
                             f"{', '.join(FORMATS)}, got {format!r}")
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImageError(f"cannot write image {os.fspath(path)!r}: the name must end in one of "
                         f"{', '.join(EXTENSIONS)} (or give a format), got {suffix or 'no extension'!r}")
    return EXTENSIONS[suffix]


def output_bit_depth(format, bit_depth):
    """``bit_depth`` if ``format`` holds it, else 8 (JPEG and WebP are 8-bit formats)."""
    return bit_depth if bit_depth in FORMATS[format].bit_depths else 8


def _reason(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class ImageWriter:
    """Write an image file row band by row band; atomic on :meth:`close`.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its directory must exist.
    height, width : int
        Size of the image.
    channels : {1, 3, 4}
        Grey, RGB or RGBA (alpha unassociated: colour is not premultiplied in the file).
    bit_depth : {8, 16}, optional
        Sample depth; the lossy formats are always 8-bit (see :func:`output_bit_depth`).
    format : str, optional
        One of :data:`FORMATS`; default from the extension of ``path``.
    quality : int, optional
        1..100 for JPEG and WebP (default :data:`DEFAULT_QUALITY`); must be ``None`` otherwise.
    icc_profile : bytes, optional
        ICC profile to embed.
    exif : PIL.Image.Exif, optional
        EXIF to embed (see :func:`mgbp_classic.imaging.metadata.output_exif`).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with ImageWriter(os.path.join(d, "a.png"), height=4, width=5, channels=3) as w:
    ...     w.write(np.zeros((2, 5, 3)))
    ...     w.write(np.ones((2, 5, 3)))
    """

    def __init__(self, path, *, height, width, channels, bit_depth=8, format=None, quality=None,
                 icc_profile=None, exif=None):
        self.path = os.fspath(path)
        self.format = format_for(self.path, format)
        depths, alpha_ok, max_side = FORMATS[self.format][1:4]
        if bit_depth not in (8, 16):
            raise ImageError(f"cannot write image {self.path!r}: bit_depth must be 8 or 16, got {bit_depth!r}")
        self.bit_depth = output_bit_depth(self.format, bit_depth)
        if channels not in (1, 3, 4):
            raise ImageError(f"cannot write image {self.path!r}: channels must be 1, 3 or 4, got {channels!r}")
        if channels == 4 and not alpha_ok:
            raise ImageError(f"cannot write image {self.path!r}: {self.format.upper()} has no alpha channel; "
                             f"write PNG, TIFF or WebP for an image with transparency")
        if not (1 <= height <= max_side and 1 <= width <= max_side):
            raise ImageError(f"cannot write image {self.path!r}: {self.format.upper()} holds at most "
                             f"{max_side} pixels per side, got {width}x{height}")
        if quality is not None:
            if self.format not in DEFAULT_QUALITY:
                raise ImageError(f"cannot write image {self.path!r}: quality applies to JPEG and WebP only, "
                                 f"not {self.format.upper()}")
            if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
                raise ImageError(f"cannot write image {self.path!r}: quality must be an integer 1..100, "
                                 f"got {quality!r}")
        self.quality = int(quality) if quality is not None else DEFAULT_QUALITY.get(self.format)
        self.height, self.width, self.channels = int(height), int(width), int(channels)
        self.icc_profile = icc_profile or None
        self.exif = exif
        self.rows = 0
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise ImageError(f"cannot write image {self.path!r}: directory {directory!r} does not exist")
        if os.path.isdir(self.path):
            raise ImageError(f"cannot write image {self.path!r}: it is a directory")
        self._open(directory)
        try:
            self._begin()
        except BaseException:
            self.abort()
            raise

    # -- file handling ---------------------------------------------------------------------------
    def _open(self, directory):
        self._atomic = atomic_write(self.path)          # entered here, left in close() or abort()
        try:
            self._file = self._atomic.__enter__()
        except OSError as exc:
            self._atomic = None
            raise ImageError(f"cannot write image {self.path!r}: {_reason(exc)}") from None

    def abort(self):
        """Drop the partial file (nothing at ``path`` changes)."""
        self._file = None
        atomic, self._atomic = getattr(self, "_atomic", None), None
        if atomic is not None:
            try:
                atomic.__exit__(ImageError, ImageError("aborted"), None)   # removes the temporary file
            except ImageError:
                pass
        spool, self._spool = getattr(self, "_spool", None), None
        if spool is not None:
            spool.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self.abort()
        return False

    # -- rows ------------------------------------------------------------------------------------
    def write(self, rows):
        """Append a band of rows, float in [0, 1] (clipped, rounded to the bit depth).

        Parameters
        ----------
        rows : array_like
            ``(n, width)`` or ``(n, width, channels)``.
        """
        arr = np.asarray(rows)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[1:] != (self.width, self.channels):
            raise ImageError(f"cannot write image {self.path!r}: rows must be (n, {self.width}, {self.channels}), "
                             f"got {arr.shape}")
        if self.rows + arr.shape[0] > self.height:
            raise ImageError(f"cannot write image {self.path!r}: more than {self.height} rows given")
        if not np.all(np.isfinite(arr)):
            raise ImageError(f"cannot write image {self.path!r}: image contains NaN or infinite values")
        m = 2 ** self.bit_depth - 1
        ints = np.clip(np.round(arr.astype(np.float64) * m), 0, m)
        ints = ints.astype(np.uint8 if self.bit_depth == 8 else np.uint16)
        try:
            self._rows(ints)
        except OSError as exc:
            self.abort()
            raise ImageError(f"cannot write image {self.path!r}: {_reason(exc)}") from None
        self.rows += arr.shape[0]

    def close(self):
        """Finish the file and move it into place; returns the path."""
        if self._file is None:
            raise ImageError(f"cannot write image {self.path!r}: the writer is closed")
        if self.rows != self.height:
            self.abort()
            raise ImageError(f"cannot write image {self.path!r}: {self.rows} of {self.height} rows given")
        try:
            self._end()
            self._file = None
            atomic, self._atomic = self._atomic, None
            atomic.__exit__(None, None, None)                             # fsync, chmod, os.replace
        except Exception as exc:
            self.abort()
            if isinstance(exc, ImageError):
                raise
            raise ImageError(f"cannot write image {self.path!r}: {_reason(exc)}") from None
        return self.path

    # -- per-format hooks ------------------------------------------------------------------------
    def _begin(self):
        getattr(self, f"_{FORMATS[self.format].encoder}_begin")()

    def _rows(self, ints):
        getattr(self, f"_{FORMATS[self.format].encoder}_rows")(ints)

    def _end(self):
        getattr(self, f"_{FORMATS[self.format].encoder}_end")()

    # PNG: IHDR, iCCP, eXIf, IDAT chunks as the compressor emits them, IEND.
    def _png_chunk(self, tag, data):
        self._file.write(struct.pack(">I", len(data)) + tag + data
                         + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    def _png_begin(self):
        ctype = {1: 0, 3: 2, 4: 6}[self.channels]
        self._file.write(_PNG_SIGNATURE)
        self._png_chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, self.bit_depth, ctype, 0, 0, 0))
        if self.icc_profile:
            self._png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(self.icc_profile))
        if self.exif is not None:
            block = self.exif.tobytes()
            self._png_chunk(b"eXIf", block[6:] if block.startswith(b"Exif\x00\x00") else block)
        self._zip = zlib.compressobj(6)
        self._prev = None

    def _png_rows(self, ints):
        raw = np.ascontiguousarray(ints.astype(">u2") if self.bit_depth == 16 else ints)
        raw = raw.reshape(raw.shape[0], -1).view(np.uint8)              # (n, W·C·bytes)
        up = raw.copy()
        up[1:] -= raw[:-1]                                               # filter 2 ("up"): minus the byte above
        if self._prev is not None:
            up[0] -= self._prev
        self._prev = raw[-1].copy()
        lines = np.concatenate([np.full((raw.shape[0], 1), 2, dtype=np.uint8), up], axis=1)
        data = self._zip.compress(lines.tobytes())
        if data:
            self._png_chunk(b"IDAT", data)

    def _png_end(self):
        self._png_chunk(b"IDAT", self._zip.flush())
        self._png_chunk(b"IEND", b"")

    # TIFF: compressed strips go to a spool file; at the end the header and IFD are written and the
    # strips copied after them (the IFD's offsets then point forward, the layout Pillow uses).
    def _tiff_begin(self):
        self._spool = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(self.path)))
        row_bytes = self.width * self.channels * self.bit_depth // 8
        self._strip_rows = max(1, min(self.height, (256 * 1024) // max(1, row_bytes)))
        self._pending = []
        self._pending_rows = 0
        self._strip_sizes = []

    def _tiff_rows(self, ints):
        self._pending.append(ints)
        self._pending_rows += ints.shape[0]
        while self._pending_rows >= self._strip_rows:
            self._tiff_flush(self._strip_rows)

    def _tiff_flush(self, n):
        block = np.concatenate(self._pending, axis=0) if len(self._pending) > 1 else self._pending[0]
        strip, rest = block[:n], block[n:]
        self._pending = [rest] if rest.shape[0] else []
        self._pending_rows = rest.shape[0]
        pred = strip.copy()
        pred[:, 1:] -= strip[:, :-1]                                     # predictor 2: horizontal differences
        data = zlib.compress(np.ascontiguousarray(pred.astype("<u2") if self.bit_depth == 16 else pred)
                             .tobytes(), 6)
        self._spool.write(data)
        self._strip_sizes.append(len(data))

    def _tiff_end(self):
        from PIL import TiffImagePlugin, TiffTags

        if self._pending_rows:
            self._tiff_flush(self._pending_rows)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
        if self.exif is not None:                                        # descriptive tags, Exif/GPS IFDs
            for tag, value in self.exif.items():
                if tag in (0x8769, 0x8825):
                    value = value if isinstance(value, dict) else dict(self.exif.get_ifd(tag))
                    if not value:
                        continue
                    ifd.tagtype[tag] = TiffTags.LONG
                ifd[tag] = value
        ifd[256] = self.width                                            # ImageWidth
        ifd[257] = self.height                                           # ImageLength
        ifd[258] = (self.bit_depth,) * self.channels                     # BitsPerSample
        ifd[259] = 8                                                     # Compression: Deflate
        ifd[262] = 1 if self.channels == 1 else 2                        # Photometric: BlackIsZero / RGB
        offsets, total = [], 0
        for size in self._strip_sizes:
            offsets.append(total)                                        # relative: Pillow adds the IFD's end
            total += size
        ifd.tagtype[273] = ifd.tagtype[279] = TiffTags.LONG
        ifd[273] = tuple(offsets)                                        # StripOffsets
        ifd[277] = self.channels                                         # SamplesPerPixel
        ifd[278] = self._strip_rows                                      # RowsPerStrip
        ifd[279] = tuple(self._strip_sizes)                              # StripByteCounts
        ifd[284] = 1                                                     # PlanarConfiguration: chunky
        ifd[317] = 2                                                     # Predictor: horizontal
        if self.channels == 4:
            ifd[338] = 2                                                 # ExtraSamples: unassociated alpha
        ifd[339] = (1,) * self.channels                                  # SampleFormat: unsigned
        if self.icc_profile:
            ifd.tagtype[34675] = TiffTags.UNDEFINED
            ifd[34675] = self.icc_profile
        self._file.write(b"II*\x00" + struct.pack("<I", 8))
        self._file.write(ifd.tobytes(8))
        self._spool.seek(0)
        while True:
            chunk = self._spool.read(1 << 22)
            if not chunk:
                break
            self._file.write(chunk)
        self._spool.close()
        self._spool = None

    # JPEG and WebP: Pillow, from the whole 8-bit image.
    def _pillow_begin(self):
        self._image = np.empty((self.height, self.width, self.channels), np.uint8)

    def _pillow_rows(self, ints):
        self._image[self.rows:self.rows + ints.shape[0]] = ints

    def _pillow_end(self):
        from PIL import Image

        pixels, self._image = self._image, None
        im = Image.fromarray(pixels[:, :, 0] if self.channels == 1 else pixels)
        del pixels
        options = {"quality": self.quality}
        if self.format == "jpeg":
            options.update(subsampling=0 if self.quality >= 90 else 2, optimize=True)
        else:
            options.update(method=4)
        if self.icc_profile:
            options["icc_profile"] = self.icc_profile
        if self.exif is not None:
            options["exif"] = self.exif.tobytes()
        im.save(self._file, format=self.format.upper(), **options)

