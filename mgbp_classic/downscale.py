"""Down-scaling, the degradation of the evaluation protocol: MATLAB's bicubic ``imresize`` by ``1/scale``.

``downscale(image, scale)`` is what ``mgbp-classic downscale`` does to each file: for an integer
factor the image is first mod-cropped (its bottom and right cut to multiples of the factor, as the
protocol does), so that the result is exactly ``scale`` times smaller; then MATLAB's anti-aliased
bicubic ``imresize`` with symmetric padding. Up-scaling the result by the same factor and comparing
it with the (mod-cropped) original measures a super-resolution method.
"""
import numpy as np

from ._validate import ParamError, check_array, check_scale
from .metrics import mod_crop as _mod_crop
from .resize import imresize

__all__ = ["downscale"]


def downscale(image, scale, *, mod_crop=True):
    """``imresize(image, 1/scale, 'bicubic')``, after a mod-crop for an integer ``scale``.

    Parameters
    ----------
    image : array_like
        ``(H, W)`` or ``(H, W, C)`` image in [0, 1].
    scale : float
        The factor S > 1 (the output is S times smaller); at most the image's shorter side.
    mod_crop : bool, optional
        For an integer S, first crop the bottom/right so both sides are multiples of S.

    Returns
    -------
    numpy.ndarray
        The smaller image, clipped to [0, 1] (float32 for float32 input, else float64).

    Raises
    ------
    ParamError
        ``scale`` is not a number > 1 or is larger than the image's shorter side.
    """
    scale = check_scale(scale)
    image = check_array(image, "image")
    shortest = min(image.shape[:2])
    if shortest < scale:
        raise ParamError("scale", f"must be at most {shortest} for a {image.shape[0]}×{image.shape[1]} image, "
                                  f"got {scale:g}")
    if mod_crop and scale.is_integer():
        image = _mod_crop(image, int(scale))
    return np.clip(imresize(image, 1.0 / scale, kernel="cubic"), 0.0, 1.0)
