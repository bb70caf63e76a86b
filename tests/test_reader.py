"""The image reader: every colour model and sample type it accepts, each read back to known values;
every one it refuses, refused before decoding with a one-line message. Files are made in the tests."""
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from mgbp_classic import ImageError
from mgbp_classic.exceptions import MultiFrameWarning
from mgbp_classic.imaging.reader import SUPPORTED_FORMATS, read_header, read_image

RNG = np.random.default_rng(14)

# ----------------------------------------------------------------------------------------------
# files written by hand from the specifications (PNG, PNM, JPEG marker surgery)
# ----------------------------------------------------------------------------------------------
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_of(samples, *, interlace=False, extra_chunks=()):
    """A 16-bit (uint16 samples) or 8-bit PNG of ``samples`` (H, W) or (H, W, C), filter 0 rows;
    with ``interlace`` the seven Adam7 passes, each its own sequence of filtered rows."""
    samples = np.asarray(samples)
    h, w = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    depth = 16 if samples.dtype == np.uint16 else 8
    big = samples.astype(">u2" if depth == 16 else np.uint8).reshape(h, w, channels)
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = big[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0)
    body = b"".join(png_chunk(t, d) for t, d in extra_chunks)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + body + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def ycc(rgb):
    """JPEG's (JFIF) RGB -> YCbCr on 8-bit values."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.clip(np.round(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def two_colour_rgb():
    rgb = np.zeros((16, 16, 3), np.uint8)      # flat 8x8 blocks: JPEG at quality 100 keeps them
    rgb[:8] = (200, 30, 90)
    rgb[8:] = (20, 180, 240)
    return rgb


def cmyk_jpeg(path, stored):
    """A 4-channel JPEG whose stored components are ``stored``, with Pillow's Adobe APP14 marker
    (Pillow writes CMYK inverted, so it is given the complement)."""
    Image.fromarray(255 - stored, "CMYK").save(path, quality=100)


# ----------------------------------------------------------------------------------------------
# CMYK and YCCK JPEG
# ----------------------------------------------------------------------------------------------
def test_adobe_cmyk_jpeg_becomes_rgb(tmp_path):
    rgb = two_colour_rgb()
    cmy = 255 - rgb                                                        # K = 0: C = 1 - R ...
    path = tmp_path / "adobe.jpg"
    cmyk_jpeg(path, 255 - np.concatenate([cmy, np.zeros((16, 16, 1), np.uint8)], axis=2))  # Adobe: inverted
    image, info = read_image(path, return_info=True)
    assert (info.mode, info.source_mode, info.format, image.shape) == ("RGB", "CMYK", "JPEG", (16, 16, 3))
    np.testing.assert_allclose(image * 255, rgb, atol=1.0)


def test_cmyk_jpeg_with_black_and_without_adobe_marker(tmp_path):
    # R = (1 - C)(1 - K): C = 0.2, K = 0.5 -> 0.4
    cmyk = np.zeros((8, 8, 4), np.uint8)
    cmyk[..., 0], cmyk[..., 3] = 51, 128
    path = tmp_path / "plain.jpg"
    cmyk_jpeg(path, cmyk)                              # stored plain; then the Adobe marker removed
    blob = path.read_bytes()
    start = blob.index(b"Adobe") - 4
    length = int.from_bytes(blob[start + 2:start + 4], "big")
    path.write_bytes(blob[:start] + blob[start + 2 + length:])
    assert Image.open(path).info.get("adobe") is None
    image = read_image(path)
    expected = (1 - 51 / 255) * (1 - 128 / 255), 1 - 128 / 255, 1 - 128 / 255
    np.testing.assert_allclose(image[0, 0], expected, atol=1.5 / 255)


def test_adobe_ycck_jpeg_becomes_rgb(tmp_path):
    rgb = two_colour_rgb()
    # Adobe YCCK stores YCbCr of (C, M, Y) and K inverted; for K = 0, C = 255 - R
    stored = np.concatenate([ycc(255 - rgb), np.full((16, 16, 1), 255, np.uint8)], axis=2)
    path = tmp_path / "ycck.jpg"
    cmyk_jpeg(path, stored)
    blob = bytearray(path.read_bytes())
    blob[blob.index(b"Adobe") + 11] = 2                            # APP14 transform: 2 = YCCK
    path.write_bytes(bytes(blob))
    assert Image.open(path).info.get("adobe_transform") == 2
    image, info = read_image(path, return_info=True)
    assert info.mode == "RGB"
    np.testing.assert_allclose(image * 255, rgb, atol=2.0)


def test_cmyk_tiff_and_cmyk_profile_dropped(tmp_path):
    cmyk = RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    path = tmp_path / "c.tif"
    fake_cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    Image.fromarray(cmyk, "CMYK").save(path, icc_profile=fake_cmyk_profile)
    image, info = read_image(path, return_info=True)
    c = cmyk / 255.0
    np.testing.assert_allclose(image, (1 - c[..., :3]) * (1 - c[..., 3:]), atol=1e-12)
    assert info.icc_profile is None                     # it describes CMYK, not the RGB returned


# ----------------------------------------------------------------------------------------------
# 16-bit PNG, interlaced or not; colour keys
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (9, 10, 3), (8, 8, 4), (5, 13, 2), (2, 9, 3)])
@pytest.mark.parametrize("interlace", [False, True])
def test_16bit_png_any_layout_keeps_16_bits(tmp_path, shape, interlace):
    data = RNG.integers(0, 65536, size=shape, dtype=np.uint16)
    path = tmp_path / "p16.png"
    path.write_bytes(png_of(data, interlace=interlace))
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 16
    expected = data if data.ndim == 2 or shape[2] != 2 else data[..., [0, 0, 0, 1]]
    np.testing.assert_array_equal(image, expected / 65535.0)


def test_8bit_interlaced_png(tmp_path):
    data = RNG.integers(0, 256, size=(11, 7, 3), dtype=np.uint8)
    path = tmp_path / "p8.png"
    path.write_bytes(png_of(data, interlace=True))
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 8
    np.testing.assert_array_equal(image, data / 255.0)


def test_16bit_png_colour_key_becomes_alpha(tmp_path):
    data = RNG.integers(0, 65536, size=(4, 5, 3), dtype=np.uint16)
    data[1, 2] = (1, 2, 3)
    path = tmp_path / "key.png"
    path.write_bytes(png_of(data, extra_chunks=[(b"tRNS", struct.pack(">3H", 1, 2, 3))]))
    image, info = read_image(path, return_info=True)
    assert info.mode == "RGBA" and info.bit_depth == 16
    alpha = np.ones((4, 5))
    alpha[1, 2] = 0
    np.testing.assert_array_equal(image[..., 3], alpha)
    np.testing.assert_array_equal(image[..., :3], data / 65535.0)


def test_8bit_grey_colour_key_becomes_alpha(tmp_path):
    data = np.array([[0, 7, 255]], np.uint8)
    path = tmp_path / "key8.png"
    path.write_bytes(png_of(data, extra_chunks=[(b"tRNS", struct.pack(">H", 7))]))
    image, info = read_image(path, return_info=True)
    assert info.mode == "RGBA"
    np.testing.assert_array_equal(image[0, :, 3], [1, 0, 1])


# ----------------------------------------------------------------------------------------------
# integer and float sample types
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("array, what", [
    (np.arange(12, dtype=np.int32).reshape(3, 4) * 20, "32-bit signed integer samples .their range is unknown"),
    (np.arange(12, dtype=np.int16).reshape(3, 4) - 5, "signed integer"),
])
def test_integer_tiffs_without_a_range_are_refused(tmp_path, array, what):
    path = tmp_path / "ints.tif"
    Image.fromarray(array).save(path)
    with pytest.raises(ImageError, match=what) as err:
        read_image(path)
    message = str(err.value)
    assert "ints.tif" in message and "supported" in message and "\n" not in message


def test_16bit_and_12bit_grey_tiff_scaled_by_their_range(tmp_path):
    data = RNG.integers(0, 65536, size=(4, 6), dtype=np.uint16)
    path = tmp_path / "g16.tif"
    Image.fromarray(data).save(path)
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 16 and info.mode == "L"
    np.testing.assert_array_equal(image, data / 65535.0)
    # a 12-bit grey TIFF (uncompressed, samples packed big-endian two per three bytes)
    data12 = RNG.integers(0, 4096, size=(3, 4), dtype=np.uint16)
    packed = bytearray()
    for row in data12:
        for a, b in row.reshape(-1, 2):
            packed += bytes([a >> 4, ((a & 15) << 4) | (b >> 8), b & 255])
    path12 = tmp_path / "g12.tif"
    path12.write_bytes(tiff_bytes(4, 3, packed, bits=12))
    image, info = read_image(path12, return_info=True)
    assert info.bit_depth == 16
    np.testing.assert_allclose(image, data12 / 4095.0, atol=1e-12)


def tiff_bytes(width, height, strip, *, bits):
    """A little-endian, uncompressed, one-strip greyscale TIFF (TIFF 6.0, section 2)."""
    entries = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, bits), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 3, 1, height), (279, 4, 1, len(strip))]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    return b"II\x2a\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + bytes(strip)


def test_16bit_rgb_tiff_keeps_16_bits(tmp_path):
    import imageio.v3 as iio

    data = RNG.integers(0, 65536, size=(5, 4, 3), dtype=np.uint16)
    path = tmp_path / "rgb16.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        iio.imwrite(path, data)
    assert Image.open(path).mode == "RGB"              # what Pillow alone would give: 8 bits
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 16 and info.mode == "RGB"
    np.testing.assert_array_equal(image, data / 65535.0)


def test_float_tiff_in_range_accepted_and_out_of_range_refused(tmp_path):
    data = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / "f.tif"
    Image.fromarray(data).save(path)
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 16
    np.testing.assert_array_equal(image, data.astype(np.float64))
    for bad, reason in [(data * 3 - 1, r"\[0, 1\], found -1 to 2"), (data * np.nan, "NaN")]:
        Image.fromarray(bad.astype(np.float32)).save(path)
        with pytest.raises(ImageError, match=reason):
            read_image(path)


def test_pnm_16bit_and_odd_maxval(tmp_path):
    data = RNG.integers(0, 1001, size=(3, 4, 3), dtype=np.uint16)
    path = tmp_path / "p.ppm"
    path.write_bytes(b"P6\n# a comment\n4 3\n1000\n" + data.astype(">u2").tobytes())
    image, info = read_image(path, return_info=True)
    assert info.bit_depth == 16 and info.mode == "RGB"
    np.testing.assert_allclose(image, data / 1000.0, atol=1e-12)
    grey = data[..., 0]
    path = tmp_path / "p.pgm"
    path.write_text("P2 4 3 1000\n" + " ".join(str(v) for v in grey.ravel()) + "\n")
    np.testing.assert_allclose(read_image(path), grey / 1000.0, atol=1e-12)
    path.write_bytes(b"P5 4 3 65535\n" + (grey + 64536).astype(">u2").tobytes())
    np.testing.assert_array_equal(read_image(path), (grey + 64536) / 65535.0)
    path.write_bytes(b"P5 4 3 1000\n" + (grey + 1000).astype(">u2").tobytes())
    with pytest.raises(ImageError, match="beyond the file's stated maximum 1000"):
        read_image(path)


# ----------------------------------------------------------------------------------------------
# palette, bilevel, grey + alpha, premultiplied alpha
# ----------------------------------------------------------------------------------------------
def test_small_colour_models(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    image, info = read_image(tmp_path / "b.png", return_info=True)
    assert info.source_mode == "1" and info.mode == "L"
    np.testing.assert_array_equal(image, bits.astype(float))

    Image.new("LA", (3, 2), (100, 50)).save(tmp_path / "la.png")
    image, info = read_image(tmp_path / "la.png", return_info=True)
    assert info.mode == "RGBA"
    np.testing.assert_array_equal(image[0, 0] * 255, [100, 100, 100, 50])

    Image.new("RGBA", (2, 2), (10, 20, 30, 40)).save(tmp_path / "a.webp", lossless=True)
    image, info = read_image(tmp_path / "a.webp", return_info=True)
    assert info.format == "WEBP" and info.mode == "RGBA"
    np.testing.assert_array_equal(image[0, 0] * 255, [10, 20, 30, 40])

    p = Image.new("P", (3, 1))
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255])
    p.putdata([0, 1, 2])
    p.save(tmp_path / "p.bmp")
    np.testing.assert_array_equal(read_image(tmp_path / "p.bmp")[0], [[0, 0, 0], [1, 0, 0], [0, 0, 1]])


def test_premultiplied_alpha_tiff_is_divided(tmp_path):
    import imageio.v3 as iio

    # imageio's TIFF writer declares the alpha associated (premultiplied, ExtraSamples = 1)
    data = np.array([[[50, 100, 0, 200]]], np.uint8)
    path = tmp_path / "pre.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        iio.imwrite(path, data)
    assert Image.open(path).tag_v2.get(338) == (1,)
    np.testing.assert_allclose(read_image(path)[0, 0], [0.25, 0.5, 0, 200 / 255], atol=1 / 255)


# ----------------------------------------------------------------------------------------------
# several frames: one rule for every format
# ----------------------------------------------------------------------------------------------
def frames(mode="L"):
    return [Image.fromarray(np.full((4, 5), v, np.uint8)).convert(mode) for v in (10, 120, 250)]


@pytest.mark.parametrize("name, kwargs", [("anim.gif", {}), ("pages.tif", {}), ("anim.png", {}),
                                          ("anim.webp", {"lossless": True})])
def test_multi_frame_files_give_the_first_frame_with_a_warning(tmp_path, name, kwargs):
    first, *rest = frames("RGB")
    path = tmp_path / name
    first.save(path, save_all=True, append_images=rest, **kwargs)
    with pytest.warns(MultiFrameWarning, match=rf"{name}.* holds 3 frames .*only the first is read"):
        image, info = read_image(path, return_info=True)
    assert info.frames == 3
    np.testing.assert_allclose(image, 10 / 255, atol=1 / 255)


def test_mpo_primary_image_without_warning(tmp_path):
    first, second, _ = frames("RGB")
    path = tmp_path / "phone.jpg"
    first.save(path, format="MPO", save_all=True, append_images=[second], quality=100)
    assert Image.open(path).format == "MPO" and Image.open(path).n_frames == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultiFrameWarning)
        image, info = read_image(path, return_info=True)
    assert info.frames == 1
    np.testing.assert_allclose(image, 10 / 255, atol=2 / 255)


# ----------------------------------------------------------------------------------------------
# the header first: size refusals decode nothing; metadata record
# ----------------------------------------------------------------------------------------------
def test_too_large_image_is_refused_before_decoding(tmp_path):
    # a 16-bit RGB PNG that claims 30000 x 30000 (5.4 GB of samples) and holds a few bytes: decoding
    # would fail on the data; the refusal must come from the header, without allocating the image
    path = tmp_path / "huge.png"
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + png_chunk(b"IEND", b""))
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=r"huge.png.*30000×30000 \(900.0 MP\), more than the 268.4 MP"):
            read_image(path)
        with pytest.raises(ImageError, match=r"30000×30000 .* more than the 4096 pixels accepted"):
            read_image(path, max_pixels=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6
    info = read_header(path)
    assert (info.width, info.height, info.bit_depth, info.mode) == (30000, 30000, 16, "RGB")


def test_metadata_record(tmp_path):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (4, 2), (1, 2, 3)).save(path, exif=exif.tobytes(), icc_profile=srgb)
    info = read_header(path)                         # stored 4 x 2, orientation 6: upright 2 x 4
    assert (info.orientation, info.icc_profile, info.width, info.height) == (6, srgb, 2, 4)
    parsed = Image.Exif()
    parsed.load(info.exif)
    assert parsed[0x0112] == 6 and info.metadata.exif == info.exif and info.metadata.orientation == 6
    image, info = read_image(path, return_info=True)
    assert image.shape == info.shape == (4, 2, 3)
    # a grey picture with an RGB profile: the profile does not describe it
    Image.new("L", (4, 2)).save(tmp_path / "grey.png", icc_profile=srgb)
    assert read_header(tmp_path / "grey.png").icc_profile is None
    Image.new("RGB", (4, 2)).save(tmp_path / "plain.png")
    info = read_header(tmp_path / "plain.png")
    assert (info.orientation, info.icc_profile, info.exif, info.frames) == (1, None, None, 1)


# ----------------------------------------------------------------------------------------------
# files that are not images: the message says what the file is and what is supported
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, what", [
    (b"", "the file is empty"),
    (b"hello, this is not a picture\n", "it is a text file, not an image file"),
    (b"<!DOCTYPE html><html><body>404</body></html>", "it is an HTML/XML text file"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "XML/SVG"),
    (b"PK\x03\x04" + bytes(40), "a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(200)), "a PNG file with a corrupt header"),
    (bytes([0xFF, 0xD8, 0xFF]) + bytes(50), "JPEG"),
    (bytes(range(7, 250)), "its format is unknown"),
])
def test_not_an_image(tmp_path, content, what):
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        read_image(path)
    message = str(err.value)
    assert message.startswith(f"cannot read image {str(path)!r}: ") and what in message, message
    assert "\n" not in message
    if content:
        assert message.endswith(f"(supported: {SUPPORTED_FORMATS})") or "JPEG" in what, message


def test_truncated_image_data(tmp_path):
    data = RNG.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    for name in ("cut.png", "cut.jpg", "cut.gif"):
        path = tmp_path / name
        Image.fromarray(data).save(path)
        blob = path.read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
        with pytest.raises(ImageError, match=rf"{name}.*data is truncated or corrupt") as err:
            read_image(path)
        assert "\n" not in str(err.value)
    path = tmp_path / "cut16.png"
    path.write_bytes(png_of(RNG.integers(0, 65536, (9, 9, 3), dtype=np.uint16), interlace=True)[:-40])
    with pytest.raises(ImageError, match="cut16.png.*PNG data is truncated or corrupt"):
        read_image(path)


def test_unsupported_colour_model(tmp_path):
    path = tmp_path / "lab.tif"
    Image.new("LAB", (3, 3), (50, 0, 0)).save(path)
    with pytest.raises(ImageError, match=r"lab.tif.*CIE L\*a\*b\* colour is not supported \(supported: "
                                         r"greyscale, grey\+alpha, palette, RGB"):
        read_image(path)


# ----------------------------------------------------------------------------------------------
# properties: any image written losslessly reads back exactly; any damaged file gives an
# ImageError or a valid image, never another exception
# ----------------------------------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

LOSSLESS = {  # format -> (channel counts, sample types) it stores exactly
    "png": ((1, 2, 3, 4), (np.uint8, np.uint16)),
    "png-adam7": ((1, 2, 3, 4), (np.uint8, np.uint16)),
    "tif": ((1, 3, 4), (np.uint8,)),
    "tif16": ((1,), (np.uint16,)),
    "bmp": ((1, 3), (np.uint8,)),
    "pnm": ((1, 3), (np.uint8, np.uint16)),
    "webp": ((3, 4), (np.uint8,)),
}


def write_lossless(path, data, kind):
    if kind.startswith("png"):
        path.write_bytes(png_of(data, interlace=kind == "png-adam7"))
    elif kind == "pnm":
        magic = b"P5" if data.ndim == 2 else b"P6"
        top = 65535 if data.dtype == np.uint16 else 255
        path.write_bytes(magic + b" %d %d %d\n" % (data.shape[1], data.shape[0], top)
                         + data.astype(">u2" if top > 255 else np.uint8).tobytes())
    elif kind == "webp":
        Image.fromarray(data).save(path, lossless=True, exact=True)
    else:
        Image.fromarray(data).save(path)


@st.composite
def lossless_images(draw):
    kind = draw(st.sampled_from(sorted(LOSSLESS)))
    channels, dtypes = LOSSLESS[kind]
    c = draw(st.sampled_from(channels))
    dtype = draw(st.sampled_from(dtypes))
    shape = (draw(st.integers(1, 11)), draw(st.integers(1, 11))) + (() if c == 1 else (c,))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    top = np.iinfo(dtype).max
    data = np.random.default_rng(seed).integers(0, top + 1, size=shape, dtype=dtype)
    return kind, data


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(lossless_images())
def test_property_lossless_files_read_back_exactly(tmp_path_factory, case):
    kind, data = case
    path = tmp_path_factory.mktemp("lossless") / f"x.{kind.split('-')[0].replace('16', '')}"
    write_lossless(path, data, kind)
    image, info = read_image(path, return_info=True)
    expected = data[..., [0, 0, 0, 1]] if data.ndim == 3 and data.shape[2] == 2 else data
    np.testing.assert_array_equal(image, expected / float(np.iinfo(data.dtype).max))
    assert info.bit_depth == (16 if data.dtype == np.uint16 else 8) and image.shape == info.shape


def damaged_sources(tmp):
    data = np.random.default_rng(5).integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    files = {}
    for ext, save in {"png": {}, "jpg": {"quality": 90}, "gif": {}, "tif": {}, "bmp": {},
                      "webp": {"lossless": True}}.items():
        path = tmp / f"src.{ext}"
        Image.fromarray(data).save(path, **save)
        files[ext] = path.read_bytes()
    files["png16"] = png_of(data.astype(np.uint16) * 257, interlace=True)
    files["ppm16"] = b"P6 11 9 65535\n" + (data.astype(">u2") * 257).tobytes()
    return files


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(["png", "jpg", "gif", "tif", "bmp", "webp", "png16", "ppm16"]),
       cut=st.one_of(st.none(), st.integers(0, 4000)),
       edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6))
def test_property_damaged_files_give_image_error_or_an_image(tmp_path_factory, kind, cut, edits):
    tmp = tmp_path_factory.mktemp("damaged")
    blob = bytearray(damaged_sources(tmp)[kind])
    for pos, value in edits:
        if blob:
            blob[pos % len(blob)] = value
    if cut is not None:
        blob = blob[:cut]
    path = tmp / f"damaged.{kind.rstrip('16')}"
    path.write_bytes(bytes(blob))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultiFrameWarning)
            image, info = read_image(path, max_pixels=1 << 16, return_info=True)
    except ImageError as exc:                         # refused: one line that names the file
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert image.shape == info.shape and image.dtype == np.float64
    assert np.all(np.isfinite(image)) and image.min() >= 0.0 and image.max() <= 1.0
