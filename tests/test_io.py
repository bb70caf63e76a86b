"""Image reading/writing: every kind read back through imageio, every error path, atomic writes."""
import os
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import mgbp_classic.imaging.io as mio
import mgbp_classic.imaging.reader as reader
from mgbp_classic import ImageError
from mgbp_classic.imaging.io import quantize, read_image, to_uint8, write_image

RNG = np.random.default_rng(255)


def png_bytes(width, height, bit_depth, colour_type, rows, extra_chunks=()):
    """A minimal PNG (filter type 0 on every row), written by hand from the PNG specification."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    body = b"".join(chunk(t, d) for t, d in extra_chunks)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + body
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def u8(shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # imageio's vendored TIFF writer
@pytest.mark.parametrize("shape, mode, ext", [
    (shape, mode, ext) for shape, mode in [((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")]
    for ext in [".png", ".bmp", ".tif"] if (ext, mode) != (".bmp", "RGBA")])  # Pillow: no BMP alpha
def test_lossless_8bit_formats(tmp_path, shape, mode, ext):
    data = u8(shape)
    path = tmp_path / f"img{ext}"
    if (ext, mode) == (".tif", "RGBA"):
        # imageio's TIFF writer labels alpha as premultiplied (ExtraSamples 1); Pillow's as plain (2)
        Image.fromarray(data).save(path)
    else:
        iio.imwrite(path, data)
    img, info = read_image(path, return_info=True)
    assert img.dtype == np.float64 and img.shape == shape
    np.testing.assert_array_equal(img, data / 255.0)
    assert info.bit_depth == 8 and info.mode == mode and info.path == str(path)


def test_jpeg_grey_and_colour(tmp_path):
    for shape in [(16, 16), (16, 16, 3)]:
        data = np.full(shape, 200, dtype=np.uint8)
        path = tmp_path / f"img{len(shape)}.jpg"
        iio.imwrite(path, data)
        img, info = read_image(path, return_info=True)
        assert img.shape == shape and info.bit_depth == 8
        np.testing.assert_allclose(img, 200 / 255, atol=2 / 255)       # JPEG of a flat image


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_16bit_greyscale_png_and_tiff(tmp_path):
    data = RNG.integers(0, 65536, size=(6, 5), dtype=np.uint16)
    for ext in (".png", ".tif"):
        path = tmp_path / f"g16{ext}"
        iio.imwrite(path, data)
        img, info = read_image(path, return_info=True)
        assert info.bit_depth == 16 and info.mode == "L"
        np.testing.assert_array_equal(img, data / 65535.0)


@pytest.mark.parametrize("channels, colour_type, mode", [(3, 2, "RGB"), (4, 6, "RGBA"),
                                                         (2, 4, "RGBA")])
def test_16bit_colour_png_keeps_16_bits(tmp_path, channels, colour_type, mode):
    # Pillow (imageio's reader) truncates these to 8 bit; read_image must not.
    data = RNG.integers(0, 65536, size=(4, 3, channels), dtype=np.uint16)
    rows = [data[r].astype(">u2").tobytes() for r in range(4)]
    path = tmp_path / "c16.png"
    path.write_bytes(png_bytes(3, 4, 16, colour_type, rows))
    img, info = read_image(path, return_info=True)
    assert info.bit_depth == 16 and info.mode == mode
    expected = data if channels != 2 else data[:, :, [0, 0, 0, 1]]
    np.testing.assert_array_equal(img, expected / 65535.0)


def test_png_decoder_matches_imageio_on_real_files(data_dir):
    # these files use all five PNG scanline filters (none, sub, up, average, Paeth)
    for name in ["Set5/baby.png", "Set5/bird.png", "Set14/bridge.png"]:
        blob = (data_dir / "test" / name).read_bytes()
        np.testing.assert_array_equal(reader._decode_png(blob), iio.imread(data_dir / "test" / name))


def test_palette_images(tmp_path):
    palette = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
    rows = [[0, 1, 2], [2, 1, 0]]
    plain = tmp_path / "p.png"
    plain.write_bytes(png_bytes(3, 2, 8, 3, rows, [(b"PLTE", palette)]))
    img, info = read_image(plain, return_info=True)
    assert info.mode == "RGB" and img.shape == (2, 3, 3)
    np.testing.assert_array_equal(img[0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    transparent = tmp_path / "pt.png"
    transparent.write_bytes(png_bytes(3, 2, 8, 3, rows,
                                      [(b"PLTE", palette), (b"tRNS", bytes([255, 0, 51]))]))
    img, info = read_image(transparent, return_info=True)
    assert info.mode == "RGBA" and img.shape == (2, 3, 4)
    np.testing.assert_array_equal(img[0, :, 3], [1.0, 0.0, 0.2])
    np.testing.assert_array_equal(img[1, 0], [0, 0, 1, 0.2])
    gif = tmp_path / "p.gif"                              # GIF is palette-based by construction
    iio.imwrite(gif, np.repeat(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8), 3, axis=0))
    img, info = read_image(gif, return_info=True)
    assert info.mode == "RGB"
    np.testing.assert_array_equal(img[:, 0], [[1, 0, 0]] * 3)


def test_grey_alpha_becomes_rgba(tmp_path):
    path = tmp_path / "la.png"
    path.write_bytes(png_bytes(2, 1, 8, 4, [[10, 255, 200, 0]]))
    img, info = read_image(path, return_info=True)
    assert info.mode == "RGBA"
    np.testing.assert_array_equal(img * 255, [[[10, 10, 10, 255], [200, 200, 200, 0]]])


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "directory"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200))), None),
    (lambda p: p.write_text("just some text, not an image\n"), None),
    (lambda p: p.write_bytes(b""), None),
])
def test_read_errors_name_the_file(tmp_path, make, reason):
    path = tmp_path / "bad_image.png"
    make(path)
    with pytest.raises(ImageError, match=reason) as err:
        read_image(path)
    assert "bad_image.png" in str(err.value) and "\n" not in str(err.value)


def test_truncated_files_raise(tmp_path, data_dir):
    blob = (data_dir / "test" / "Set5" / "bird.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        read_image(path)
    rows = [RNG.integers(0, 256, 6 * 20, dtype=np.uint8).tobytes() for _ in range(20)]
    full16 = png_bytes(20, 20, 16, 2, rows)                   # read by the 16-bit decoder
    path16 = tmp_path / "cut16.png"
    path16.write_bytes(full16[: len(full16) // 2])
    with pytest.raises(ImageError, match="cut16.png"):
        read_image(path16)


@pytest.mark.parametrize("shape", [(5, 6), (5, 6, 1), (5, 6, 3), (5, 6, 4)])
@pytest.mark.parametrize("bit_depth", [8, 16])
def test_write_round_trip(tmp_path, shape, bit_depth):
    img = RNG.random(shape) * 1.2 - 0.1                       # out-of-range values are clipped
    path = tmp_path / "out.png"
    assert write_image(path, img, bit_depth=bit_depth) == str(path)
    m = 2 ** bit_depth - 1
    ints = np.clip(np.round(img * m), 0, m).astype(np.uint16)
    back, info = read_image(path, return_info=True)
    assert info.bit_depth == bit_depth
    expected = np.squeeze(ints, axis=2) if shape[-1] == 1 else ints
    np.testing.assert_array_equal(back, expected / m)
    ref = iio.imread(path)                                   # an outside decoder agrees
    if bit_depth == 8 or len(shape) == 2 or shape[2] == 1:
        np.testing.assert_array_equal(ref, np.squeeze(ints) if shape[-1] == 1 else ints)
    else:                                                    # Pillow keeps the high byte only
        np.testing.assert_array_equal(ref, ints >> 8)
    assert os.listdir(tmp_path) == ["out.png"]


def test_write_failures_leave_everything_intact(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    write_image(path, np.zeros((3, 3)))
    before = path.read_bytes()
    for kwargs, match in [(dict(image=np.full((3, 3), np.nan)), "NaN"),
                          (dict(image=np.zeros((3, 3, 2))), "shape"),
                          (dict(image=np.zeros((3, 3)), bit_depth=12), "bit_depth")]:
        with pytest.raises(ImageError, match=match):
            write_image(path, **kwargs)
    def failing_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(mio.os, "replace", failing_replace)
    with pytest.raises(ImageError, match="disk full") as err:
        write_image(path, np.ones((3, 3)))
    assert "keep.png" in str(err.value)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.png"]
    with pytest.raises(ImageError, match="does not exist"):
        write_image(tmp_path / "missing_dir" / "x.png", np.zeros((2, 2)))
    with pytest.raises(ImageError, match="must end in one of .png, .tif"):
        write_image(tmp_path / "x.bmp", np.zeros((2, 2)))
    assert os.listdir(tmp_path) == ["keep.png"]


def test_quantize_helpers():
    x = np.array([-0.1, 0.0, 0.5, 1 / 255 * 0.49, 1 / 255 * 0.51, 1.2])
    np.testing.assert_array_equal(to_uint8(x) * 255, [0, 0, 128, 0, 1, 255])
    assert quantize(x.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(quantize(np.array([0.5]), 16), [32768 / 65535])
    with pytest.raises(ValueError, match="bit_depth"):
        quantize(x, 12)
