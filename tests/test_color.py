"""RGB <-> YCbCr against MATLAB's rgb2ycbcr / ycbcr2rgb."""
import numpy as np
import pytest

from mgbp_classic.color import rgb2y, rgb2ycbcr, ycbcr2rgb

RNG = np.random.default_rng(601)

# MATLAB R2023a: rgb2ycbcr(uint8(...)) for white, black, red, green, blue, mid-grey
RGB8 = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                 [128, 128, 128]], dtype=np.uint8)
YCC8 = np.array([[235, 128, 128], [16, 128, 128], [81, 90, 240], [145, 54, 34], [41, 240, 110],
                 [126, 128, 128]], dtype=np.uint8)


def test_uint8_matches_matlab():
    out = rgb2ycbcr(RGB8)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, YCC8)
    np.testing.assert_array_equal(rgb2y(RGB8), YCC8[:, 0])


def test_double_formula():
    # Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 1]
    rgb = RNG.random((4, 5, 3))
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    ycc = rgb2ycbcr(rgb)
    np.testing.assert_allclose(ycc[..., 0], (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255,
                               atol=1e-15)
    np.testing.assert_allclose(ycc[..., 1], (128 - 37.797 * r - 74.203 * g + 112 * b) / 255,
                               atol=1e-15)
    np.testing.assert_allclose(ycc[..., 2], (128 + 112 * r - 93.786 * g - 18.214 * b) / 255,
                               atol=1e-15)
    np.testing.assert_allclose(rgb2ycbcr(RGB8 / 255.0) * 255,
                               [[235, 128, 128], [16, 128, 128], [81.481, 90.203, 240],
                                [144.553, 53.797, 34.214], [40.966, 240, 109.786],
                                [125.929412, 128, 128]], atol=1e-6)
    np.testing.assert_array_equal(rgb2y(rgb), ycc[..., 0])


def test_round_trips_and_dtypes():
    rgb = RNG.random((6, 7, 3))
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(rgb)), rgb, atol=1e-13)
    f32 = rgb.astype(np.float32)
    assert rgb2ycbcr(f32).dtype == np.float32 and ycbcr2rgb(f32).dtype == np.float32
    assert rgb2y(f32).dtype == np.float32
    # MATLAB ycbcr2rgb(uint8): white and black come back exactly, red to [254 0 0]
    back = ycbcr2rgb(YCC8)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back[:2], [[255, 255, 255], [0, 0, 0]])
    np.testing.assert_array_equal(back[2], [254, 0, 0])
    assert np.abs(back.astype(int) - RGB8.astype(int)).max() <= 2
    # uint16: the 8-bit values scaled by 257
    out16 = rgb2ycbcr(RGB8.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16
    np.testing.assert_allclose(out16[:2], YCC8[:2].astype(np.uint16) * 257)


def test_saturation_and_errors():
    # out-of-gamut YCbCr saturates in uint8: with the BT.601 inverse
    # R = 1.164(Y-16) + 1.596(Cr-128) = 99.4, G = 1.164(Y-16) - 0.392(Cb-128) - 0.813(Cr-128) = 413,
    # B = 1.164(Y-16) + 2.017(Cb-128) = 52.3 for (Y, Cb, Cr) = (255, 16, 16)
    assert ycbcr2rgb(np.array([255, 16, 16], dtype=np.uint8)).tolist() == [100, 255, 52]
    # doubles are not clipped (as MATLAB)
    assert ycbcr2rgb(np.array([1.0, 0.5, 0.5])).max() > 1
    with pytest.raises(ValueError, match="3 channels"):
        rgb2ycbcr(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="3 channels"):
        ycbcr2rgb(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="dtype"):
        rgb2y(np.array([["a", "b", "c"]]))
