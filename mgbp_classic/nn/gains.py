"""The ReLU gains of one engine: normal, gain-recording and frozen modes (Theorem 1's mechanism).

Theorem 1 of the paper ("deep filter visualisation") needs each ReLU's *gain*
``G(z) = relu(z) / z`` (1 where ``z == 0``, i.e. ``(z >= 0)`` as float) recorded in one forward
pass and then frozen, which turns the network into an affine map ``Y = F X + R``
(:mod:`mgbp_classic.deepfilter` builds ``F`` and ``R`` from it).

Every :class:`~mgbp_classic.nn.engine.Engine` owns one :class:`Gains`; every ReLU of the engine
(:func:`mgbp_classic.nn.layers.relu_apply`) asks it what to do. Usage::

    from mgbp_classic.nn import Engine
    engine = Engine()
    with engine.record() as tape:    # each ReLU appends its gain mask, in call order
        y = net.forward(x, levels=2, mu=2, engine=engine)
    with engine.frozen(tape):        # each ReLU, in the same call order, computes G * z
        y0 = net.forward(np.zeros_like(x), levels=2, mu=2, engine=engine)   # (its backward multiplies by G)

Outside both blocks a ReLU is ``max(z, 0)`` with backward mask ``z > 0``; checking the mode costs
one attribute read per ReLU call. The mode belongs to the engine, not to the process: two threads
with two engines record or freeze independently.

Each recorded gain is a boolean mask (1 byte per value) with the shape of the array the ReLU saw:
``(N, C, H·W)`` for ``BiasReLU``, and ``(1, C, N·H·W)`` (channel-major, the engine's internal layout) for the ReLUs inside ``DenseLayer``
and ``FilterBlock``; ``gain.reshape(C, N, H, W).transpose(1, 0, 2, 3)`` turns the latter into images.
Call order inside a FilterBlock: dense0 (``relu(x + b1)``, ``relu(z + b2)``), dense1, dense2, then
the block's ``relu(h + b)``.
"""
from contextlib import contextmanager

import numpy as np

__all__ = ["Tape", "Gains"]


class Tape(list):
    """The gain masks recorded by :meth:`Gains.record`, one boolean array per ReLU call, in call order.

    :meth:`Gains.frozen` also accepts float gains of the same shapes (any values, e.g. all ones).
    """


class Gains:
    """The ReLU mode of one engine: ``None`` (normal), ``"record"`` or ``"frozen"``, and its tape.

    Attributes
    ----------
    mode : {None, "record", "frozen"}
    tape : Tape or None
        The tape being recorded or replayed.
    cursor : int
        Frozen mode: position of the next ReLU call on the tape.
    """

    __slots__ = ("mode", "tape", "cursor")

    def __init__(self):
        self.mode, self.tape, self.cursor = None, None, 0

    @contextmanager
    def _enter(self, mode, tape):
        if self.mode is not None:
            raise RuntimeError(f"gains.{mode}() cannot be nested inside gains mode {self.mode!r}")
        self.mode, self.tape, self.cursor = mode, tape, 0
        try:
            yield tape
        finally:
            self.mode, self.tape, self.cursor = None, None, 0

    def record(self):
        """Record every ReLU's gain mask ``(z >= 0)`` (boolean) into a :class:`Tape`.

        Returns
        -------
        context manager
            Yields the :class:`Tape` the masks are appended to.
        """
        return self._enter("record", Tape())

    def frozen(self, tape):
        """Replace every ReLU by multiplication with the gain recorded at the same call position.

        After the last recorded gain the tape starts again from the first, so several forward
        passes of the same network can run inside one ``frozen`` block (each ReLU call is checked
        against the recorded shape).

        Parameters
        ----------
        tape : Tape
            Masks recorded by :meth:`record` on a forward pass with the same sequence of ReLU calls.

        Returns
        -------
        context manager
            Yields ``tape`` itself.
        """
        if not isinstance(tape, list):
            raise TypeError(f"tape must be the list yielded by gains.record(), got {type(tape).__name__}")
        return self._enter("frozen", tape)

    def next_frozen(self, shape, dtype):
        """The gain of the next ReLU call in frozen mode (checked against the call's shape)."""
        tape, i = self.tape, self.cursor
        if not tape:
            raise RuntimeError("gains.frozen: ReLU call 0 has no recorded gain (the tape is empty)")
        if i >= len(tape):
            i = 0                                   # the next forward pass replays the tape from its start
        g = tape[i]
        if g.shape != tuple(shape):
            raise RuntimeError(f"gains.frozen: ReLU call {i} has shape {tuple(shape)}, the recorded gain {g.shape}")
        self.cursor = i + 1
        return g if g.dtype in (dtype, np.bool_) else g.astype(dtype)

    def append(self, gain):
        """Record mode: append a gain mask (computed by the caller's kernel) to the tape."""
        self.tape.append(gain)
