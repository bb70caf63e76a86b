"""Convergence of IBP and MGBP: the predicted rates (:mod:`mgbp_classic.spectral`) and the measured ones.

Every name of :mod:`mgbp_classic.spectral` (Fourier symbols, exact predicted rates, matrix-free
cross-checks, the kernel-pair checks the solvers run) is importable from here; this module adds
the measurements, which run the solvers:

:func:`fit_rate` fits ``log ‖e_t‖`` against ``t`` on the tail of a residual history;
:func:`measure_ibp` / :func:`measure_mgbp` run the solvers on an input and fit; :func:`rate_table`
puts prediction (:func:`mgbp_classic.spectral.mgbp_rate`) and measurement side by side, and
:func:`mgbp_classic.plotting.plot_rate_table` draws its histories.

See ``docs/lesson4_convergence.md`` for the experiments.
"""
import numpy as np

from ._validate import ParamError, check_shape
from .ibp import ibp
from .multigrid import mgbp
from .spectral import (DEFAULT_GRID, EXCITATION_THRESHOLD, MGBPRate, check_kernel_pair, check_mgbp_pair,
                       dp_symbol, ibp_contraction, ibp_rate, matrix_free_rate, mgbp_blocks, mgbp_rate,
                       predict_mgbp_history)

__all__ = [
    "DEFAULT_GRID", "EXCITATION_THRESHOLD", "MGBPRate", "check_kernel_pair", "check_mgbp_pair",
    "dp_symbol", "fit_rate", "ibp_contraction", "ibp_rate", "matrix_free_rate", "measure_ibp",
    "measure_mgbp", "mgbp_blocks", "mgbp_rate", "predict_mgbp_history", "rate_table",
]


def fit_rate(history, *, tail=0.5, floor=1e-11):
    """Asymptotic rate of a residual history: ``exp`` of the slope of ``log ‖e_t‖`` on its tail.

    Parameters
    ----------
    history : array_like
        Residual norms ``‖e_0‖, ‖e_1‖, …`` (one per step or per cycle).
    tail : float, optional
        Fraction (0, 1] of the usable history, taken from its end, that the least-squares line
        is fitted to. Default 0.5.
    floor : float, optional
        Values below ``floor · ‖e_0‖`` (round-off level) and everything after them are not used.

    Returns
    -------
    float
        The fitted factor per entry of ``history``; ``nan`` with fewer than 3 usable points.
    """
    h = np.asarray(history, dtype=np.float64).ravel()
    if h.size == 0 or not (0 < tail <= 1):
        raise ParamError("history", f"must be non-empty and tail in (0, 1], got {h.size} values and tail={tail!r}")
    limit = floor * h[0] if h[0] > 0 else floor
    bad = np.nonzero(~(h > limit))[0]
    usable = h[:bad[0]] if bad.size else h
    if usable.size < 3:
        return float("nan")
    start = min(int(np.floor(usable.size * (1 - tail))), usable.size - 3)
    t = np.arange(start, usable.size)
    slope = np.polyfit(t, np.log(usable[start:]), 1)[0]
    return float(np.exp(slope))


def measure_ibp(x, scale=2, *, iterations=60, g="cubic", p="cubic", mode="wrap", tail=0.5):
    """Run IBP on ``x`` and fit its rate per step (see :func:`fit_rate`).

    Returns
    -------
    rate : float
    history : numpy.ndarray
        The RMS residual history of :func:`mgbp_classic.ibp.ibp`.
    """
    result = ibp(x, scale, iterations=iterations, tol=None, g=g, p=p, mode=mode)
    return fit_rate(result.history, tail=tail), result.history


def measure_mgbp(x, *, levels, mu, cycles=60, g="cubic", p="cubic", mode="wrap", tail=0.5):
    """Run MGBP with ``cycles`` outer cycles at the finest level and fit its rate per cycle.

    Returns
    -------
    rate : float
        Fitted contraction of the finest level residual per cycle (µ steps).
    history : numpy.ndarray
        The finest level residual at the start and after each cycle (``histories[-1][::mu]``).
    model_history : numpy.ndarray
        The model-(4) residual ``X − D^N Y`` at the same instants.
    """
    result = mgbp(x, levels=levels, mu=mu, iterations=cycles, g=g, p=p, mode=mode, tol=None)
    hist = result.histories[-1][::mu]
    model = result.model_histories[-1][::mu]
    return fit_rate(hist, tail=tail), hist, model


def _default_cycles(levels, mu):
    """Cycles that reach the asymptotic regime on an 8 × 8 periodic input (see lesson 4)."""
    return {1: 60}.get(levels, 200 if levels % 2 else 400)


def rate_table(*, levels=(1, 2, 3, 4), mu=(1, 2, 3), shape=8, cycles=None, seed=0, g="cubic",
               p="cubic", image=None, mode=None, progress=None):
    """Predicted and measured rates per outer cycle, side by side.

    Parameters
    ----------
    levels, mu : sequence of int
        Cases to run (``levels=1`` is IBP with µ steps per cycle).
    shape : int or (int, int), optional
        Size of the random periodic input (ignored when ``image`` is given).
    cycles : int, optional
        Outer cycles to run; default :func:`_default_cycles` per case.
    seed : int, optional
        Seed of the random input (uniform in [0, 1]).
    g, p : optional
        Kernel pair.
    image : array_like, optional
        Greyscale image to measure on instead of random noise (then ``mode`` defaults to
        ``reflect``).
    mode : {"wrap", "reflect"}, optional
        Boundary mode of the measurement and of the (exact) prediction; default ``wrap`` for
        random input, ``reflect`` for an image.
    progress : callable, optional
        Called with each finished row.

    Returns
    -------
    list of dict
        ``levels, mu, predicted, measured, rel_diff, full, cycles, history, model_history``.
    """
    if image is None:
        n0, n1 = check_shape(shape)
        x = np.random.default_rng(seed).random((n0, n1))
        mode = "wrap" if mode is None else mode
    else:
        x = np.asarray(image, dtype=np.float64)
        if x.ndim != 2:
            raise ParamError("image", f"must be greyscale (H, W), got shape {x.shape}")
        mode = "reflect" if mode is None else mode
    rows = []
    for lv in levels:
        for m in mu:
            k = _default_cycles(lv, m) if cycles is None else int(cycles)
            pred = mgbp_rate(g, p, levels=lv, mu=m, shape=x.shape, mode=mode)
            if lv == 1:
                rate_step, hist = measure_ibp(x, 2, iterations=k * m, g=g, p=p, mode=mode)
                hist = hist[::m]
                model = hist
                measured = fit_rate(hist)
            else:
                measured, hist, model = measure_mgbp(x, levels=lv, mu=m, cycles=k, g=g, p=p, mode=mode)
            row = dict(levels=lv, mu=m, predicted=pred.per_cycle, measured=measured,
                       rel_diff=abs(measured - pred.per_cycle) / pred.per_cycle if pred.per_cycle else float("nan"),
                       full=pred.full ** m, cycles=k, history=hist, model_history=model)
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows
