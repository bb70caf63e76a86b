"""What the labs share: the package's names they use, the images, the quick switch.

Every lab notebook and the grader import the package through this file only, so that it is the one
place to change if a module of the package moves. The labs use the classic core (``resize``,
``recursion``, ``multigrid``, ``convergence``, ``metrics``) and the network (``nn``, ``net``,
``deepfilter``); images are read with imageio, not with the package's reader.

``MGBP_LAB_QUICK=1`` makes the labs' long cells (the training run of lab 4) run a few steps only;
the grader and the tests set it. ``MGBP_DATA=DIR`` reads the image sets from ``DIR`` instead of
``../shared/data`` (``docs/data.md``); without them the labs use the bundled sample image.
"""
import os
from pathlib import Path

import numpy as np

import mgbp_classic
from mgbp_classic import nn  # noqa: F401  (re-exported for the labs)
from mgbp_classic.convergence import ibp_rate  # noqa: F401
from mgbp_classic.deepfilter import LUMA_WEIGHTS, FrozenNetwork  # noqa: F401
from mgbp_classic.metrics import make_lr, protocol_scores  # noqa: F401
from mgbp_classic.multigrid import mgbp as library_mgbp  # noqa: F401
from mgbp_classic.net import MGBPNet, NetConfig  # noqa: F401
from mgbp_classic.recursion import ClassicOperators, TracingOperators  # noqa: F401
from mgbp_classic.recursion import back_project as library_back_project  # noqa: F401
from mgbp_classic.resize import Downscale, Upscale, imresize  # noqa: F401

QUICK = os.environ.get("MGBP_LAB_QUICK", "") not in ("", "0")
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGBP_DATA") or ROOT.parent / "shared" / "data")


def read_rgb(path):
    """An image file as float64 RGB in [0, 1], (H, W, 3) (grey is repeated, alpha dropped)."""
    import imageio.v3 as iio
    a = np.asarray(iio.imread(path))
    scale = 65535.0 if a.dtype == np.uint16 else 255.0
    a = a.astype(np.float64) / scale
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return a[:, :, :3]


def sample_image():
    """The package's bundled 72 × 96 sample (a crop of a BSDS500 *training* image), float64 RGB."""
    return read_rgb(mgbp_classic.sample_image_path())


def training_images(limit=None):
    """The T91 training images if they are there (``DATA/train/T91``), else ``None``."""
    folder = DATA / "train" / "T91"
    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not files:
        return None
    return [read_rgb(f) for f in files[:limit]]


def shipped_model():
    """The pretrained network shipped in the package (float32)."""
    from mgbp_classic.inference import load_model
    return load_model()[0]
