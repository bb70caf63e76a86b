"""PSNR and SSIM under the standard super-resolution evaluation protocol.

The protocol (``../shared/data/README.md``, as in published tables and BasicSR):

1. HR is mod-cropped to a multiple of the scale ``s`` (:func:`mod_crop`);
2. LR = MATLAB ``imresize(HR, 1/s, 'bicubic')`` rounded to 8 bit (:func:`make_lr`);
3. SR = method(LR) rounded to 8 bit;
4. PSNR/SSIM on the luma Y of MATLAB ``rgb2ycbcr`` computed on the 8-bit images (so Y is an
   8-bit integer in [16, 235]), after cropping ``s`` pixels from every border; greyscale images
   are compared directly. SSIM uses the 11×11 Gaussian window (σ = 1.5), K1 = 0.01,
   K2 = 0.03 and 'valid' filtering, on the [0, 255] scale (Wang et al. 2004, ``ssim_index.m``).

:func:`protocol_scores` runs steps 3–4 for one image. :func:`rms` is the norm of every residual
history the solvers record.
"""
import numpy as np

from .color import rgb2y
from ._validate import ParamError, check_int
from .imaging.io import quantize
from .resize import imresize

__all__ = ["psnr", "psnr_rgb", "ssim", "mod_crop", "make_lr", "protocol_scores", "rms"]


def rms(a):
    """Root mean square of an array over all pixels and channels (float64)."""
    a = np.asarray(a)
    return float(np.sqrt(np.mean(np.square(a, dtype=np.float64)))) if a.size else 0.0


def _pair(reference, test):
    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise ParamError("test", f"reference and test must have the same shape, got {ref.shape} and "
                         f"{tst.shape}", subject="")
    if ref.ndim == 3 and ref.shape[2] == 1:
        ref, tst = ref[:, :, 0], tst[:, :, 0]
    if not (ref.ndim == 2 or (ref.ndim == 3 and ref.shape[2] == 3)):
        raise ParamError("reference", f"images must be (H, W), (H, W, 1) or (H, W, 3), got shape {ref.shape}",
                         subject="")
    return ref, tst


def _crop(img, crop_border):
    if not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ParamError("crop_border", f"must be a non-negative integer, got {crop_border!r}")
    if crop_border == 0:
        return img
    if 2 * crop_border >= min(img.shape[:2]):
        raise ParamError("crop_border", f"crop_border={crop_border} leaves nothing of a {img.shape[0]}x"
                         f"{img.shape[1]} image", subject="")
    return img[crop_border:-crop_border, crop_border:-crop_border]


def _prepare(reference, test, crop_border, y_channel, data_range):
    """Both images on the [0, 255] scale (Y channel on the 8-bit grid when ``y_channel``)."""
    if not np.isfinite(data_range) or data_range <= 0:
        raise ParamError("data_range", f"must be positive, got {data_range!r}")
    ref, tst = _pair(reference, test)
    if y_channel:
        ref = quantize(ref / data_range, 8)
        tst = quantize(tst / data_range, 8)
        if ref.ndim == 3:
            ref = rgb2y(np.round(ref * 255).astype(np.uint8)).astype(np.float64)
            tst = rgb2y(np.round(tst * 255).astype(np.uint8)).astype(np.float64)
        else:
            ref, tst = np.round(ref * 255), np.round(tst * 255)
    else:
        ref, tst = ref * (255.0 / data_range), tst * (255.0 / data_range)
    return _crop(ref, crop_border), _crop(tst, crop_border)


def _psnr255(ref, tst):
    mse = np.mean((ref - tst) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def psnr(reference, test, *, crop_border=0, y_channel=True, data_range=1.0):
    """Peak signal-to-noise ratio, in dB.

    Parameters
    ----------
    reference, test : array_like
        Images of equal shape ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` with values in
        ``[0, data_range]``.
    crop_border : int, optional
        Pixels removed from every border before comparing (the protocol uses the scale).
    y_channel : bool, optional
        Protocol mode (default): both images are rounded to 8 bit, RGB images are converted to
        the 8-bit luma of MATLAB ``rgb2ycbcr``; greyscale images are compared directly.
        With ``False``, all channels are compared as given.
    data_range : float, optional
        Peak value of the inputs (1.0 for images in [0, 1]).

    Returns
    -------
    float
        ``10 log10(peak² / MSE)``; ``inf`` for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> round(psnr(np.zeros((4, 4)), np.full((4, 4), 1 / 255), y_channel=False), 4)
    48.1308
    """
    ref, tst = _prepare(reference, test, crop_border, y_channel, data_range)
    return _psnr255(ref, tst)


def psnr_rgb(reference, test, *, crop_border=0, data_range=1.0):
    """Plain PSNR over all channels (no colour conversion, no rounding), in dB."""
    return psnr(reference, test, crop_border=crop_border, y_channel=False, data_range=data_range)


def _gaussian_window(size=11, sigma=1.5):
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return w / w.sum()


def _filter_valid(img, w):
    """Separable 'valid' correlation of a 2-D image with the 1-D window ``w`` on both axes."""
    n = w.size
    h, wd = img.shape[0] - n + 1, img.shape[1] - n + 1
    rows = sum(w[t] * img[t:t + h] for t in range(n))
    return sum(w[t] * rows[:, t:t + wd] for t in range(n))


def _ssim_single(a, b):
    """Mean SSIM of two 2-D images on the [0, 255] scale (ssim_index.m / BasicSR ``_ssim``)."""
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    w = _gaussian_window()
    mu1, mu2 = _filter_valid(a, w), _filter_valid(b, w)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a * a, w) - mu1_sq
    s2 = _filter_valid(b * b, w) - mu2_sq
    s12 = _filter_valid(a * b, w) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


def ssim(reference, test, *, crop_border=0, y_channel=True, data_range=1.0):
    """Structural similarity (Wang et al. 2004) with the standard Gaussian window.

    Parameters
    ----------
    reference, test, crop_border, y_channel, data_range
        As in :func:`psnr`. Without ``y_channel``, RGB SSIM is the mean over the channels.

    Returns
    -------
    float
        Mean of the SSIM map over the 'valid' region (the window never leaves the image).

    Notes
    -----
    ``SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with local
    statistics from an 11×11 Gaussian window (σ = 1.5), ``C1 = (0.01·255)²``,
    ``C2 = (0.03·255)²``, images on the [0, 255] scale; as MATLAB ``ssim_index.m`` and
    BasicSR ``calculate_ssim``.
    """
    ref, tst = _prepare(reference, test, crop_border, y_channel, data_range)
    if min(ref.shape[:2]) < 11:
        raise ParamError("reference", f"SSIM needs images of at least 11x11 pixels after cropping, got "
                         f"{ref.shape[0]}x{ref.shape[1]}", subject="")
    if ref.ndim == 2:
        return _ssim_single(ref, tst)
    return float(np.mean([_ssim_single(ref[..., c], tst[..., c]) for c in range(ref.shape[2])]))


def mod_crop(image, scale):
    """Crop the bottom/right so height and width are multiples of ``scale`` (protocol step 1)."""
    scale = check_int(scale, "scale", minimum=1)
    img = np.asarray(image)
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    if h == 0 or w == 0:
        raise ParamError("scale", f"image of shape {img.shape} is smaller than scale={scale}", subject="")
    return img[:h, :w]


def make_lr(hr, scale):
    """Protocol step 2: ``round8(imresize(mod_crop(hr), 1/scale, bicubic))``.

    Parameters
    ----------
    hr : array_like
        HR image in [0, 1], ``(H, W)`` or ``(H, W, C)``.
    scale : int
        Integer scale factor.

    Returns
    -------
    numpy.ndarray
        LR image of shape ``(H // scale, W // scale[, C])`` on the 8-bit grid (float64).
    """
    hr = mod_crop(hr, scale)
    return quantize(imresize(np.asarray(hr, dtype=np.float64), 1.0 / scale), 8)


def protocol_scores(hr, sr, scale):
    """Protocol steps 3–4 for one image: ``(psnr, ssim)`` of ``round8(sr)`` against ``hr``.

    Parameters
    ----------
    hr : array_like
        HR image in [0, 1]; it is mod-cropped here.
    sr : array_like
        Super-resolved image, same shape as ``mod_crop(hr, scale)``.
    scale : int
        The scale: also the border crop.

    Returns
    -------
    (float, float)
        PSNR (dB) and SSIM on the Y channel with ``crop_border=scale``.
    """
    hr = mod_crop(hr, scale)
    sr = quantize(sr, 8)
    return (psnr(hr, sr, crop_border=scale, y_channel=True),
            ssim(hr, sr, crop_border=scale, y_channel=True))
