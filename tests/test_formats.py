"""Writing PNG/TIFF (8/16-bit), JPEG and WebP; ICC profile and EXIF carried; EXIF orientation applied."""
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from mgbp_classic.exceptions import ImageError
from mgbp_classic.imaging.formats import ImageWriter
from mgbp_classic.imaging.io import read_image, write_image
from mgbp_classic.imaging.metadata import apply_orientation, read_metadata

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def smooth(h, w, c=3, seed=0):
    """A smooth colour image (lossy codecs keep it within a few levels)."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    phases = np.random.default_rng(seed).random(c) * 6
    return np.stack([0.5 + 0.4 * np.sin(3 * xx + 2 * yy + p) for p in phases], axis=2)


def exif_block(orientation, width, height):
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[0x010F] = "TestCam"
    ex[0x0110] = "Model 7"
    sub = {0x9003: "2024:05:06 07:08:09", 0xA002: width, 0xA003: height, 0x829A: (1, 250)}
    ex[0x8769] = sub
    return ex


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_lossless_formats_keep_16_bit(tmp_path, ext, channels):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, size=(9, 13, channels)).astype(np.float64) / 65535
    path = tmp_path / f"a{ext}"
    write_image(path, image[..., 0] if channels == 1 else image, bit_depth=16)
    back, info = read_image(path, return_info=True)
    assert info.bit_depth == 16
    np.testing.assert_array_equal(np.round(back.reshape(image.shape) * 65535), np.round(image * 65535))
    with Image.open(path) as im:                                      # an outside decoder agrees on the size
        assert im.size == (13, 9)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_lossless_formats_8_bit_exact(tmp_path, ext):
    image = np.random.default_rng(2).integers(0, 256, size=(11, 7, 4)) / 255.0
    path = tmp_path / f"a{ext}"
    write_image(path, image)
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGBA")), np.round(image * 255).astype(np.uint8))


@pytest.mark.parametrize("ext,fmt", [(".jpg", "JPEG"), (".webp", "WEBP")])
def test_lossy_formats_close_and_quality_matters(tmp_path, ext, fmt):
    image = smooth(64, 80)
    sizes = {}
    for q in (30, 95):
        path = tmp_path / f"q{q}{ext}"
        write_image(path, image, quality=q, bit_depth=16)              # 16 asked: written 8-bit
        with Image.open(path) as im:
            assert im.format == fmt and im.mode == "RGB"
            back = np.asarray(im) / 255.0
        sizes[q] = path.stat().st_size
        assert np.abs(back - image).mean() < (0.02 if q == 95 else 0.05)
    assert sizes[95] > sizes[30]


def test_format_option_overrides_extension(tmp_path):
    path = tmp_path / "out.img"
    write_image(path, smooth(8, 8), format="jpeg")
    with Image.open(path) as im:
        assert im.format == "JPEG"


@pytest.mark.parametrize("kwargs,message", [
    ({"format": "gif"}, "format must be one of png, tiff, jpeg, webp"),
    ({"quality": 101, "format": "jpeg"}, "quality must be an integer 1..100"),
    ({"quality": 80, "format": "png"}, "quality applies to JPEG and WebP only"),
])
def test_bad_format_options(tmp_path, kwargs, message):
    with pytest.raises(ImageError, match=message):
        write_image(tmp_path / "a.png", smooth(4, 4), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_and_alpha_in_jpeg_refused(tmp_path):
    with pytest.raises(ImageError, match="the name must end in one of"):
        write_image(tmp_path / "a.bmp", smooth(4, 4))
    with pytest.raises(ImageError, match="JPEG has no alpha channel"):
        write_image(tmp_path / "a.jpg", smooth(4, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_writer_streams_bands_and_leaves_nothing_on_failure(tmp_path):
    image = np.random.default_rng(3).random((50, 9, 3))
    for ext in (".png", ".tif"):
        path = tmp_path / f"s{ext}"
        with ImageWriter(path, height=50, width=9, channels=3, bit_depth=16) as w:
            for r in range(0, 50, 7):
                w.write(image[r:r + 7])
        np.testing.assert_allclose(read_image(path), image, atol=0.5 / 65535 + 1e-12)
    with pytest.raises(ImageError, match="30 of 50 rows given"):
        with ImageWriter(tmp_path / "cut.png", height=50, width=9, channels=3) as w:
            w.write(image[:30])
    with pytest.raises(RuntimeError):
        with ImageWriter(tmp_path / "boom.tif", height=50, width=9, channels=3) as w:
            w.write(image[:10])
            raise RuntimeError("producer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png", "s.tif"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation):
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    im = Image.fromarray(pixels)
    ex = im.getexif()
    ex[0x0112] = orientation
    im.info["exif"] = ex.tobytes()
    im = Image.open(_roundtrip_png(im, ex))
    expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(apply_orientation(pixels, orientation), expected)


def _roundtrip_png(im, ex):
    import io
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=ex.tobytes())
    buf.seek(0)
    return buf


def test_rotated_jpeg_with_icc_and_exif_comes_out_upright_with_metadata(tmp_path):
    """A phone photo: stored 40 wide x 24 high with orientation 6 (view rotated 90° clockwise)."""
    stored = np.zeros((24, 40, 3), np.uint8)
    stored[:, :20] = (200, 40, 40)                                     # left half red, right half blue
    stored[:, 20:] = (40, 40, 200)
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, quality=95, icc_profile=ICC, exif=exif_block(6, 40, 24).tobytes())

    image, info = read_image(src, return_info=True)
    assert image.shape == (40, 24, 3)                                  # upright: 24 wide, 40 high
    assert image[5, 12, 0] > 0.6 and image[35, 12, 2] > 0.6           # red on top, blue below
    meta = info.metadata
    assert meta.orientation == 6 and meta.icc_profile == ICC

    for ext in (".jpg", ".png", ".tif", ".webp"):
        out = tmp_path / f"out{ext}"
        big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)        # (80, 48, 3)
        write_image(out, big, metadata=meta)
        with Image.open(out) as im:
            assert im.size == (48, 80), ext
            assert im.info.get("icc_profile") == ICC, ext
            ex = im.getexif()
            assert ex.get(0x0112) == 1, ext                            # orientation reset
            assert ex.get(0x010F) == "TestCam" and ex.get(0x0110) == "Model 7", ext
            sub = ex.get_ifd(0x8769)
            assert sub.get(0x9003) == "2024:05:06 07:08:09", ext
            assert (sub.get(0xA002), sub.get(0xA003)) == (48, 80), ext  # pixel dimensions updated
            upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        assert upright[10, 24, 0] > 150 and upright[70, 24, 2] > 150, ext  # still upright for viewers
        assert read_metadata(out).orientation == 1


def test_tiff_input_metadata_keeps_no_layout_tags(tmp_path):
    src = tmp_path / "in.tif"
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(src, exif=exif_block(1, 6, 5).tobytes(), icc_profile=ICC)
    meta = read_metadata(src)
    out = tmp_path / "out.tif"
    write_image(out, np.zeros((10, 12, 3)), metadata=meta)
    with Image.open(out) as im:
        assert im.size == (12, 10) and im.getexif().get(0x010F) == "TestCam"
        assert im.info.get("icc_profile") == ICC


def test_no_metadata_without_a_record(tmp_path):
    out = tmp_path / "out.jpg"
    write_image(out, smooth(8, 8))
    meta = read_metadata(out)
    assert meta.icc_profile is None and meta.exif is None and meta.orientation == 1
