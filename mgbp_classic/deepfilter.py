"""Deep filter visualisation: the network as an exact space-variant filter (Theorem 1 of the paper).

Run the network once and record the gain of every ReLU, ``G(z) = relu(z) / z`` (1 where z = 0),
through the whole Algorithm-1 recursion. Freezing those gains (each ReLU replaced by the fixed
multiplication ``G ⊙ z``) leaves convolutions, biases, concatenations, additions and the classic
upscaler: an affine map of the input,

    Y = F X + R,

exact at the input it was recorded on (``G(z) z = relu(z)``). ``R`` (the *effective residual*) is
the frozen network on ``X = 0``; a column of ``F`` is the frozen response to a δ at one input
pixel and channel, minus ``R``; a row of ``F`` (the *effective filter* that makes one output
pixel) is one backward pass of the frozen network from that output pixel.

Two levels of the API:

:class:`FrozenNetwork`
    Theorem 1 for the network on exactly the array it is given (zero-padded convolutions at its
    borders): residual, columns, rows, the bias-free linear part ``F X``.
:class:`DeepFilter`
    Theorem 1 for the network *as inference runs it* (:func:`mgbp_classic.inference.upscale_rgb`
    with ``tile=None``): the image is extended by symmetric reflection of ``margin`` LR pixels, the
    padded image goes through the network and the output is cropped. The filter of the padded
    input is folded back onto the real pixels (the adjoint of the padding), so ``F`` maps the
    image itself, and ``F X + R`` is the cropped, unclipped network output.

Colour. The network maps 3 input channels to 3 output channels, so the filter of one output pixel
is a 3×3 grid of 2-D filters ``F[c_out, c_in]`` (``color=True``). The *luma view* summarises it
by one 2-D filter: the response of the output luma ``Y' = 0.299 R + 0.587 G + 0.114 B`` to a grey
δ at an input pixel (the same δ in R, G and B, which changes the input luma by δ and leaves its
chroma unchanged), i.e. ``Σ_{c_out} w_{c_out} Σ_{c_in} F[c_out, c_in]``. It costs one backward pass
per pixel (the colour grid costs three) and is exactly the filter a channel-wise upscaler such as
bicubic shows, so the two can be compared directly.

References
----------
P. Navarrete Michelini, H. Liu, D. Zhu, "Multigrid Backprojection Super-Resolution and Deep Filter
Visualization", AAAI 2019 (Definition 1, Theorem 1, Figures 3, 7 and 9).
"""
from functools import lru_cache
import numbers

import numpy as np

from ._validate import ParamError, check_image, check_int, check_levels_mu, check_pixels
from .color import LUMA_WEIGHTS
from .inference import DEFAULT_MARGIN
from .net import MGBPNet, NetConfig
from .nn.engine import Engine
from .nn.graph import Graph
from .resize import imresize
from .windowed import GainGraph, window_row

__all__ = ["LUMA_WEIGHTS", "FrozenNetwork", "DeepFilter", "bicubic_filter", "support_radius"]


# ----------------------------------------------------------------------------------------------
# validation and layout helpers
# ----------------------------------------------------------------------------------------------
def _check_net(net):
    if not isinstance(net, MGBPNet):
        raise TypeError(f"net must be an MGBPNet, got {type(net).__name__}")


def _to_tensor(image, dtype):
    """(H, W, C) → (1, C, H, W) contiguous in the network's dtype."""
    return np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1)[None], dtype=dtype)


def _to_image(tensor):
    """(1, C, H, W) → (H, W, C)."""
    return np.ascontiguousarray(tensor[0].transpose(1, 2, 0))


def _check_weights(weights, k, channels):
    """Output-channel weights of each row: (C,) for all, or (K, C) → (K, C) float64."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape == (channels,):
        w = np.broadcast_to(w, (k, channels))
    if w.shape != (k, channels) or not np.all(np.isfinite(w)):
        raise ParamError("weights", f"must be finite, of shape ({channels},) or ({k}, {channels}), "
                         f"got shape {w.shape}")
    return w


# ----------------------------------------------------------------------------------------------
# exact receptive field of the recursion (for batching rows whose supports do not overlap)
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def support_radius(levels, mu, dense_layers=3):
    """Exact extent of the input that one output pixel can depend on, in LR pixels.

    Parameters
    ----------
    levels, mu : int
        The recursion (output factor ``2**levels``, µ back-projection steps).
    dense_layers : int
        Dense layers per FilterBlock (``NetConfig.dense_layers``); the only part of the
        configuration that changes the receptive field.

    Returns
    -------
    (int, int)
        ``(before, after)``: any output pixel inside the ``2**levels × 2**levels`` block of LR pixel
        ``i`` (along either axis) depends on input pixels ``i - before … i + after`` only.

    Notes
    -----
    Measured, not derived: a backward pass from every pixel of one block through a frozen network
    whose gains are all 1 and whose weights are random (so no path cancels) marks every input the
    structure can reach. The network is tiny (2 features) and the input a one-pixel-wide strip,
    which has the same vertical reach as a 2-D image (every layer has square kernels). The
    symmetric reflections of the classic upscaler fold dependencies back inside the image, never
    beyond this range.
    """
    levels, mu, dense_layers = int(levels), int(mu), int(dense_layers)
    check_levels_mu(levels, mu)
    net = MGBPNet(NetConfig(features=2, growth=1, bottleneck=1, dense_layers=dense_layers, seed=0),
                  dtype=np.float64)
    s = 1 << levels
    n = 64
    engine = Engine()
    while True:
        x = np.ones((1, net.config.channels, n, 1))
        with engine.record() as tape:
            net.forward(x, levels=levels, mu=mu, engine=engine)
        with engine.frozen([np.ones_like(g) for g in tape]):
            graph = Graph(engine=engine)
            xn = graph.input(x, requires_grad=True)
            out = net.run(graph, xn, levels=levels, mu=mu)[-1]
            c = n // 2
            seed = np.zeros_like(out.data)
            seed[0, :, c * s:(c + 1) * s, :] = 1.0
            out.accumulate(seed)
            graph.backward()
        reach = np.nonzero(np.abs(xn.grad[0]).sum(axis=(0, 2)))[0]
        if reach[0] > 0 and reach[-1] < n - 1:
            return int(c - reach[0]), int(reach[-1] - c)
        n *= 2


def _group_disjoint(boxes):
    """Greedy groups of boxes ``(y0, y1, x0, x1)`` (inclusive) that pairwise do not overlap."""
    groups = []
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        for group in groups:
            if all(y1 < boxes[j][0] or boxes[j][1] < y0 or x1 < boxes[j][2] or boxes[j][3] < x0
                   for j in group):
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


# ----------------------------------------------------------------------------------------------
# Theorem 1 on one array
# ----------------------------------------------------------------------------------------------
class FrozenNetwork:
    """The network with every ReLU gain frozen at one input: the affine map ``Y = F X + R``.

    Parameters
    ----------
    net : MGBPNet
    image : array_like
        (H, W, C) input of the network as it is (no padding; the convolutions zero-pad at its
        borders). Converted to the network's dtype.
    levels : int
        Number of 2× levels; F and R describe the last output (factor ``2**levels``).
    mu : int
        Back-projection steps µ.

    Attributes
    ----------
    output : ndarray
        ``net(X)``, (sH, sW, C) in the network's dtype (the ordinary forward pass, recorded).
    tape : mgbp_classic.nn.Tape
        The recorded gains, one boolean mask per ReLU call of the recursion.
    engine : mgbp_classic.nn.Engine
        The engine context of every pass of this object (its own: one object serves one thread
        at a time; two objects can run in two threads).
    scale : int
        ``2**levels``.

    Notes
    -----
    Theorem 1 (Activation Freeze): with ``z_n = W_n x_{n-1} + b_n`` and ``x_n = σ(z_n) = G(z_n) z_n``,
    freezing ``G`` makes every layer affine, and so is any composition, sum or concatenation of
    affine maps — the whole recursion. The frozen network reproduces ``net(X)`` at ``X`` because
    ``G(z) z = relu(z)`` there.

    Examples
    --------
    >>> net = MGBPNet(NetConfig(features=4, growth=2, bottleneck=4), dtype=np.float64)
    >>> x = np.random.default_rng(0).random((6, 5, 3))
    >>> fz = FrozenNetwork(net, x, levels=1, mu=1)
    >>> row = fz.rows([(3, 4)], weights=[1.0, 0.0, 0.0])[0]      # d Y[3, 4, red] / d X
    >>> bool(abs((row * x).sum() + fz.residual[3, 4, 0] - fz.output[3, 4, 0]) < 1e-12)
    True
    """

    def __init__(self, net, image, *, levels, mu):
        _check_net(net)
        check_levels_mu(levels, mu)
        image = check_image(image, channels=(net.config.channels,))
        self.net, self.levels, self.mu = net, int(levels), int(mu)
        self.scale = 1 << self.levels
        self._x = _to_tensor(image, net.dtype)
        self.engine = engine = Engine()
        with engine.record() as tape:                  # one pass: net(X), the gains, the row graph
            graph = GainGraph(engine=engine)
            xn = graph.input(self._x, requires_grad=True)
            out = net.run(graph, xn, levels=self.levels, mu=self.mu)[-1]
        self.tape = tape
        self.output = _to_image(out.data)
        graph.release(keep=(xn,))
        self._rows_graph = (graph, xn, out)
        self._residual = None
        self._graph = None

    @property
    def input_shape(self):
        """(H, W, C) of the input."""
        return tuple(self._x.shape[2:]) + (self._x.shape[1],)

    @property
    def output_shape(self):
        """(sH, sW, C) of the output."""
        return self.output.shape

    def _frozen(self, x):
        with self.engine.frozen(self.tape):
            return self.net.forward(x, levels=self.levels, mu=self.mu, engine=self.engine)[-1]

    def apply(self, image, *, bias=True):
        """The frozen network on another input of the same shape.

        Parameters
        ----------
        image : array_like
            (H, W, C), the shape of the recorded input.
        bias : bool
            ``True``: the affine map ``F X + R``; ``False``: every bias seen as zero during the
            pass (the engine's ``without_biases``; the network's parameters are not touched), which
            leaves only the linear part ``F X`` (the residual is made by the biases alone, so this
            computes F X without subtracting anything).

        Returns
        -------
        ndarray
            (sH, sW, C) in the network's dtype.
        """
        arr = check_image(image, channels=(self.net.config.channels,))
        if arr.shape != self.input_shape:
            raise ParamError("image", f"must have the recorded shape {self.input_shape}, got {arr.shape}")
        x = _to_tensor(arr, self.net.dtype)
        if bias:
            return _to_image(self._frozen(x))
        with self.engine.without_biases():              # the parameters themselves are not touched
            return _to_image(self._frozen(x))

    def linear_part(self):
        """``F X``: the frozen network on the recorded input with every bias zeroed."""
        return self.apply(_to_image(self._x), bias=False)

    def max_error(self):
        """Theorem 1's check: ``‖F X + R − net(X)‖∞``, with ``F X`` and ``R`` from two separate frozen passes."""
        return float(np.max(np.abs(self.linear_part().astype(np.float64) + self.residual - self.output)))

    @property
    def residual(self):
        """The effective residual ``R``: the frozen network on ``X = 0`` (computed once, one forward pass)."""
        if self._residual is None:
            self._residual = _to_image(self._frozen(np.zeros_like(self._x)))
        return self._residual

    def column(self, y, x, channel):
        """A column of F: the frozen response to a unit δ at input pixel ``(y, x)``, ``channel``, minus R.

        Returns
        -------
        ndarray
            (sH, sW, C): how much every output pixel and channel moves per unit of that input.
        """
        h, w, c = self.input_shape
        (y, x), = check_pixels([(y, x)], (h, w), "pixel")
        if not isinstance(channel, numbers.Integral) or not 0 <= channel < c:
            raise ParamError("channel", f"must be an integer in 0..{c - 1}, got {channel!r}")
        delta = np.zeros_like(self._x)
        delta[0, channel, y, x] = 1
        return _to_image(self._frozen(delta)) - self.residual

    def _ensure_graph(self):
        """Record the frozen pass with its backward caches, on X = 0 (its output is R), for ``method="full"``."""
        if self._graph is None:
            with self.engine.frozen(self.tape):
                graph = Graph(engine=self.engine)
                xn = graph.input(np.zeros_like(self._x), requires_grad=True)
                out = self.net.run(graph, xn, levels=self.levels, mu=self.mu)[-1]
            self._graph = (graph, xn, out)
            if self._residual is None:
                self._residual = _to_image(out.data)
        return self._graph

    def rows(self, pixels, *, weights, method="window", batch=True, progress=None):
        """Rows of F: the filters that make output pixels, one backward pass of the frozen network each.

        Parameters
        ----------
        pixels : sequence of (int, int)
            Output pixels as (row y, column x) of the (sH, sW) output.
        weights : array_like
            Output-channel weights, (C,) for every pixel or (K, C) per pixel: row k is the gradient
            of ``Σ_c weights[k, c] Y[y_k, x_k, c]`` with respect to X (a one-hot vector gives the
            filter of one output channel, :data:`LUMA_WEIGHTS` the output luma).
        method : {"window", "full"}
            ``"window"`` (default): each backward pass runs every layer only on the window where
            its gradient can be non-zero (:mod:`mgbp_classic.windowed`), on the gains recorded with
            the output. ``"full"``: the plain backward pass of the whole frozen network (recorded
            once, on ``X = 0``; the reference the windowed pass is tested against).
        batch : bool
            ``method="full"`` only: run pixels whose exact supports (:func:`support_radius`) do
            not overlap in one backward pass and split its result; ``False`` runs one pass per pixel.
        progress : callable, optional
            Called as ``progress(done, total)`` after each backward pass.

        Returns
        -------
        ndarray
            (K, H, W, C) in the network's dtype: ``rows[k]`` is how output pixel k (its weighted
            channels) responds to every input pixel and channel.

        Notes
        -----
        The input gradient of an affine map does not depend on the point, so both methods give
        the same rows (to rounding). The windowed pass costs a fraction of a forward pass — the
        gradient starts at one output pixel and spreads by a kernel's reach per layer, so most
        layers see a small part of the image — and computes no parameter gradients. The full
        pass costs more than a forward pass; pixels further apart than the network's receptive
        field share one (the gradient of the sum of their outputs is the sum of their rows, which
        live on disjoint boxes).
        """
        if method not in ("window", "full"):
            raise ParamError("method", f"must be 'window' or 'full', got {method!r}")
        h, w, c = self.input_shape
        pix = check_pixels(pixels, self.output_shape[:2])
        wts = _check_weights(weights, len(pix), c)
        result = np.zeros((len(pix), h, w, c), self.net.dtype)
        if method == "window":
            graph, xn, out = self._rows_graph
            for k in range(len(pix)):
                y, x = int(pix[k, 0]), int(pix[k, 1])
                seed = np.asarray(wts[k], self.net.dtype).reshape(1, c, 1, 1)
                result[k] = _to_image(window_row(graph, xn, out, (y, y + 1, x, x + 1), seed))
                if progress is not None:
                    progress(k + 1, len(pix))
            return result
        graph, xn, out = self._ensure_graph()
        s = self.scale
        if batch and len(pix) > 1:
            before, after = support_radius(self.levels, self.mu, self.net.config.dense_layers)
            cy, cx = pix[:, 0] // s, pix[:, 1] // s
            boxes = [(max(a - before, 0), min(a + after, h - 1), max(b - before, 0), min(b + after, w - 1))
                     for a, b in zip(cy, cx)]
            groups = _group_disjoint(boxes)
        else:
            boxes, groups = None, [[k] for k in range(len(pix))]
        for n, group in enumerate(groups, 1):
            seed = np.zeros_like(out.data)                                      # (1, C, sH, sW)
            for k in group:
                seed[0, :, pix[k, 0], pix[k, 1]] += wts[k]
            out.accumulate(seed)
            with self.engine.frozen(self.tape), self.engine.input_grads_only():
                graph.backward(retain=True)
            grad, xn.grad = xn.grad, None                                       # (1, C, H, W)
            if len(group) == 1:
                result[group[0]] = _to_image(grad)
            else:
                g = _to_image(grad)
                for k in group:
                    y0, y1, x0, x1 = boxes[k]
                    result[k, y0:y1 + 1, x0:x1 + 1] = g[y0:y1 + 1, x0:x1 + 1]
            if progress is not None:
                progress(n, len(groups))
        return result


# ----------------------------------------------------------------------------------------------
# Theorem 1 for the network as inference runs it (reflection padding)
# ----------------------------------------------------------------------------------------------
def _fold_index(n, margin):
    """Source index of every position of ``np.pad(…, margin, mode='symmetric')`` along one axis."""
    return np.pad(np.arange(n), margin, mode="symmetric")


class DeepFilter:
    """Effective filters and residual of the network as :func:`~mgbp_classic.inference.upscale_rgb` runs it.

    Parameters
    ----------
    net : MGBPNet
    image : array_like
        (H, W, 3) RGB, or (H, W) greyscale (replicated to the three channels, as inference does;
        the filters then map the grey image), float in [0, 1].
    levels : int
        Number of 2× levels (output factor ``s = 2**levels``).
    mu : int
        Back-projection steps µ (the shipped model is trained with µ = 2).
    margin : int
        LR pixels of symmetric reflection around the image (inference's default).

    Attributes
    ----------
    frozen : FrozenNetwork
        Theorem 1 on the padded image.
    output : ndarray
        ``net(X)``: (sH, sW, 3), unclipped (``upscale_rgb`` clips it to [0, 1] afterwards).
    scale : int

    Notes
    -----
    The network sees ``P X``, the image extended by reflection (``P`` is a linear map), so the
    filter of an output pixel over the real pixels is ``F_pad P``: each reflected pixel's weight is
    added to the pixel it copies (:meth:`filters` returns the folded filters). The residual is
    that of the padded system, cropped. ``F X + R`` then equals the cropped network output
    exactly (to rounding).
    """

    def __init__(self, net, image, *, levels, mu, margin=DEFAULT_MARGIN):
        _check_net(net)
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        arr = check_image(arr, channels=(3,))
        self.image = arr
        self.margin = m = check_int(margin, "margin", minimum=0)
        self.frozen = FrozenNetwork(net, np.pad(arr, ((m, m), (m, m), (0, 0)), mode="symmetric"),
                                    levels=levels, mu=mu)
        self.scale = self.frozen.scale
        h, w = arr.shape[:2]
        self._crop = (slice(m * self.scale, (m + h) * self.scale), slice(m * self.scale, (m + w) * self.scale))
        self._fold_idx = (_fold_index(h, m), _fold_index(w, m))

    @property
    def output(self):
        return self.frozen.output[self._crop]

    @property
    def output_shape(self):
        """(sH, sW) of the output."""
        return self.output.shape[:2]

    @property
    def residual(self):
        """The effective residual R on the real output pixels, (sH, sW, 3)."""
        return self.frozen.residual[self._crop]

    def linear_part(self):
        """``F X`` on the real output pixels (the bias-free frozen pass), (sH, sW, 3)."""
        return self.frozen.linear_part()[self._crop]

    def max_error(self):
        """``‖F X + R − net(X)‖∞`` over the whole output, with F X and R from two separate passes."""
        return float(np.max(np.abs(self.linear_part().astype(np.float64) + self.residual - self.output)))

    def _fold_rows(self, rows):
        """(K, Hp, Wp, C) filters of the padded input → (K, H, W, C) on the real pixels (adjoint of the padding)."""
        h, w = self.image.shape[:2]
        iy, ix = self._fold_idx
        flat = (iy[:, None] * w + ix[None, :]).ravel()                          # (Hp·Wp,)
        k, c = rows.shape[0], rows.shape[3]
        src = rows.reshape(k, -1, c).transpose(0, 2, 1).reshape(k * c, -1)     # (K·C, Hp·Wp)
        offs = (np.arange(k * c) * (h * w))[:, None]
        out = np.bincount((flat[None, :] + offs).ravel(), weights=src.ravel(), minlength=k * c * h * w)
        return out.reshape(k, c, h, w).transpose(0, 2, 3, 1).astype(rows.dtype)

    def filters(self, pixels, *, color=False, progress=None):
        """Effective filters of output pixels over the real image pixels.

        Parameters
        ----------
        pixels : sequence of (int, int)
            Output pixels as (row y, column x) of the (sH, sW) output.
        color : bool
            ``False``: the filters of the output luma (one backward pass per pixel);
            ``True``: the filters of each output channel (three passes per pixel).
        progress : callable, optional
            ``progress(done, total)`` after each backward pass.

        Returns
        -------
        ndarray
            ``color=False``: (K, H, W, 3), ``[pixel, y, x, input channel]``: how the output luma
            at each pixel responds to every input pixel and channel; its sum over the last axis
            is the luma view (the response to a grey δ). ``color=True``: (K, 3, H, W, 3),
            ``[pixel, output channel, y, x, input channel]``, the 3×3 grid of 2-D filters.
        """
        pix = check_pixels(pixels, self.output_shape)
        padded = pix + self.margin * self.scale
        if color:
            weights = np.tile(np.eye(3), (len(pix), 1))                         # (3K, 3)
            rows = self.frozen.rows(np.repeat(padded, 3, axis=0), weights=weights, progress=progress)
            folded = self._fold_rows(rows)                                      # (3K, H, W, 3)
            return folded.reshape(len(pix), 3, *folded.shape[1:])
        rows = self.frozen.rows(padded, weights=LUMA_WEIGHTS, progress=progress)
        return self._fold_rows(rows)

    def pixel_errors(self, pixels, filters):
        """``|F X + R − net(X)|`` at output pixels, from their filters as :meth:`filters` returns them.

        Parameters
        ----------
        pixels : sequence of (int, int)
        filters : ndarray
            (K, H, W, 3) luma filters or (K, 3, H, W, 3) colour filters of those pixels.

        Returns
        -------
        ndarray
            (K,) errors of the output luma, or (K, 3) of each output channel.
        """
        pix = check_pixels(pixels, self.output_shape)
        f = np.asarray(filters, dtype=np.float64)
        k, hw = len(pix), self.image.shape[:2]
        x = self.image.astype(self.frozen.net.dtype).astype(np.float64)
        y = self.output[pix[:, 0], pix[:, 1]].astype(np.float64)                # (K, 3)
        r = self.residual[pix[:, 0], pix[:, 1]].astype(np.float64)
        if f.shape == (k,) + hw + (3,):
            fx = np.einsum("kyxc,yxc->k", f, x)
            return np.abs(fx + r @ LUMA_WEIGHTS - y @ LUMA_WEIGHTS)
        if f.shape == (k, 3) + hw + (3,):
            return np.abs(np.einsum("koyxc,yxc->ko", f, x) + r - y)
        raise ParamError("filters", f"must have shape {(k,) + hw + (3,)} or {(k, 3) + hw + (3,)}, got {f.shape}")

    def bicubic(self, pixels):
        """The MATLAB bicubic ×s filter at the same output pixels, (K, H, W) (see :func:`bicubic_filter`)."""
        return bicubic_filter(self.image.shape[:2], pixels, scale=self.scale)


def bicubic_filter(shape, pixels, *, scale):
    """Rows of MATLAB ``imresize(X, scale, 'bicubic')``: the filter of each output pixel.

    Parameters
    ----------
    shape : (int, int)
        (H, W) of the input image.
    pixels : sequence of (int, int)
        Output pixels (row y, column x) of the (scale·H, scale·W) output.
    scale : int
        Integer up-scaling factor.

    Returns
    -------
    ndarray
        (K, H, W) float64; row k applied to a channel (``(row * X).sum()``) gives that channel of
        the bicubic output at pixel k. The filter is separable, the outer product of the two 1-D
        interpolation rows (MATLAB's symmetric border handling included).
    """
    scale = check_int(scale, "scale", minimum=1)
    h, w = int(shape[0]), int(shape[1])
    pix = check_pixels(pixels, (h * scale, w * scale))
    my = imresize(np.eye(h), (scale, 1))                                        # (sH, H): 1-D rows
    mx = my if w == h else imresize(np.eye(w), (scale, 1))                      # (sW, W)
    return my[pix[:, 0], :, None] * mx[pix[:, 1], None, :]
