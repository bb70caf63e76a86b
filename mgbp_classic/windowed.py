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

Only the input gradient is computed (the engine's ``input_grads_only``), and the graph only needs
the gains and the array shapes: :class:`GainGraph` records a forward pass keeping just those
(1 byte per ReLU value instead of the activations of every layer).

The layers' knowledge stays with the layers: every cache type of :mod:`mgbp_classic.nn.layers`
says how far its layer reaches (``backward_window``), restricts itself to a window (``crop``) and
drops its activations (``shapes_only``); each window then runs the module's ordinary backward.
"""
import numpy as np

from .nn.graph import Graph, Node, Sequential
from .nn.layers import shape_only

__all__ = ["GainGraph", "window_row"]


# ----------------------------------------------------------------------------------------------
# recording: keep the gains and shapes, drop the activations
# ----------------------------------------------------------------------------------------------
class _ShapeOnly(np.ndarray):
    """A released node value: its shape and dtype only."""

    def __new__(cls, a):
        return shape_only(a.dtype, a.shape).view(cls)


def _light(module, cache):
    """The cache of one module application without its activations (gains and shapes only)."""
    if not hasattr(cache, "shapes_only"):
        raise TypeError(f"no windowed backward for module {type(module).__name__}")
    return cache.shapes_only()


class GainGraph(Graph):
    """A :class:`~mgbp_classic.nn.graph.Graph` that keeps, of every module application, only what
    :func:`window_row` needs: the gains (recorded or frozen) and the shapes.

    Record it inside its engine's ``record()`` or ``frozen(tape)``; its :meth:`backward` is not
    available (the activations the weight gradients need are gone).
    """

    def apply(self, module, x):
        y, cache = module.forward(x.data, engine=self.engine)
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


# ----------------------------------------------------------------------------------------------
# the windowed input-gradient of a module (inside the engine's input_grads_only())
# ----------------------------------------------------------------------------------------------
def _module_backward(module, cache, win, engine):
    """The input gradient of one module application for an output gradient living on ``win``."""
    if isinstance(module, Sequential):
        for m, c in zip(reversed(module.modules), reversed(cache)):
            win = _module_backward(m, c, win, engine)
        return win
    in_box, out_box = cache.backward_window(win.box)      # the layer's reach, clipped to the arrays
    dx = module.backward(_place(win, out_box), cache.crop(in_box), engine=engine)
    return _Win(in_box, dx)


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

    engine = graph.engine
    with engine.input_grads_only():
        for node, op in reversed(graph.ops):
            win = grads.pop(id(node), None)
            if win is None:
                continue
            kind = op[0]
            if kind == "apply":
                _, module, cache, xin = op
                if xin.requires_grad:
                    give(xin, _module_backward(module, cache, win, engine))
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
