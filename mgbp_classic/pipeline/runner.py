"""The learned network made ready to upscale images: one :class:`NetRunner` for every path.

``upscale(method="net")`` (whole images and their tiles), the streamed output of
:func:`mgbp_classic.pipeline.batch.upscale_file` (tile by tile, band by band), the tiles of a Zarr image on a
Dask cluster and the deep-filter explorer all run the network through a runner, so the following is
written once:

* the model is read once per runner (:func:`mgbp_classic.inference.load_model`; the default is the
  model shipped in the package) and belongs to it: nobody else holds that network;
* greyscale goes through the network as three equal channels and comes back as their mean;
* every piece the network sees carries ``margin`` low-resolution pixels of context on each side
  (real neighbours, or a symmetric reflection at the image border), and only its centre is kept;
* colour with an alpha channel is premultiplied by alpha before the network and divided after
  (:func:`mgbp_classic.pipeline.stream.upscale_whole`), alpha itself upscaled by bicubic ``imresize``;
* each thread that runs the network gets its own :class:`~mgbp_classic.nn.Engine` (scratch buffers,
  ReLU mode), kept by the runner for that thread's next piece.
"""
import threading
from pathlib import Path

import numpy as np

from .._validate import check_int
from ..inference import DEFAULT_MARGIN, DEFAULT_TILE, default_model_path, load_model, upscale_rgb
from ..nn.engine import Engine
from .stream import upscale_whole

__all__ = ["NetRunner", "upscale_net"]


class NetRunner:
    """The network of one model file at one µ and margin, ready for images and their pieces.

    Parameters
    ----------
    model : str or os.PathLike, optional
        Model file (default: the pretrained model in the package).
    mu : int
        Back-projection steps per level (the shipped model is trained with µ = 2).
    margin : int, optional
        Low-resolution pixels of context around every piece (:data:`~mgbp_classic.inference.DEFAULT_MARGIN`).

    Attributes
    ----------
    model : str
        The model file's resolved path.
    net : mgbp_classic.net.MGBPNet
        The runner's own network (read it; running it goes through the methods below).
    meta : dict
        The model file's training record.

    Notes
    -----
    One runner may serve several threads at once: each gets its own engine, and the network's
    weights are only read.
    """

    def __init__(self, model=None, *, mu, margin=DEFAULT_MARGIN):
        self.model = str(Path(default_model_path() if model is None else model).resolve())
        self.mu = check_int(mu, "mu", minimum=1)
        self.margin = check_int(margin, "margin", minimum=0)
        self.net, self.meta = load_model(self.model)
        self._threads = threading.local()

    def engine(self):
        """This thread's :class:`~mgbp_classic.nn.Engine` (made on the thread's first piece, then kept)."""
        engine = getattr(self._threads, "engine", None)
        if engine is None:
            engine = self._threads.engine = Engine()
        return engine

    def levels(self, image, *, levels, tile=DEFAULT_TILE, progress=None):
        """Every level ``[2×, …, 2**levels ×]`` of a greyscale ``(H, W)`` or RGB ``(H, W, 3)`` image,
        clipped to [0, 1], float32.

        ``tile``: the side of the low-resolution tiles (``None``: the whole image at once), each
        with the runner's margin of context (reflected at the image border); ``progress(done,
        total)`` after each tile.
        """
        return self._run(image, levels, tile=tile, margin=self.margin, progress=progress)

    def tile(self, piece, levels):
        """The last level of a piece that carries its margin already, ``(h + 2m, w + 2m)`` or
        ``(h + 2m, w + 2m, 3)`` (premultiplied colour), clipped to [0, 1]: the tile function of
        :func:`mgbp_classic.pipeline.stream.upscale_bands`."""
        return self._run(piece, levels, tile=None, margin=0)[-1]

    def block(self, block, levels):
        """The upscaled centre ``(h·s, w·s, C)`` of an overlapped block ``(h + 2m, w + 2m, C)``, C in
        1–4, float in [0, 1] (``s = 2**levels``, ``m`` the runner's margin): colour premultiplied by
        alpha around the network and divided after, alpha by bicubic ``imresize``, exactly as
        :func:`mgbp_classic.pipeline.upscale.upscale` treats a whole image (its function is :meth:`tile`'s)."""
        m, s = self.margin, 2 ** levels
        out = upscale_whole(block, self._pieces, levels=levels, name="the network")
        return out[m * s:out.shape[0] - m * s, m * s:out.shape[1] - m * s]

    def _pieces(self, piece, *, levels):
        return self._run(piece, levels, tile=None, margin=0)

    def _run(self, image, levels, *, tile, margin, progress=None):
        grey = image.ndim == 2
        rgb = np.repeat(image[:, :, None], 3, axis=2) if grey else image       # the network sees colour
        outs = upscale_rgb(self.net, rgb, levels=levels, mu=self.mu, tile=tile, margin=margin, progress=progress,
                           engine=self.engine())
        return [o.mean(axis=2) for o in outs] if grey else outs


def upscale_net(image, *, levels, mu, model=None, tile=DEFAULT_TILE, margin=DEFAULT_MARGIN, progress=None):
    """The learned network as a method of :func:`mgbp_classic.pipeline.upscale.upscale`: a greyscale
    ``(H, W)`` or RGB ``(H, W, 3)`` image in, every level out (a :class:`NetRunner` for the call).

    Parameters
    ----------
    image : ndarray
    levels, mu : int
    model : str or os.PathLike, optional
        Model file (default: the pretrained model in the package).
    tile : int or None, optional
        Side of the low-resolution tiles (``None``: the whole image at once).
    margin : int, optional
        Low-resolution pixels of context around every tile (reflected at the image border).
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    list of ndarray
    """
    return NetRunner(model, mu=mu, margin=margin).levels(image, levels=levels, tile=tile, progress=progress)
