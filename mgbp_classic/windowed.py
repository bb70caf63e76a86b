"""Rows of the frozen network's map ``F``, computed only where they can be non-zero.

A row of ``F`` (the effective filter of one output pixel) is the input gradient of that pixel
through the frozen network. Run over whole arrays, that backward pass costs as much as a forward
pass of the whole image, yet at most operations the gradient is zero almost everywhere: it starts
at one output pixel and widens by a kernel's reach per layer, so the last Synthesis block sees a
few pixels and only the earliest operations of the recursion see most of the image.

Here every gradient is a *window*: an array covering the bounding box where it may be non-zero,
placed in its (H, W) map. Each layer's backward runs on its window grown by the layer's reach
(one pixel for a 3×3 convolution, two or three for the stride-2 layers), with the gains cropped
to the window. The result equals the full backward pass exactly (not approximately): outside a
window the full gradient is exactly zero, and inside it the cropped layer sees every non-zero
value that reaches it — the window is grown by the reach *before* the layer runs, so its zero
padding only ever meets zeros. At the image borders the windows are clipped to the arrays, where
the layers' own padding (zeros, or the classic upscaler's reflection) is the real one.

Only the input gradient is computed (:func:`mgbp_classic.nn.input_grads_only`), and the graph
only needs the gains and the array shapes: :class:`GainGraph` records a forward pass keeping just
those (1 byte per ReLU value instead of the activations of every layer).
"""
import numpy as np

from . import nn
from .net import Graph, Node, Sequential
from .nn import layers as L

__all__ = ["GainGraph", "window_row"]


# ----------------------------------------------------------------------------------------------
# recording: keep the gains and shapes, drop the activations
# ----------------------------------------------------------------------------------------------
def _dummy(dtype, shape):
    """A zero-stride stand-in with this shape and dtype (all that input-gradient passes read of an
    array), taking no memory."""
    return np.broadcast_to(np.zeros((), dtype), shape)


class _ShapeOnly(np.ndarray):
    """A released node value: its shape and dtype only."""

    def __new__(cls, a):
        return _dummy(a.dtype, a.shape).view(cls)


def _shape_only(a):
    return _dummy(a.dtype, a.shape)


def _light(module, cache):
    """The cache of one module application without its activations (gains and shapes only)."""
    if isinstance(module, Sequential):
        return [_light(m, c) for m, c in zip(module.modules, cache)]
    if isinstance(module, nn.Conv2d):
        xc, w, stride, has_bias = cache
        return _shape_only(xc), w, stride, has_bias
    if isinstance(module, nn.ConvTranspose2d):
        xc, w = cache
        return _shape_only(xc), w
    if isinstance(module, nn.BiasReLU):
        x, b, g = cache
        return _shape_only(x), b, g
    if isinstance(module, nn.FilterBlock):
        hbuf, (dense, gf) = cache
        return _shape_only(hbuf), ([(None, g1, g2) for _, g1, g2 in dense], gf)
    if isinstance(module, nn.Upsample2x):
        xp, h, xshape = cache
        return _shape_only(xp), h, xshape
    raise TypeError(f"no windowed backward for module {type(module).__name__}")


class GainGraph(Graph):
    """A :class:`~mgbp_classic.net.Graph` that keeps, of every module application, only what
    :func:`window_row` needs: the gains (recorded or frozen) and the shapes.

    Record it inside :func:`mgbp_classic.nn.gains.record` or :func:`~mgbp_classic.nn.gains.frozen`;
    its :meth:`backward` is not available (the activations the weight gradients need are gone).
    """

    def apply(self, module, x):
        y, cache = module.forward(x.data)
        out = Node(y, x.requires_grad)
        if self.record:
            self._tape.append((out, None, ("apply", module, _light(module, cache), x)))
        return out

    def backward(self, *, retain=False):
        raise RuntimeError("a GainGraph keeps no activations: use mgbp_classic.windowed.window_row")

    def release(self, keep=()):
        """Drop the values of every recorded node (after the forward pass), except the nodes in ``keep``.

        The windowed rows read only their shapes; the values would hold every latent of the
        recursion in memory.
        """
        keep = {id(k) for k in keep}
        for out, _, op in self._tape:
            for node in (out,) + tuple(v for v in op[1:] if isinstance(v, Node)):
                if id(node) not in keep and not isinstance(node.data, _ShapeOnly):
                    node.data = _ShapeOnly(node.data)


# ----------------------------------------------------------------------------------------------
# windows
# ----------------------------------------------------------------------------------------------
class _Win:
    """A gradient that is zero outside ``[y0, y1) × [x0, x1)``: ``data`` (N, C, y1 − y0, x1 − x0)."""

    __slots__ = ("y0", "y1", "x0", "x1", "data")

    def __init__(self, box, data):
        self.y0, self.y1, self.x0, self.x1 = box
        self.data = data

    @property
    def box(self):
        return self.y0, self.y1, self.x0, self.x1


def _grow(box, r, h, w):
    """``box`` grown by ``r`` on every side, clipped to ``h × w``."""
    y0, y1, x0, x1 = box
    return max(y0 - r, 0), min(y1 + r, h), max(x0 - r, 0), min(x1 + r, w)


def _place(win, box):
    """``win.data`` inside the larger ``box`` (zeros around it)."""
    if win.box == box:
        return win.data
    y0, y1, x0, x1 = box
    n, c = win.data.shape[:2]
    out = np.zeros((n, c, y1 - y0, x1 - x0), win.data.dtype)
    out[:, :, win.y0 - y0:win.y1 - y0, win.x0 - x0:win.x1 - x0] = win.data
    return out


def _union(a, b):
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _halve_out(box, h, w, r):
    """Coarse window (size ``h × w``) of a fine ``box``: ``⌊y0 / 2⌋ − r … ⌈y1 / 2⌉ + r``, clipped."""
    y0, y1, x0, x1 = box
    return max(y0 // 2 - r, 0), min(-(-y1 // 2) + r, h), max(x0 // 2 - r, 0), min(-(-x1 // 2) + r, w)


def _crop_internal(g, shape, box):
    """A gain in the internal ``(1, C, N·H·W)`` layout (``shape = (C, N, H, W)``), cropped to ``box``."""
    y0, y1, x0, x1 = box
    c = shape[0]
    return np.ascontiguousarray(g.reshape(shape)[:, :, y0:y1, x0:x1]).reshape(1, c, -1)


# ----------------------------------------------------------------------------------------------
# the windowed input-gradient of each module (inside nn.input_grads_only())
# ----------------------------------------------------------------------------------------------
def _conv(module, cache, win):
    xs, w, stride, _ = cache
    ci, n, h, wd = xs.shape
    if module.k == 1:
        box = win.box
        dy = win.data
        fine = box
    elif stride == 1:
        box = fine = _grow(win.box, 1, h, wd)              # a 3×3 kernel reaches one pixel
        dy = _place(win, box)
    else:                                                  # stride 2: out j reads in 2j − 1 … 2j + 1
        ho, wo = L.conv_out_size(h, 3, 2, 1), L.conv_out_size(wd, 3, 2, 1)
        box = _grow(win.box, 1, ho, wo)
        fine = (2 * box[0], min(2 * box[1], h), 2 * box[2], min(2 * box[3], wd))
        dy = _place(win, box)
    shape = (ci, n, fine[1] - fine[0], fine[3] - fine[2])
    dxc = L.conv_c_backward(L.to_internal(dy), _dummy(xs.dtype, shape), w, stride, None, True)
    return _Win(fine, L.to_public(dxc))


def _conv_transpose(module, cache, win):
    xs, w = cache
    ci, n, h, wd = xs.shape
    box = _halve_out(win.box, h, wd, 1)                     # in i writes out 2i − 1 … 2i + 1
    fine = (2 * box[0], 2 * box[1], 2 * box[2], 2 * box[3])
    dy = _place(win, fine)
    shape = (ci, n, box[1] - box[0], box[3] - box[2])
    dxc = L.conv_transpose_c_backward(L.to_internal(dy), _dummy(xs.dtype, shape), w, None, True)
    return _Win(box, L.to_public(dxc))


def _bias_relu(module, cache, win):
    xs, _, g = cache
    if g is None:
        raise RuntimeError("windowed rows need a graph recorded with gains (gains.record or gains.frozen)")
    n, c, h, wd = xs.shape
    gc = g.reshape(n, c, h, wd)[:, :, win.y0:win.y1, win.x0:win.x1]
    return _Win(win.box, win.data * gc)


def _filter_block(module, cache, win):
    hs, (dense, gf) = cache
    ct, n, h, wd = hs.shape
    if gf is None:
        raise RuntimeError("windowed rows need a graph recorded with gains (gains.record or gains.frozen)")
    box = _grow(win.box, module.layers, h, wd)             # one 3×3 convolution per dense layer
    dy = _place(win, box)
    hw = (box[1] - box[0], box[3] - box[2])
    crop, widths = [], [module.c]
    for d in module.dense[:-1]:
        widths.append(widths[-1] + d.growth)
    for (_, g1, g2), ci, d in zip(dense, widths, module.dense):
        crop.append((None, _crop_internal(g1, (ci, n, h, wd), box),
                     _crop_internal(g2, (d.bottleneck, n, h, wd), box)))
    gfc = _crop_internal(gf, (ct, n, h, wd), box)
    s = module.store
    dxc = L.filter_block_c_backward(L.to_internal(dy), _dummy(hs.dtype, (ct, n) + hw), module.c,
                                    [d.params() for d in module.dense], s[module.b], s[module.w],
                                    (crop, gfc), [d.grads() for d in module.dense],
                                    s.grad(module.b), s.grad(module.w))
    return _Win(box, L.to_public(dxc))


def _upsample(module, cache, win):
    xps, hk, (n, c, h, wd) = cache
    box = _halve_out(win.box, h, wd, 3)                     # 8-tap phases: in i feeds out 2i − 4 … 2i + 5
    fine = (2 * box[0], 2 * box[1], 2 * box[2], 2 * box[3])
    dy = _place(win, fine)
    shape = (n, c, box[1] - box[0], box[3] - box[2])
    dx = L.upsample2x_backward(dy, (_dummy(xps.dtype, (n, c, shape[2] + 4, shape[3] + 4)), hk, shape),
                               None, need_dx=True)
    return _Win(box, dx)


_HANDLERS = {nn.Conv2d: _conv, nn.ConvTranspose2d: _conv_transpose, nn.BiasReLU: _bias_relu,
             nn.FilterBlock: _filter_block, nn.Upsample2x: _upsample}


def _module_backward(module, cache, win):
    if isinstance(module, Sequential):
        for m, c in zip(reversed(module.modules), reversed(cache)):
            win = _module_backward(m, c, win)
        return win
    return _HANDLERS[type(module)](module, cache, win)


# ----------------------------------------------------------------------------------------------
# one row
# ----------------------------------------------------------------------------------------------
def window_row(graph, x, out, seed_box, seed):
    """The input gradient of ``⟨seed, out⟩`` through a recorded graph, on windows.

    Parameters
    ----------
    graph : Graph
        Recorded with gains (normally a :class:`GainGraph`); not consumed, so any number of rows
        can run on one recording.
    x : Node
        The graph's input (``requires_grad=True``).
    out : Node
        The output whose weighted pixels start the pass.
    seed_box : (int, int, int, int)
        ``(y0, y1, x0, x1)``: where ``seed`` sits in ``out`` (end-exclusive).
    seed : ndarray
        (N, C, y1 − y0, x1 − x0): the output gradient inside ``seed_box`` (zero elsewhere).

    Returns
    -------
    ndarray
        The input gradient, shaped like ``x.data`` (zero outside the reach of the seed).
    """
    grads = {id(out): _Win(seed_box, np.asarray(seed, dtype=out.data.dtype))}

    def give(node, win):
        if not node.requires_grad:
            return
        have = grads.get(id(node))
        if have is None:
            grads[id(node)] = win
            return
        box = _union(have.box, win.box)
        data = _place(have, box)
        if data is have.data:                      # never add in place into an array another node may share
            data = data.copy()
        data += _place(win, box)
        grads[id(node)] = _Win(box, data)

    with nn.input_grads_only():
        for node, op in reversed(graph.ops):
            win = grads.pop(id(node), None)
            if win is None:
                continue
            kind = op[0]
            if kind == "apply":
                _, module, cache, xin = op
                if xin.requires_grad:
                    give(xin, _module_backward(module, cache, win))
            elif kind == "concat":
                _, a, b = op
                ca = a.data.shape[1]
                give(a, _Win(win.box, win.data[:, :ca]))
                give(b, _Win(win.box, win.data[:, ca:]))
            else:                                          # add
                _, a, b = op
                give(a, win)
                give(b, win)
    result = np.zeros(x.data.shape, x.data.dtype)
    win = grads.get(id(x))
    if win is not None:
        result[:, :, win.y0:win.y1, win.x0:win.x1] = win.data
    return result
