"""The backward tape: values, accumulated gradients, backward closures in creation order.

A :class:`Graph` records every module application (and the concatenations and additions between
them) so that :meth:`Graph.backward` can replay their backward passes in reverse. Since the
engine's backward *adds* into the shared parameter gradients, a module used many times (the MGBP
recursion applies the same blocks again and again) simply sums its gradients. The graph carries
the engine context (:class:`~mgbp_classic.nn.engine.Engine`) of its passes and hands it to every
module it runs.

:class:`Sequential` chains modules with the engine's ``forward``/``backward`` protocol.
"""
import numpy as np

from .engine import resolve
from .layers import concat_backward, concat_forward, to_internal, to_public
from .modules import Conv2d, FilterBlock, _check_input

__all__ = ["Node", "Graph", "Sequential", "SequentialCache"]


class Node:
    """A value of the computation: ``data`` (array) and the gradient accumulated into it."""

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad=True):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad

    def accumulate(self, g):
        if g is None or not self.requires_grad:
            return
        if self.grad is None:
            self.grad = g
        else:
            self.grad += g


class Graph:
    """Records module applications so that :meth:`backward` can replay them in reverse.

    Parameters
    ----------
    record : bool
        ``False`` for inference: nothing is kept, caches are dropped at once.
    engine : Engine, optional
        The context every module of this graph runs with (ReLU gains mode, parameter gradients,
        scratch buffers); a fresh one when None.

    Attributes
    ----------
    engine : Engine
    """

    def __init__(self, *, record=True, engine=None):
        self.record = record
        self.engine = resolve(engine)
        self._tape = []          # (output node, backward closure, op), in creation order

    @property
    def ops(self):
        """The recorded operations in creation order, as ``(output node, op)`` with ``op`` one of
        ``("apply", module, cache, x)``, ``("concat", a, b)``, ``("add", a, b)`` (for passes that walk
        the recording themselves, e.g. the windowed rows of :mod:`mgbp_classic.windowed`)."""
        return [(out, op) for out, _, op in self._tape]

    def input(self, array, *, requires_grad=False):
        return Node(array, requires_grad and self.record)

    def apply(self, module, x):
        """``y = module(x)``; backward: ``x.grad += module.backward(y.grad)``."""
        engine = self.engine
        y, cache = module.forward(x.data, engine=engine)
        out = Node(y, x.requires_grad or self.record)
        if self.record:
            def backward(dy, module=module, cache=cache, x=x):
                x.accumulate(module.backward(dy, cache, need_dx=x.requires_grad, engine=engine))
            self._tape.append((out, backward, ("apply", module, cache, x)))
        return out

    def concat(self, a, b):
        """Channel concatenation ``[a, b]``; backward splits the gradient."""
        y = concat_forward([a.data, b.data])
        out = Node(y, self.record)
        if self.record:
            sizes = [a.data.shape[1], b.data.shape[1]]

            def backward(dy, a=a, b=b, sizes=sizes):
                da, db = concat_backward(dy, sizes)
                a.accumulate(np.ascontiguousarray(da))
                b.accumulate(np.ascontiguousarray(db))
            self._tape.append((out, backward, ("concat", a, b)))
        return out

    def add(self, a, b):
        """``a + b``; backward passes the gradient to both."""
        out = Node(a.data + b.data, self.record)
        if self.record:
            def backward(dy, a=a, b=b):
                a.accumulate(dy.copy() if b.requires_grad else dy)
                b.accumulate(dy)
            self._tape.append((out, backward, ("add", a, b)))
        return out

    def backward(self, *, retain=False):
        """Run every recorded backward in reverse creation order (each node's gradient is complete
        by then, because all its consumers were created after it).

        Parameters
        ----------
        retain : bool
            ``False`` frees the tape (and its caches) as it goes; ``True`` keeps it, so that more
            backward passes can run on the same recording (e.g. one per row of a Jacobian).
            Either way every intermediate gradient is consumed; the gradients of the graph's
            inputs and of the parameters remain.
        """
        if retain:
            for out, fn, _ in reversed(self._tape):
                if out.grad is not None:
                    dy, out.grad = out.grad, None
                    fn(dy)
            return
        while self._tape:
            out, fn, _ = self._tape.pop()
            if out.grad is not None:
                fn(out.grad)
                out.grad = None


class SequentialCache(tuple):
    """Cache of :meth:`Sequential.forward`: the caches of its modules, in order."""

    __slots__ = ()

    def shapes_only(self):
        """Every module's cache without its activations (see :mod:`.layers`)."""
        return SequentialCache(c.shapes_only() for c in self)


class Sequential:
    """Modules applied one after the other, with the engine's ``forward``/``backward`` protocol.

    Between its modules the value stays in the internal layout ``(C, N, H, W)`` (each module's
    ``forward_c``/``backward_c``): the layout changes once on the way in and once on the way out,
    and a first FilterBlock makes the way in its copy into its channel buffer. A Conv2d followed by
    a FilterBlock writes straight into the block's buffer (:meth:`.FilterBlock.forward_after`).
    Outputs, caches and gradients are those of the modules' own ``forward``/``backward`` calls.
    """

    def __init__(self, *modules):
        self.modules = modules

    def forward(self, x, *, engine=None):
        engine = resolve(engine)
        caches = []
        mods = self.modules
        first = mods[0]
        if isinstance(first, FilterBlock):
            xc, c = first.forward_from_public(x, engine=engine)               # the layout change fills its buffer
            caches.append(c)
            i = 1
        else:
            _check_input(x, first.in_channels, first.name)
            xc, i = to_internal(x), 0
        while i < len(mods):
            m = mods[i]
            nxt = mods[i + 1] if i + 1 < len(mods) else None
            if isinstance(m, Conv2d) and isinstance(nxt, FilterBlock):
                xc, pair = nxt.forward_after(m, xc, engine=engine)             # no copy into the block's buffer
                caches.extend(pair)
                i += 2
                continue
            xc, c = m.forward_c(xc, engine=engine)
            caches.append(c)
            i += 1
        return to_public(xc), SequentialCache(caches)

    def backward(self, dy, caches, need_dx=True, *, engine=None):
        engine = resolve(engine)
        dyc = to_internal(dy)
        for i in range(len(self.modules) - 1, -1, -1):
            dyc = self.modules[i].backward_c(dyc, caches[i], need_dx=(need_dx or i > 0), engine=engine)
        return None if dyc is None else to_public(dyc)
