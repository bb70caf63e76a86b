"""Classic Iterative Back-Projection (Irani and Peleg 1991), eqs. 2–3 of the paper.

Given a low-resolution image ``X`` and the image-formation model (1) ``X = (Y ∗ g) ↓ s = D(Y)``,
IBP starts from an upscaled image ``Y_0`` (default: the classic upscale ``P(X)``) and iterates::

    e(Y_k)  = X − (Y_k ∗ g) ↓ s          (2)   the mismatch on the low-resolution grid
    Y_{k+1} = Y_k + (e(Y_k) ↑ s) ∗ p     (3)   back-projected with the upscaler P

The residual obeys ``e(Y_{k+1}) = (I − D P) e(Y_k)`` exactly, so it shrinks geometrically when the
kernel pair ``(g, p)`` is contractive (spectral radius of ``I − D P`` below one); see
:mod:`mgbp_classic.convergence`, which also checks the pair before any iteration.

This is the classic solver beside :func:`mgbp_classic.multigrid.mgbp` (Algorithm 1 with two levels
is this iteration at factor 2).
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validate import ParamError, check_array, check_callback, check_int, check_tol
from .exceptions import ConvergenceWarning
from .metrics import rms
from .resize import Downscale, Upscale
from .spectral import check_kernel_pair

__all__ = ["IBPResult", "ibp", "rms", "upscale_ibp"]


@dataclass
class IBPResult:
    """Result of :func:`ibp`.

    Attributes
    ----------
    image : numpy.ndarray
        The back-projected high-resolution image ``Y`` (same dtype as the input).
    history : numpy.ndarray
        RMS of the low-resolution residual ``X − D(Y)`` at the start and after every step
        (length ``steps + 1``), float64.
    steps : int
        Number of back-projection steps taken.
    converged : bool
        Whether the last residual is at most ``tol`` (always True when ``tol`` is None).
    rho : float or None
        Predicted contraction per step of the kernel pair (spectral radius of ``I − D P`` under
        periodic boundaries), or None when the check was skipped.
    """

    image: np.ndarray
    history: np.ndarray = field(repr=False)
    steps: int = 0
    converged: bool = True
    rho: float = None


def ibp(x, scale, *, iterations=30, tol=1e-4, g="cubic", p="cubic", mode="reflect", y0=None,
        callback=None, validate=True):
    """Iterative Back-Projection: upscale ``x`` by ``scale`` enforcing ``x = D(y)`` (eqs. 2–3).

    Parameters
    ----------
    x : array_like
        Low-resolution image ``(h, w)`` or ``(h, w, C)``, values nominally in [0, 1].
        float32 stays float32, everything else becomes float64.
    scale : int
        Integer factor ``s ≥ 2``.
    iterations : int, optional
        Maximum number of back-projection steps (≥ 0). Default 30.
    tol : float or None, optional
        Stop as soon as the RMS residual ``‖x − D(y)‖`` is at most ``tol``; ``None`` always runs
        ``iterations`` steps and never warns. Default 1e-4 (one 8-bit grey level is
        1/255 ≈ 4e-3).
    g, p : str or array_like, optional
        Down-scaling filter ``g`` of ``D`` and upscaling filter ``p`` of ``P``: a kernel name
        (``"cubic"`` default, ``"linear"``, ``"lanczos2"``, ``"lanczos3"``, ``"box"``; MATLAB
        ``imresize`` filters) or an explicit fine-grid filter, 1-D (separable) or 2-D; see
        :class:`mgbp_classic.resize.Downscale` and :class:`~mgbp_classic.resize.Upscale`.
    mode : str, optional
        Boundary mode of both operators (:mod:`scipy.ndimage` names): ``reflect`` (default,
        MATLAB ``symmetric``), ``mirror``, ``wrap`` (periodic), ``nearest``, ``constant``.
    y0 : array_like, optional
        Starting high-resolution image ``(s·h, s·w[, C])``; default ``P(x)``.
    callback : callable, optional
        Called as ``callback(step, y, residual)`` after every step (``step`` from 1).
    validate : bool, optional
        Check before iterating that the pair ``(g, p)`` is contractive
        (:func:`mgbp_classic.convergence.check_kernel_pair`): a pair with predicted ``ρ > 1``
        raises ``ValueError``, one with ``ρ = 1`` warns. Default True.

    Returns
    -------
    IBPResult
        ``image``, ``history`` (RMS residual at the start and after each step), ``steps``,
        ``converged`` and the predicted contraction ``rho``.

    Warns
    -----
    ConvergenceWarning
        When ``tol`` is given and the residual is still above it after ``iterations`` steps.

    Notes
    -----
    The residual satisfies ``e_{k+1} = (I − D P) e_k`` exactly, so with periodic boundaries
    ``‖e_k‖ ≤ ρ^k ‖e_0‖`` with ``ρ = max_ω |1 − H(ω)|`` and ``H`` the aliasing sum of
    ``conj(Ĝ) P̂`` (:func:`mgbp_classic.convergence.ibp_rate`). For the default bicubic pair
    ``ρ ≈ 0.777`` at ``s = 2``.

    References
    ----------
    M. Irani, S. Peleg, "Improving resolution by image registration", CVGIP 53(3), 1991.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.ibp import ibp
    >>> x = np.random.default_rng(0).random((16, 16))
    >>> result = ibp(x, 2, iterations=10, tol=None)
    >>> result.image.shape, len(result.history)
    ((32, 32), 11)
    >>> bool(result.history[-1] < 0.1 * result.history[0])          # ρ ≈ 0.78 per step
    True
    """
    x = check_array(x, "x")
    s = check_int(scale, "scale", minimum=2)
    iterations = check_int(iterations, "iterations", minimum=0)
    return _ibp(x, s, iterations=iterations, tol=tol, g=g, p=p, mode=mode, y0=y0, callback=callback,
                validate=validate)


def _ibp(x, s, *, iterations, tol, g, p, mode, y0, callback, validate):
    """:func:`ibp` once ``x``, ``s`` and ``iterations`` are validated."""
    tol = check_tol(tol)
    callback = check_callback(callback)
    down = Downscale(s, kernel=g, mode=mode)
    up = Upscale(s, kernel=p, mode=mode)
    rho = check_kernel_pair(down, up) if validate else None
    if y0 is None:
        y = up.apply(x)
    else:
        y = check_array(y0, "y0")
        want = (s * x.shape[0], s * x.shape[1]) + x.shape[2:]
        if y.shape != want:
            raise ParamError("y0", f"must have shape {want} (scale × the shape of x), got {y.shape}")
        y = y.astype(x.dtype, copy=True)
    y, history = _iterate(x, y, down, up, iterations, tol, callback)
    steps = len(history) - 1
    converged = tol is None or history[-1] <= tol
    if not converged:
        warnings.warn(f"IBP stopped after {steps} iterations with RMS residual {history[-1]:.3g} "
                      f"above tol={tol:g} (predicted rate per step {rho if rho is not None else float('nan'):.4f})",
                      ConvergenceWarning, stacklevel=3)
    return IBPResult(image=y, history=np.asarray(history), steps=steps, converged=converged, rho=rho)


def _iterate(x, y, down, up, iterations, tol, callback):
    """The iteration itself (no validation); returns ``(y, history)``."""
    e = x - down.apply(y)                             # (2)
    history = [rms(e)]
    for step in range(1, iterations + 1):
        if tol is not None and history[-1] <= tol:
            break
        y = y + up.apply(e)                           # (3)
        e = x - down.apply(y)                         # (2) for the next step
        history.append(rms(e))
        if callback is not None:
            callback(step, y, history[-1])
    return y, history


def upscale_ibp(image, *, levels, mu, iterations, final_only=False, tol=None, g="cubic", p="cubic",
                mode="reflect", validate=True):
    """The ``ibp`` method of :func:`mgbp_classic.pipeline.upscale.upscale`: IBP at 2×, 4×, …, ``2**levels``×.

    Each level is IBP at its own factor from the bicubic start (``None`` for all but the last with
    ``final_only``). ``image``, ``levels`` and ``iterations`` come validated from ``upscale``; ``mu``
    is not used; a fixed iteration budget is the point there, so an unreached ``tol`` does not warn.
    """
    out = []
    for k in range(1, levels + 1):
        if final_only and k < levels:
            out.append(None)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            out.append(_ibp(image, 2 ** k, iterations=iterations, tol=tol, g=g, p=p, mode=mode, y0=None,
                            callback=None, validate=validate).image)
    return out
