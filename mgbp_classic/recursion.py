"""Algorithm 1 of the paper, the one recursion of Multi-Grid Back-Projection, for every set of operators.

The same recursion runs the classic algorithm (image-space blur/decimate and upsample/filter
operators) and the learned network (Analysis/Downscale/Upscale/Synthesis modules in latent space).
Only the *operators* differ; see ``../shared/DESIGN.md`` ("One recursion, two sets of operators").

Notation (paper, Algorithm 1)::

    MGBP(X, µ, L):                       BP^µ_k(u, Y_1, ..., Y_{k-1}):
      Y_1 = X                              if k > 1:
      for k = 2..L:                          for step = 1..µ:
        u   = (Y_{k-1} ↑ s) ∗ p                d = BP^µ_{k-1}((u ∗ g) ↓ s, Y_1, ..., Y_{k-2})
        Y_k = BP^µ_k(u, Y_1..Y_{k-1})          u = u + (Y_{k-1} − d) ↑ s ∗ p
                                           return u

Here ``levels = N`` is the number of 2× levels, so Algorithm 1's L = N + 1.

This module is the bare recursion (:func:`multigrid`, :func:`back_project`) and the classic
image-space operators; it validates nothing and imports nothing of the package. The solvers
(:func:`mgbp_classic.multigrid.mgbp`, the network :class:`mgbp_classic.net.MGBPNet`) and the
Fourier analysis (:mod:`mgbp_classic.convergence`) run it with their own operators.

An *operator set* is any object with four methods (see :func:`multigrid`): ``initial(x)``,
``lift(ys)``, ``down(u)`` and ``correct(u, y, d)``.
"""
import math

import numpy as np

__all__ = ["ClassicOperators", "TracingOperators", "back_project", "multigrid"]


def back_project(u, k, ys, mu, ops, callback=None):
    """The recursion BP^µ_k(u, Y_1, ..., Y_{k-1}) of Algorithm 1.

    Parameters
    ----------
    u : object
        Current estimate at level ``k`` (an image, or a latent tensor for the network).
    k : int
        Level index, 1-based as in the paper (level 1 is the input resolution).
    ys : sequence
        ``ys[j]`` is Y_{j+1}; only ``ys[:k-1]`` (Y_1 … Y_{k-1}) is used.
    mu : int
        Number of back-projection steps µ at every level (1: V-cycle, 2: W-cycle).
    ops : object
        The operators: ``ops.down(u)`` replaces ``(u ∗ g) ↓ s`` and
        ``ops.correct(u, y, d)`` replaces ``u + (y − d) ↑ s ∗ p``.
    callback : callable, optional
        Called as ``callback(k, step, u)`` after every update of ``u`` at level ``k``
        (``step`` counts from 1).

    Returns
    -------
    object
        The updated estimate at level ``k``.
    """
    if k > 1:
        for step in range(1, mu + 1):
            d = back_project(ops.down(u), k - 1, ys, mu, ops, callback)   # line 3
            u = ops.correct(u, ys[k - 2], d)                             # line 4: Y_{k-1} = ys[k-2]
            if callback is not None:
                callback(k, step, u)
    return u


def multigrid(x, *, levels, mu, ops, callback=None):
    """Algorithm 1, MGBP(X, µ, L = levels + 1), for any operators.

    Parameters
    ----------
    x : object
        The input (level-1) image.
    levels : int
        Number of 2× levels N ≥ 1 (Algorithm 1's L = N + 1).
    mu : int
        Back-projection steps µ ≥ 1 per level.
    ops : object
        Operators with ``initial(x)`` (Y_1 from X), ``lift(ys)`` (the first estimate at the next
        level from Y_1 … Y_{k-1}; classic: ``(Y_{k-1} ↑ s) ∗ p``), ``down`` and ``correct``
        (see :func:`back_project`).
    callback : callable, optional
        Passed to :func:`back_project`.

    Returns
    -------
    list
        ``[Y_1, Y_2, ..., Y_L]``: the input level and every upscaled level.

    Notes
    -----
    Callers validate ``levels`` and ``mu``; this function is the bare recursion.
    """
    ys = [ops.initial(x)]
    for k in range(2, levels + 2):
        u = ops.lift(ys)
        ys.append(back_project(u, k, ys, mu, ops, callback))
    return ys


# ---------------------------------------------------------------------------------------------
# The classic operators (image space), and a wrapper that records the workflow
# ---------------------------------------------------------------------------------------------

class ClassicOperators:
    """The linear image-space operators of Algorithm 1: ``D(u) = (u ∗ g) ↓ 2``, ``P(x) = (x ↑ 2) ∗ p``.

    Parameters
    ----------
    down : mgbp_classic.resize.Downscale
        The blur-and-decimate operator D (factor 2).
    up : mgbp_classic.resize.Upscale
        The upsample-and-filter operator P (factor 2).

    Notes
    -----
    The protocol of :func:`multigrid`:

    ``initial(x)``
        ``Y_1 = X``.
    ``lift(ys)``
        Line 3 of MGBP: ``u = (Y_{k-1} ↑ 2) ∗ p = P(Y_{k-1})``.
    ``down(u)``
        The argument of line 3 of BP: ``(u ∗ g) ↓ 2 = D(u)``.
    ``correct(u, y, d)``
        Line 4 of BP: ``u + (y − d) ↑ 2 ∗ p = u + P(y − d)``.

    ``correct`` evaluates ``y − d`` first, then ``P``, then the sum, exactly as IBP's
    ``Y + P(X − D(Y))`` does, so two levels of MGBP are bit-for-bit IBP.

    The operators are applied without checking their argument (``D.apply``, ``P.apply``): the
    caller validates the input once (:func:`mgbp_classic.multigrid.mgbp` does), and every array
    the recursion makes from it is again a C-contiguous float32/float64 array.
    """

    def __init__(self, down, up):
        if getattr(down, "scale", None) != 2 or getattr(up, "scale", None) != 2:
            raise ValueError("down and up must be factor-2 Downscale/Upscale operators, got scales "
                             f"{getattr(down, 'scale', None)!r} and {getattr(up, 'scale', None)!r}")
        self.D = down
        self.P = up

    def initial(self, x):
        return x

    def lift(self, ys):
        return self.P.apply(ys[-1])

    def down(self, u):
        return self.D.apply(u)

    def correct(self, u, y, d):
        return u + self.P.apply(y - d)


class TracingOperators:
    """Wrap any operators and record every call, to show the V- and W-cycle workflows (Figure 2).

    Parameters
    ----------
    ops : object
        Operators with ``initial``, ``lift``, ``down`` and ``correct`` (see :func:`multigrid`).
    level_of : callable, optional
        ``level_of(u)`` -> 0-based level of an estimate ``u`` (0 = the input resolution). Default:
        ``log2(u.shape[0] / x.shape[0])`` for image-space operators (``x`` given to ``initial``).

    Attributes
    ----------
    events : list of (str, int)
        ``("initial", 0)``, ``("lift", k)`` (a new level ``k`` is started), ``("down", k)`` (an
        estimate at level ``k`` is sent to level ``k − 1``) and ``("correct", k)`` (an estimate at
        level ``k`` is corrected from level ``k − 1``), in call order.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.multigrid import ClassicOperators, TracingOperators, multigrid
    >>> from mgbp_classic.resize import Downscale, Upscale
    >>> ops = TracingOperators(ClassicOperators(Downscale(2), Upscale(2)))
    >>> _ = multigrid(np.zeros((4, 4)), levels=2, mu=1, ops=ops)
    >>> ops.path()
    [0, 1, 0, 1, 2, 1, 0, 1, 2]
    """

    def __init__(self, ops, level_of=None):
        self.ops = ops
        self.level_of = level_of
        self.events = []
        self._h0 = None

    def _level(self, u):
        if self.level_of is not None:
            return int(self.level_of(u))
        return int(round(math.log2(np.shape(u)[0] / self._h0)))

    def initial(self, x):
        self._h0 = np.shape(x)[0]
        self.events.append(("initial", 0))
        return self.ops.initial(x)

    def lift(self, ys):
        u = self.ops.lift(ys)
        self.events.append(("lift", self._level(u)))
        return u

    def down(self, u):
        self.events.append(("down", self._level(u)))
        return self.ops.down(u)

    def correct(self, u, y, d):
        self.events.append(("correct", self._level(u)))
        return self.ops.correct(u, y, d)

    def counts(self):
        """``{(name, level): number of calls}`` over the recorded events."""
        out = {}
        for event in self.events:
            out[event] = out.get(event, 0) + 1
        return out

    def path(self):
        """The sequence of levels visited: where each call leaves the current estimate."""
        where = {"initial": 0, "lift": 0, "down": -1, "correct": 0}
        return [level + where[name] for name, level in self.events]
