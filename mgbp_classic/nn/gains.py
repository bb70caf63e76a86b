"""The one place every ReLU of the engine goes through: normal, gain-recording and frozen modes.

Theorem 1 of the paper ("deep filter visualisation") needs each ReLU's *gain*
``G(z) = relu(z) / z`` (1 where ``z == 0``, i.e. ``(z >= 0)`` as float) recorded in one forward
pass and then frozen, which turns the network into an affine map ``Y = F X + R``.

Usage::

    from mgbp_classic.nn import gains
    with gains.record() as tape:     # each ReLU appends its gain mask, in call order
        y = net.forward(x)
    with gains.frozen(tape):         # each ReLU, in the same call order, computes G * z
        y0 = net.forward(np.zeros_like(x))   # (its backward multiplies by G)

Outside both context managers a ReLU is ``max(z, 0)`` with backward mask ``z > 0``; checking the
mode costs one attribute read per ReLU call.

Each recorded gain is a boolean mask (1 byte per value) with the shape of the array the ReLU saw:
``(N, C, H·W)`` for ``BiasReLU``, and ``(1, C, N·H·W)`` (channel-major, the engine's internal layout) for the ReLUs inside ``DenseLayer``
and ``FilterBlock``; ``gain.reshape(C, N, H, W).transpose(1, 0, 2, 3)`` turns the latter into images.
Call order inside a FilterBlock: dense0 (``relu(x + b1)``, ``relu(z + b2)``), dense1, dense2, then
the block's ``relu(h + b)``.
"""
from contextlib import contextmanager

import numpy as np

__all__ = ["Tape", "record", "frozen", "mode"]


class Tape(list):
    """The gain masks recorded by :func:`record`, one boolean array per ReLU call, in call order.

    :func:`frozen` also accepts float gains of the same shapes (any values, e.g. all ones).
    """


class _State:
    mode = None        # None (normal), "record" or "frozen"
    tape = None
    cursor = 0


_STATE = _State()


def mode():
    """Current ReLU mode: ``None`` (normal), ``"record"`` or ``"frozen"``."""
    return _STATE.mode


@contextmanager
def record():
    """Record every ReLU's gain mask ``(z >= 0)`` (boolean) into a :class:`Tape`.

    Yields
    ------
    Tape
        The list the masks are appended to.
    """
    if _STATE.mode is not None:
        raise RuntimeError(f"gains.record() cannot be nested inside gains mode {_STATE.mode!r}")
    tape = Tape()
    _STATE.mode, _STATE.tape, _STATE.cursor = "record", tape, 0
    try:
        yield tape
    finally:
        _STATE.mode, _STATE.tape, _STATE.cursor = None, None, 0


@contextmanager
def frozen(tape):
    """Replace every ReLU by multiplication with the gain recorded at the same call position.

    After the last recorded gain the tape starts again from the first, so several forward passes
    of the same network can run inside one ``frozen`` block (each ReLU call is checked against the
    recorded shape).

    Parameters
    ----------
    tape : Tape
        Masks recorded by :func:`record` on a forward pass with the same sequence of ReLU calls.

    Yields
    ------
    Tape
        ``tape`` itself.
    """
    if _STATE.mode is not None:
        raise RuntimeError(f"gains.frozen() cannot be nested inside gains mode {_STATE.mode!r}")
    if not isinstance(tape, list):
        raise TypeError(f"tape must be the list yielded by gains.record(), got {type(tape).__name__}")
    _STATE.mode, _STATE.tape, _STATE.cursor = "frozen", tape, 0
    try:
        yield tape
    finally:
        _STATE.mode, _STATE.tape, _STATE.cursor = None, None, 0


def _next_frozen_gain(shape, dtype):
    """The gain of the next ReLU call in frozen mode (checked against the call's shape)."""
    tape, i = _STATE.tape, _STATE.cursor
    if not tape:
        raise RuntimeError("gains.frozen: ReLU call 0 has no recorded gain (the tape is empty)")
    if i >= len(tape):
        i = 0                                   # the next forward pass replays the tape from its start
    g = tape[i]
    if g.shape != tuple(shape):
        raise RuntimeError(f"gains.frozen: ReLU call {i} has shape {tuple(shape)}, the recorded gain {g.shape}")
    _STATE.cursor = i + 1
    return g if g.dtype in (dtype, np.bool_) else g.astype(dtype)


def _record_gain(gain):
    """Append a gain mask (computed by the caller's kernel) to the recording tape."""
    _STATE.tape.append(gain)
