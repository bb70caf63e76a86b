"""The engine context: everything a pass through the layers depends on besides its arrays.

An :class:`Engine` is made by the caller and handed down through the graph, the modules and the
layer functions (``engine=`` keyword). It holds

* the ReLU mode (:class:`~mgbp_classic.nn.gains.Gains`): normal, recording the gains, or frozen
  gains (Theorem 1 of the paper);
* whether backward passes compute parameter gradients (``param_grads``; off inside
  :meth:`Engine.input_grads_only`, for the rows of the frozen network's map ``F``);
* whether the layers add their biases (``biases``; off inside :meth:`Engine.without_biases`, for
  the linear part ``F X`` of the frozen network), without touching the shared parameters;
* the scratch buffers (:class:`Workspace`) the layers reuse for temporaries that never escape a
  call.

Nothing of this is global: two threads that each use their own engine can run two networks (or
the same network on two inputs, in different modes) at the same time. One engine is used by one
thread at a time (its workspace holds the temporaries of the call in progress). Every function
that takes ``engine=None`` makes a fresh engine for that call, which behaves exactly like the
default one; callers that run many passes (training, tiled inference) make one and pass it on, so
the scratch buffers are allocated once.
"""
from contextlib import contextmanager
from types import MappingProxyType

import numpy as np

from .gains import Gains

__all__ = ["Engine", "Workspace", "SLOTS"]

#: Scratch slot of every temporary. Temporaries that are never alive at the same time share a slot,
#: so the scratch memory is that of the largest temporary, not the sum of all of them: every
#: forward temporary and the first backward temporaries live in slot "a"; only the dense layer's
#: bottleneck gradient ``dense.da2`` is alive while another temporary is (the tap gradients ``dense.g``
#: or the bordered gradient ``conv.dyb`` before it, the recomputed ``dense.a1`` and ``dense.da1``
#: after it), so it has slot "b"; the bordered input of a weight gradient (``conv.xw``) is read
#: beside the bordered output gradient (slot "a"), so it has slot "c", as has
#: the bordered output of a 3×3 tile on narrow rows (``conv.yb``, written from a slot-"a" input) and
#: the four bordered output phases of a transposed convolution (``convt.yp``, from a slot-"a" input).
SLOTS = MappingProxyType({
    "conv.taps": "a", "conv.cols": "a", "conv.dtaps": "a", "convt.taps": "a", "convt.dtaps": "a",
    "dense.a1": "a", "dense.taps": "a", "dense.g": "a", "dense.da1": "a", "fb.af": "a",
    "conv.xb": "a", "conv.xp": "a", "conv.dyb": "a", "convt.dyp": "a", "dense.a2b": "a",
    "dense.da2": "b", "conv.xw": "c", "conv.yb": "c", "convt.yp": "c"})


class Workspace:
    """Reusable scratch arrays for the layers' temporaries (grown, never shrunk).

    A temporary is asked for by its tag (:data:`SLOTS`); the slot says which buffer it borrows, so
    a caller must be done with one temporary of a slot before it asks for the next.
    """

    __slots__ = ("_buffers",)

    def __init__(self):
        self._buffers = {}

    def get(self, tag, shape, dtype):
        """A scratch array of ``shape`` and ``dtype`` for the temporary ``tag`` (a view of the slot's buffer)."""
        size = 1
        for s in shape:
            size *= s
        key = (SLOTS[tag], np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            self._buffers.pop(key, None)              # release the smaller buffer before growing
            buf = np.empty(max(size, 1), dtype)
            self._buffers[key] = buf
        return buf[:size].reshape(shape)

    def clear(self):
        """Release the scratch buffers (they are re-created on demand)."""
        self._buffers.clear()

    @property
    def nbytes(self):
        """Bytes held by the scratch buffers."""
        return sum(b.nbytes for b in self._buffers.values())


class Engine:
    """The context of the layers' passes: ReLU mode, parameter gradients wanted, scratch buffers.

    Parameters
    ----------
    param_grads : bool, optional
        Whether backward passes add into the parameter gradients (default). ``False`` computes
        input gradients only (see :meth:`input_grads_only`).

    Attributes
    ----------
    gains : Gains
        The ReLU mode and its tape.
    param_grads : bool
    biases : bool
        Whether the modules use their biases (:meth:`without_biases`).
    workspace : Workspace

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.nn import Engine, ParamStore, BiasReLU
    >>> store = ParamStore(seed=0, dtype=np.float64)
    >>> relu = BiasReLU(store, "r", 2)
    >>> store.finalize()
    >>> engine = Engine()
    >>> x = np.array([[[[1.0, -2.0]], [[0.0, 3.0]]]])          # (1, 2, 1, 2)
    >>> with engine.record() as tape:
    ...     y, _ = relu.forward(x, engine=engine)
    >>> [g.astype(int).ravel().tolist() for g in tape]
    [[1, 0, 1, 1]]
    """

    __slots__ = ("gains", "param_grads", "biases", "workspace")

    def __init__(self, *, param_grads=True):
        self.gains = Gains()
        self.param_grads = bool(param_grads)
        self.biases = True
        self.workspace = Workspace()

    @property
    def mode(self):
        """Current ReLU mode: ``None`` (normal), ``"record"`` or ``"frozen"``."""
        return self.gains.mode

    def record(self):
        """Context manager: record every ReLU's gain (see :meth:`.gains.Gains.record`); yields the tape."""
        return self.gains.record()

    def frozen(self, tape):
        """Context manager: every ReLU multiplies by its recorded gain (see :meth:`.gains.Gains.frozen`)."""
        return self.gains.frozen(tape)

    @contextmanager
    def input_grads_only(self):
        """Backward passes in this block compute input gradients only and leave every parameter gradient untouched.

        The weight-gradient products (a third of a convolution's backward work) and the
        recomputations they need are skipped: what the rows of the deep-filter map ``F`` (input
        gradients of the frozen network) cost.
        """
        saved = self.param_grads
        self.param_grads = False
        try:
            yield self
        finally:
            self.param_grads = saved

    @contextmanager
    def without_biases(self):
        """Passes in this block see every bias of the modules as zero (the parameters are not changed).

        What the linear part ``F X`` of the frozen network is made of; other threads using the same
        parameters with their own engines are not affected.
        """
        saved = self.biases
        self.biases = False
        try:
            yield self
        finally:
            self.biases = saved

    def bias(self, b):
        """A bias as this engine's passes see it: ``b``, or zeros inside :meth:`without_biases`."""
        return b if self.biases else np.zeros_like(b)

    def scratch(self, tag, shape, dtype):
        """A scratch array for the temporary ``tag`` (:meth:`Workspace.get`)."""
        return self.workspace.get(tag, shape, dtype)


def resolve(engine):
    """``engine``, or a fresh :class:`Engine` when it is ``None`` (the default of every ``engine=`` keyword)."""
    return Engine() if engine is None else engine
