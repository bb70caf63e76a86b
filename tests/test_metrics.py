"""PSNR/SSIM and the evaluation protocol, pinned to the published bicubic table."""
import math

import numpy as np
import pytest

from mgbp_classic.color import rgb2y
from mgbp_classic.imaging.io import read_image
from mgbp_classic.metrics import make_lr, mod_crop, protocol_scores, psnr, psnr_rgb, ssim
from mgbp_classic.resize import imresize

RNG = np.random.default_rng(2004)

# ../shared/data/README.md, bicubic under the standard protocol (two decimals / three for SSIM)
SET5_TABLE = {2: (33.66, 0.930), 4: (28.42, 0.810), 8: (24.40, 0.658)}


def test_set5_bicubic_table(data_dir):
    images = [read_image(p) for p in sorted((data_dir / "test" / "Set5").glob("*.png"))]
    assert len(images) == 5
    for scale, (table_psnr, table_ssim) in SET5_TABLE.items():
        scores = []
        for hr in images:
            hr = mod_crop(hr, scale)
            sr = imresize(make_lr(hr, scale), scale)
            scores.append(protocol_scores(hr, sr, scale))
        mean_psnr, mean_ssim = np.mean(scores, axis=0)
        # The table prints 2 decimals, i.e. [x - 0.005, x + 0.005); allow 0.01 dB beyond that.
        # (Measured: 33.649 / 0.9295, 28.419 / 0.8102, 24.390 / 0.6572.)
        assert abs(mean_psnr - table_psnr) <= 0.015, (scale, mean_psnr)
        assert abs(mean_ssim - table_ssim) <= 0.001, (scale, mean_ssim)


def test_psnr_hand_values():
    a = np.zeros((4, 4))
    b = np.full((4, 4), 1 / 255)
    # one grey level everywhere: MSE = 1 on the 255 scale -> 20 log10(255)
    assert psnr(a, b, y_channel=False) == pytest.approx(20 * math.log10(255))
    assert psnr(a, b) == pytest.approx(20 * math.log10(255))        # greyscale compared directly
    assert psnr(a, a) == math.inf
    assert psnr(a * 255, b * 255, y_channel=False, data_range=255) == pytest.approx(48.1308036)
    c = b.copy()
    c[0, 0] = 1.0                                                   # only the border differs
    assert psnr(b, c, crop_border=1) == math.inf


def test_psnr_y_channel_uses_8bit_luma():
    ref = RNG.random((10, 12, 3))
    test = np.clip(ref + RNG.normal(0, 0.05, ref.shape), 0, 1)
    y_ref = rgb2y(np.round(ref * 255).astype(np.uint8)).astype(float)   # MATLAB uint8 rgb2ycbcr
    y_tst = rgb2y(np.round(test * 255).astype(np.uint8)).astype(float)
    mse = np.mean((y_ref[2:-2, 2:-2] - y_tst[2:-2, 2:-2]) ** 2)
    assert psnr(ref, test, crop_border=2) == pytest.approx(10 * math.log10(255 ** 2 / mse))
    assert psnr_rgb(ref, test) == pytest.approx(10 * math.log10(1 / np.mean((ref - test) ** 2)))


def reference_ssim(a, b):
    """SSIM on the 255 scale, one 11x11 window at a time (Wang et al. 2004, ssim_index.m)."""
    g = np.array([[math.exp(-((i - 5) ** 2 + (j - 5) ** 2) / (2 * 1.5 ** 2)) for j in range(11)]
                  for i in range(11)])
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            wa, wb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            mu_a, mu_b = np.sum(g * wa), np.sum(g * wb)
            var_a = np.sum(g * wa * wa) - mu_a ** 2
            var_b = np.sum(g * wb * wb) - mu_b ** 2
            cov = np.sum(g * wa * wb) - mu_a * mu_b
            values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                          / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    return np.mean(values)


def test_ssim_against_window_by_window_reference():
    a = np.round(RNG.random((15, 17)) * 255) / 255
    b = np.clip(np.round((a + RNG.normal(0, 0.1, a.shape)) * 255) / 255, 0, 1)
    assert ssim(a, b) == pytest.approx(reference_ssim(a * 255, b * 255), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0)
    rgb = RNG.random((16, 16, 3))
    rgb2 = np.clip(rgb + 0.05, 0, 1)
    y1 = rgb2y(np.round(rgb * 255).astype(np.uint8)).astype(float)
    y2 = rgb2y(np.round(rgb2 * 255).astype(np.uint8)).astype(float)
    assert ssim(rgb, rgb2) == pytest.approx(reference_ssim(y1, y2), abs=1e-12)
    per_channel = np.mean([reference_ssim(rgb[..., c] * 255, rgb2[..., c] * 255) for c in range(3)])
    assert ssim(rgb, rgb2, y_channel=False) == pytest.approx(per_channel, abs=1e-12)


def test_mod_crop_and_make_lr():
    hr = RNG.random((31, 22, 3))
    assert mod_crop(hr, 4).shape == (28, 20, 3)
    lr = make_lr(hr, 4)
    assert lr.shape == (7, 5, 3)
    np.testing.assert_array_equal(lr * 255, np.round(lr * 255))            # on the 8-bit grid
    np.testing.assert_allclose(lr, np.clip(imresize(hr[:28, :20], 0.25), 0, 1), atol=0.5 / 255)
    sr = imresize(lr, 4)
    p, s = protocol_scores(hr, sr, 4)
    assert p == pytest.approx(psnr(hr[:28, :20], np.round(np.clip(sr, 0, 1) * 255) / 255,
                                   crop_border=4))
    assert 0 < s < 1


@pytest.mark.parametrize("call, match", [
    (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 5))), "same shape"),
    (lambda: psnr(np.zeros((4, 4, 2)), np.zeros((4, 4, 2))), "images must be"),
    (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 4)), crop_border=2), "crop_border=2"),
    (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 4)), crop_border=-1), "crop_border must"),
    (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 4)), data_range=0), "data_range"),
    (lambda: ssim(np.zeros((8, 8)), np.zeros((8, 8))), "at least 11x11"),
    (lambda: mod_crop(np.zeros((4, 4)), 0), "scale must be"),
    (lambda: mod_crop(np.zeros((3, 8)), 4), "smaller than scale"),
])
def test_metric_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
