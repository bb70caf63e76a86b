"""Classic Multi-Grid Back-Projection (Algorithm 1 with the image-space operators): :func:`mgbp`.

The recursion itself is :mod:`mgbp_classic.recursion` (written once, shared with the network and
the Fourier analysis); this module is the classic *solver* beside :func:`mgbp_classic.ibp.ibp`:
it validates its arguments once, checks the kernel pair (:mod:`mgbp_classic.convergence`),
runs the recursion with :class:`~mgbp_classic.recursion.ClassicOperators` and records the residual
history of every level.

Notation and the recursion: :mod:`mgbp_classic.recursion`. Here ``levels = N`` is the number of 2×
levels, so Algorithm 1's L = N + 1.

The recursion's names (:func:`~mgbp_classic.recursion.multigrid`,
:func:`~mgbp_classic.recursion.back_project`, :class:`~mgbp_classic.recursion.ClassicOperators`,
:class:`~mgbp_classic.recursion.TracingOperators`) are importable from here too.
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validate import check_array, check_callback, check_int, check_levels, check_tol
from .exceptions import ConvergenceWarning
from .metrics import rms
from .recursion import ClassicOperators, TracingOperators, back_project, multigrid
from .resize import Downscale, Upscale
from .spectral import check_kernel_pair, check_mgbp_pair

__all__ = ["ClassicOperators", "MGBPResult", "TracingOperators", "back_project", "mgbp", "multigrid",
           "upscale_mgbp"]


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


def mgbp(x, *, levels, mu, iterations=1, g="cubic", p="cubic", mode="reflect", tol=None,
         callback=None, validate=True):
    """Classic Multi-Grid Back-Projection (Algorithm 1): upscale ``x`` by ``2**levels``.

    Parameters
    ----------
    x : array_like
        Input image ``(H, W)`` or ``(H, W, C)``; float32 stays float32, all else float64.
    levels : int
        Number N ≥ 1 of 2× levels (Algorithm 1's L = N + 1); the output is ``2**N`` times larger.
        At most :func:`mgbp_classic.pipeline.upscale.max_levels` for the image size.
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
    x = check_array(x, "x")
    levels = check_levels(levels, x.shape)
    mu = check_int(mu, "mu", minimum=1)
    iterations = check_int(iterations, "iterations", minimum=0)
    return _mgbp(x, levels=levels, mu=mu, iterations=iterations, g=g, p=p, mode=mode, tol=tol,
                 callback=callback, validate=validate)


def _mgbp(x, *, levels, mu, iterations, g, p, mode, tol, callback, validate):
    """:func:`mgbp` once ``x``, ``levels``, ``mu`` and ``iterations`` are validated."""
    tol = check_tol(tol)
    callback = check_callback(callback)
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
                      f"{histories[-1][-1]:.3g} above tol={tol:g}", ConvergenceWarning, stacklevel=3)
    return MGBPResult(levels=ys, histories=histories, model_histories=model, mu=mu,
                      iterations=done, converged=converged, rho=rho)


def upscale_mgbp(image, *, levels, mu, iterations, tol=None, g="cubic", p="cubic", mode="reflect",
                 callback=None, validate=True):
    """The ``mgbp`` method of :func:`mgbp_classic.pipeline.upscale.upscale`: ``[Y_2, …, Y_(N+1)]``.

    ``image``, ``levels``, ``mu`` and ``iterations`` come validated from ``upscale``; a fixed cycle
    budget is the point there, so an unreached ``tol`` does not warn.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = _mgbp(image, levels=levels, mu=mu, iterations=iterations, g=g, p=p, mode=mode, tol=tol,
                       callback=callback, validate=validate)
    return list(result.levels[1:])
