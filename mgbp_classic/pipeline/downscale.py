"""Down-scaling, the degradation of the evaluation protocol: MATLAB's bicubic ``imresize`` by ``1/scale``.

``downscale(image, scale)`` is what ``mgbp-classic downscale`` does to each file: for an integer
factor the image is first mod-cropped (its bottom and right cut to multiples of the factor, as the
protocol does), so that the result is exactly ``scale`` times smaller; then MATLAB's anti-aliased
bicubic ``imresize`` with symmetric padding. Up-scaling the result by the same factor and comparing
it with the (mod-cropped) original measures a super-resolution method.

:class:`Downscale` is the same for the files of a batch: the outputs are planned by
:func:`mgbp_classic.pipeline.batch.plan_files` and written by :func:`mgbp_classic.pipeline.batch.run_batch`, under the
rules of every command that writes images.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validate import ParamError, check_array, check_scale
from ..imaging.io import read_image, write_image
from ..metrics import mod_crop as _mod_crop
from ..resize import imresize

__all__ = ["Downscale", "downscale"]


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


@dataclass(frozen=True)
class Downscale:
    """Down-scaling as a batch's work (:func:`mgbp_classic.pipeline.batch.run_batch`): each file by ``scale``,
    written as PNG with the input's bit depth (8 or 16).

    Parameters
    ----------
    scale : float
        The factor S > 1.
    mod_crop : bool, optional
        As in :func:`downscale`.
    """

    scale: float
    mod_crop: bool = True

    def __post_init__(self):
        object.__setattr__(self, "scale", check_scale(self.scale))

    def name(self, source):
        """``<stem>_down<S>.png``."""
        return f"{Path(source).stem}_down{self.scale:g}.png"

    def run(self, job, *, progress=None):
        """Down-scale one job's file into its target; ``(path, (rows, cols))``."""
        image, info = read_image(job.source.path, return_info=True)
        small = downscale(image, self.scale, mod_crop=self.mod_crop)
        if job.make_parent:
            job.target.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.target, small, bit_depth=16 if info.bit_depth == 16 else 8)
        return job.target, small.shape[:2]
