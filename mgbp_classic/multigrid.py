"""Algorithm 1 of the paper: Multi-Grid Back-Projection, written once for every set of operators.

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
"""
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from .exceptions import ConvergenceWarning
from .ibp import _check_count, _check_image, _check_tol, rms

__all__ = ["ClassicOperators", "MGBPResult", "TracingOperators", "back_project", "mgbp", "multigrid"]


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
# The classic operators (image space) and the public ``mgbp``
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
        return self.P(ys[-1])

    def down(self, u):
        return self.D(u)

    def correct(self, u, y, d):
        return u + self.P(y - d)


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


@dataclass
class MGBPResult:
    """Result of :func:`mgbp`.

    Attributes
    ----------
    levels : list of numpy.ndarray
        ``[Y_1, ..., Y_{N+1}]``: index 0 is the input, index ``j`` the ``2**j`` upscale.
    histories : list of numpy.ndarray
        ``histories[j]`` (``j ≥ 1``): RMS of the residual that back-projection at level ``j``
        drives to zero, ``Y_j' − BP(D(u))`` with ``Y_j'`` the level below (the *level residual*,
        see Notes), at the lift and after every step of the run that produced ``levels[j]``;
        ``histories[0]`` is empty. For ``j = 1`` this is the IBP residual ``X − D(u)``.
    model_histories : list of numpy.ndarray
        Same instants, RMS of the residual of model (4): ``X − D^j(u)``.
    mu, iterations : int
        The parameters used; ``iterations`` is the number of BP^µ cycles run at the top level.
    converged : bool
        Whether the final top-level residual is at most ``tol`` (True when ``tol`` is None).
    rho : float or None
        Predicted IBP contraction of the kernel pair (see :func:`mgbp_classic.convergence.ibp_rate`).
    """

    levels: list = field(repr=False)
    histories: list = field(repr=False)
    model_histories: list = field(repr=False)
    mu: int = 1
    iterations: int = 1
    converged: bool = True
    rho: float = None

    @property
    def image(self):
        """The final (largest) level, ``levels[-1]``."""
        return self.levels[-1]


class _Recorder:
    """Operators that record the level residual and the model-(4) residual of each level's own run.

    During the pass that builds level ``K`` (``ys`` holds ``Y_1 … Y_{K-1}``), a call of ``correct``
    with ``y is ys[-1]`` is a step of that level (inner cycles use lower ``y``); ``y − d`` is then
    exactly the level residual before the step, for free. The value after the last step needs one
    extra ``BP_{K-1}`` and is added when the pass ends.
    """

    def __init__(self, ops, mu):
        self.ops = ops
        self.mu = mu
        self.ys = None
        self.top = None
        self.level = 0
        self.histories = [[]]
        self.model = [[]]
        self.x = None

    def initial(self, x):
        self.x = x
        return self.ops.initial(x)

    def _model_residual(self, u, level):
        for _ in range(level):
            u = self.ops.down(u)
        return rms(self.x - u)

    def _level_residual(self, u, level):
        d = back_project(self.ops.down(u), level, self.ys, self.mu, self.ops)
        return rms(self.ys[level - 1] - d)

    def close(self, u):
        """Append the residuals of ``u``, the result of the current pass."""
        self.histories[-1].append(self._level_residual(u, self.level))
        self.model[-1].append(self._model_residual(u, self.level))

    def reopen(self):
        """Continue the current pass (another top-level cycle): its first step records ``u`` again."""
        self.histories[-1].pop()
        self.model[-1].pop()

    def lift(self, ys):
        if self.top is not None:
            self.close(ys[-1])
        self.ys, self.top, self.level = ys, ys[-1], len(ys)
        self.histories.append([])
        self.model.append([])
        return self.ops.lift(ys)

    def down(self, u):
        return self.ops.down(u)

    def correct(self, u, y, d):
        if y is self.top:
            self.histories[-1].append(rms(y - d))
            self.model[-1].append(self._model_residual(u, self.level))
        return self.ops.correct(u, y, d)


def _check_levels(x, levels):
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    from .upscale import max_levels
    top = max_levels(x.shape)
    if levels > top:
        h, w = x.shape[:2]
        raise ValueError(f"levels must be between 1 and {top} for a {h}×{w} image, got {levels}")
    return int(levels)


def mgbp(x, *, levels, mu, iterations=1, g="cubic", p="cubic", mode="reflect", tol=None,
         callback=None, validate=True):
    """Classic Multi-Grid Back-Projection (Algorithm 1): upscale ``x`` by ``2**levels``.

    Parameters
    ----------
    x : array_like
        Input image ``(H, W)`` or ``(H, W, C)``; float32 stays float32, all else float64.
    levels : int
        Number N ≥ 1 of 2× levels (Algorithm 1's L = N + 1); the output is ``2**N`` times larger.
        At most :func:`mgbp_classic.upscale.max_levels` for the image size.
    mu : int
        Back-projection steps µ ≥ 1 at every level: 1 is the V-cycle, 2 the W-cycle (Figure 2).
    iterations : int, optional
        Number of BP^µ cycles run at the *finest* level (≥ 0). 1 (default) is Algorithm 1
        exactly; ``k > 1`` repeats line 4 of MGBP, ``Y_L = BP^µ_L(Y_L, Y_1 … Y_{L-1})``, with the
        coarser levels fixed (one *outer step* per cycle, used to measure convergence rates);
        0 leaves the finest level at its lift ``P(Y_{L-1})``.
    g, p : str or array_like, optional
        Filters of ``D`` and ``P`` (factor 2), as in :func:`mgbp_classic.ibp.ibp`.
    mode : str, optional
        Boundary mode (:mod:`scipy.ndimage` names; ``reflect`` default, ``wrap`` periodic).
    tol : float or None, optional
        Stop the outer cycles once the finest level's residual (see ``histories``) is at most
        ``tol``; warn if it is still above after ``iterations`` cycles. None (default): no test.
    callback : callable, optional
        ``callback(k, step, u)`` after every update at every level ``k`` (1-based, as in
        :func:`back_project`), including the inner cycles.
    validate : bool, optional
        Check the pair ``(g, p)`` before iterating: its IBP rate
        (:func:`mgbp_classic.convergence.check_kernel_pair`; ``ρ > 1`` raises ``ValueError``,
        ``ρ = 1`` warns) and, for pairs not covered by the contraction theorem, the rates of the
        coarser levels (:func:`~mgbp_classic.convergence.check_mgbp_pair`; ``> 1`` warns).

    Returns
    -------
    MGBPResult
        ``levels`` (index 0 the input, index N the ``2**N`` output), ``image`` (the last),
        ``histories`` (level residuals) and ``model_histories`` (model-(4) residuals) per level.

    Warns
    -----
    ConvergenceWarning
        ``tol`` was given and not reached, or a level's back-projection is predicted to diverge.

    Notes
    -----
    At level ``k`` a step ``u ← u + P(Y_{k-1} − BP_{k-1}(D u))`` multiplies the *level residual*
    ``e_k(u) = Y_{k-1} − BP_{k-1}(D u)`` by the fixed linear operator ``I − L_{k-1} D P`` (``L``
    the linear part of the affine map ``BP_{k-1}``); for two levels that is IBP's ``I − D P``.
    It is the level residual, not the model-(4) residual ``X − D^{k-1} u``, that goes to zero;
    see :mod:`mgbp_classic.convergence` and lesson 4 for the rates and the fixed point.
    With ``levels=1`` the result is bit-for-bit ``ibp(x, 2, iterations=mu * iterations, tol=None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.multigrid import mgbp
    >>> x = np.random.default_rng(0).random((12, 10))
    >>> result = mgbp(x, levels=3, mu=2)
    >>> [y.shape for y in result.levels]
    [(12, 10), (24, 20), (48, 40), (96, 80)]
    """
    from .convergence import check_kernel_pair, check_mgbp_pair
    from .resize import Downscale, Upscale

    x = _check_image(x)
    levels = _check_levels(x, levels)
    mu = _check_count(mu, "mu", 1)
    iterations = _check_count(iterations, "iterations", 0)
    tol = _check_tol(tol)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    down = Downscale(2, kernel=g, mode=mode)
    up = Upscale(2, kernel=p, mode=mode)
    rho = None
    if validate:
        rho = check_kernel_pair(down, up)
        check_mgbp_pair(down, up, levels=levels, mu=mu)
    ops = _Recorder(ClassicOperators(down, up), mu)
    if iterations == 0:
        ys = multigrid(x, levels=levels - 1, mu=mu, ops=ops, callback=callback)
        ys.append(ops.lift(ys))
        ops.close(ys[-1])
    else:
        ys = multigrid(x, levels=levels, mu=mu, ops=ops, callback=callback)
        ops.close(ys[-1])
        for _ in range(iterations - 1):
            if tol is not None and ops.histories[-1][-1] <= tol:
                break
            ops.reopen()
            ys[-1] = back_project(ys[-1], levels + 1, ys, mu, ops, callback)
            ops.close(ys[-1])
    histories = [np.asarray(h, dtype=np.float64) for h in ops.histories]
    model = [np.asarray(h, dtype=np.float64) for h in ops.model]
    done = (len(histories[-1]) - 1) // mu if iterations else 0
    converged = tol is None or histories[-1][-1] <= tol
    if not converged:
        warnings.warn(f"MGBP stopped after {done} cycles at the finest level with residual "
                       f"{histories[-1][-1]:.3g} above tol={tol:g}", ConvergenceWarning, stacklevel=2)
    return MGBPResult(levels=ys, histories=histories, model_histories=model, mu=mu,
                      iterations=done, converged=converged, rho=rho)
