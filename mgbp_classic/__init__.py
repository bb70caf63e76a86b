"""mgbp-classic: Multi-Grid Back-Projection super-resolution on the CPU.

Implements "Multigrid Backprojection Super-Resolution and Deep Filter Visualization"
(Navarrete Michelini, Liu, Zhu, AAAI 2019): the classic signal-processing core (MATLAB-compatible
bicubic resampling, the image-formation operators, Iterative Back-Projection and the multi-level
MGBP of Algorithm 1), its convergence analysis, a learned MGBP network written by hand in Numba,
and the deep-filter visualisation of Theorem 1.
"""
from importlib import resources as _resources

from .exceptions import ConvergenceWarning, ImageError, ModelFileError, MultiFrameWarning, TrainingError

__version__ = "0.1.0"

__all__ = ["ConvergenceWarning", "ImageError", "ModelFileError", "MultiFrameWarning", "TrainingError",
           "sample_image_path", "__version__"]


def sample_image_path():
    """Path of the small sample image shipped with the package (a 72×96 RGB crop).

    Returns
    -------
    str
        Absolute path of ``sample_gulls.png``; it is a crop of a BSDS500 *training* image, so
        it never overlaps the evaluation sets.
    """
    return str(_resources.files(__name__).joinpath("assets", "sample_gulls.png"))
