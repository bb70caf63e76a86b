"""mgbp-classic: Multi-Grid Back-Projection super-resolution on the CPU.

Implements "Multigrid Backprojection Super-Resolution and Deep Filter Visualization"
(Navarrete Michelini, Liu, Zhu, AAAI 2019): the classic signal-processing core (MATLAB-compatible
bicubic resampling, the image-formation operators, Iterative Back-Projection and the multi-level
MGBP of Algorithm 1), its convergence analysis, a learned MGBP network written by hand in Numba,
and the deep-filter visualisation of Theorem 1.
"""
from importlib import import_module as _import_module
from importlib import resources as _resources
from types import MappingProxyType as _MappingProxyType

from .exceptions import ConvergenceWarning, ImageError, ModelFileError, MultiFrameWarning, ParamError, TrainingError

__version__ = "0.1.0"

#: The public calls, loaded from their rooms when first used (importing the package loads nothing else).
_PUBLIC = _MappingProxyType({
    "upscale": "pipeline.upscale", "evaluate_image": "pipeline.upscale", "register_method": "pipeline.upscale",
    "upscale_file": "pipeline.batch", "downscale": "pipeline.downscale", "NetRunner": "pipeline.runner",
    "read_image": "imaging.io", "write_image": "imaging.io"})

__all__ = ["ConvergenceWarning", "ImageError", "ModelFileError", "MultiFrameWarning", "ParamError", "TrainingError",
           "sample_image_path", "__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(_import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sample_image_path():
    """Path of the small sample image shipped with the package (a 72×96 RGB crop).

    Returns
    -------
    str
        Absolute path of ``sample_gulls.png``; it is a crop of a BSDS500 *training* image, so
        it never overlaps the evaluation sets.
    """
    return str(_resources.files(__name__).joinpath("assets", "sample_gulls.png"))
