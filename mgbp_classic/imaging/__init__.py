"""Images on disk: reading and writing them as float arrays in [0, 1], with their metadata.

``reader`` (the header first, then the pixels, upright), ``metadata`` (ICC profile, EXIF,
orientation, carried from input to output), ``formats`` (the encoders: one writer per format, in
one table) and ``io``, the two calls the rest of the package uses:
:func:`~mgbp_classic.imaging.io.read_image` and :func:`~mgbp_classic.imaging.io.write_image`.
"""
from .io import ImageInfo, read_header, read_image, write_image

__all__ = ["ImageInfo", "read_header", "read_image", "write_image"]
