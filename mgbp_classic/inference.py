"""Running the MGBP network on images of any size: reflection padding, overlapping tiles.

The network sees a symmetric (MATLAB-style) reflection of the image around its borders, so that
its zero-padded convolutions never meet an artificial black frame. Large images are cut into
overlapping tiles of the low-resolution input; each tile is upscaled with a margin of real
neighbouring pixels (or reflected ones at the image border) and only its centre is kept, so
memory is bounded by the tile size and the result matches the untiled output up to the influence
of pixels beyond the margin (within 1/255 with the default margin).
"""
from importlib import resources
from pathlib import Path

import numpy as np

from ._validate import ParamError, check_int, check_levels_mu
from .net import MGBPNet
from .nn.engine import Engine

__all__ = ["DEFAULT_MODEL", "default_model_path", "load_model", "upscale_rgb", "DEFAULT_MARGIN", "DEFAULT_TILE"]

DEFAULT_MODEL = "mgbp_x2x4x8.npz"
DEFAULT_MARGIN = 16          # LR pixels of context around each tile (and reflected at borders)
DEFAULT_TILE = 48            # LR tile side (peak memory grows with (tile + 2·margin)² · 4^levels)


def default_model_path():
    """Path of the pretrained model shipped in the package."""
    return str(resources.files("mgbp_classic").joinpath("assets", DEFAULT_MODEL))


def load_model(path=None):
    """Read a model file (default: the shipped pretrained model); returns ``(net, meta)``.

    Every call reads the file and returns a network of its own (a few milliseconds): a caller may
    train or change it without touching anybody else's. To run a model on many images, keep a
    :class:`mgbp_classic.pipeline.runner.NetRunner`.
    """
    return MGBPNet.load(Path(path if path is not None else default_model_path()))


def _run(net, lr, levels, mu, engine=None):
    """lr: (h, w, 3) float → list of (h·2^k, w·2^k, 3) for k = 1..levels (float32, unclipped).

    ``engine``: the context of the pass (a fresh one when None).
    """
    x = np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32)
    return [o[0].transpose(1, 2, 0) for o in net.forward(x, levels=levels, mu=mu, engine=engine)]


def upscale_rgb(net, image, *, levels, mu, tile=None, margin=DEFAULT_MARGIN, progress=None, engine=None):
    """Upscale an RGB image by 2^levels with the network.

    Parameters
    ----------
    net : MGBPNet
    image : ndarray
        (H, W, 3) float in [0, 1].
    levels : int
        Number of 2× levels (output factor 2^levels).
    mu : int
        Back-projection steps (the shipped model is trained with µ = 2).
    tile : int, optional
        Side of the low-resolution tiles; ``None`` processes the image whole (with reflection
        padding ``margin``). Memory grows with ``(tile + 2·margin)²·4^levels``.
    margin : int
        LR pixels of context around every tile/the whole image.
    progress : callable, optional
        Called with ``(done, total)`` after each tile.
    engine : mgbp_classic.nn.Engine, optional
        The engine context of the passes (one per thread); a fresh one, shared by the tiles, when None.

    Returns
    -------
    list of ndarray
        Every level's output, (H·2^k, W·2^k, 3) in the network's dtype (float32 for a trained
        model) clipped to [0, 1], k = 1 … levels.
    """
    levels, mu = check_levels_mu(levels, mu)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ParamError("image", f"must be (H, W, 3), got shape {image.shape}")
    H, W = image.shape[:2]
    m = check_int(margin, "margin", minimum=0)
    tile = check_int(tile, "tile", minimum=1, optional=True)
    padded = np.pad(image, ((m, m), (m, m), (0, 0)), mode="symmetric") if m else image
    th = tw = tile if tile else max(H, W)
    outs = [np.empty((H << k, W << k, 3), net.dtype) for k in range(1, levels + 1)]
    starts = [(y, x) for y in range(0, H, th) for x in range(0, W, tw)]
    engine = Engine() if engine is None else engine                   # one context for every tile
    for n, (y, x) in enumerate(starts, 1):
        h, w = min(th, H - y), min(tw, W - x)
        piece = padded[y:y + h + 2 * m, x:x + w + 2 * m]      # tile plus margin on every side
        res = _run(net, piece, levels, mu, engine)
        for k, r in enumerate(res, 1):
            s = 1 << k
            outs[k - 1][y * s:(y + h) * s, x * s:(x + w) * s] = r[m * s:(m + h) * s, m * s:(m + w) * s]
        if progress is not None:
            progress(n, len(starts))
    for o in outs:
        np.clip(o, 0.0, 1.0, out=o)
    return outs
