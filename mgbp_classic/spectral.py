"""Convergence of IBP and MGBP, predicted: exact rates from the Fourier symbols, matrix-free cross-checks.

The spectral half of :mod:`mgbp_classic.convergence` (which re-exports every name here): it runs no
solver, so the solvers can import it for :func:`check_kernel_pair` and :func:`check_mgbp_pair`.

Everything here is exact for periodic boundaries (``mode="wrap"``), where the operators
``D(Y) = (Y ∗ g) ↓ s`` and ``P(X) = (X ↑ s) ∗ p`` act on DFT coefficients as documented in
:class:`mgbp_classic.resize.Downscale` / :class:`~mgbp_classic.resize.Upscale`::

    D:  X̂(k) = s⁻² Σ_r conj(Ĝ(k + rN)) Ŷ(k + rN)        (the s² aliases of k on the fine grid)
    P:  Ŷ(m) = P̂(m) X̂(m mod N)

**IBP.** One step multiplies the low-resolution residual ``e = X − D(Y)`` by ``T = I − D P``, which
is diagonal in Fourier with symbol ``1 − H(k)``, ``H(k) = s⁻² Σ_r conj(Ĝ) P̂`` (:func:`dp_symbol`).
Its spectral radius ``ρ = max_k |1 − H(k)|`` (:func:`ibp_rate`) is the rate per step, and
``|1 − H(k)|`` the contraction of frequency ``k`` (:func:`ibp_contraction`).

**MGBP.** ``BP^µ_k`` is affine in its input, ``BP_k(u) = L_k u + c_k`` with ``L_1 = I`` and
``L_k = (I − P L_{k-1} D)^µ``. A step at level ``k`` multiplies the *level residual*
``e_k(u) = Y_{k-1} − BP_{k-1}(D u)`` by ``E_k = I − L_{k-1} D P`` (for ``k = 2``: ``E = T``,
IBP). Under periodic boundaries all these operators are block diagonal in Fourier: a frequency
``k`` of the input grid couples with its ``4^j`` aliases on level ``j``; :func:`mgbp_rate` builds
the blocks, runs the *same* recursion :func:`mgbp_classic.multigrid.back_project` on them to get
the residual that the data excites, and returns the spectral radius of ``E`` restricted to it
(and the unrestricted one). :func:`matrix_free_rate` recomputes the unrestricted radius from the
actual image operators with an Arnoldi (power-iteration family) eigensolver.

**Measurement** (running the solvers and fitting their histories) is :mod:`mgbp_classic.convergence`;
the figures are :mod:`mgbp_classic.plotting`.

**Check.** :func:`check_kernel_pair` is what :func:`~mgbp_classic.ibp.ibp` and
:func:`~mgbp_classic.multigrid.mgbp` call before iterating: a pair with ``ρ > 1`` (e.g. ``p``
with three times the right gain) raises, ``ρ = 1`` warns, with the predicted ``ρ`` in the message.

See ``docs/lesson4_convergence.md`` for the theorem, its proof and the experiments.
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validate import ParamError, check_int, check_shape
from .exceptions import ConvergenceWarning
from .recursion import ClassicOperators, back_project, multigrid
from .resize import Downscale, Upscale

__all__ = [
    "DEFAULT_GRID", "EXCITATION_THRESHOLD", "MGBPRate", "check_kernel_pair", "check_mgbp_pair",
    "dp_symbol", "ibp_contraction", "ibp_rate", "matrix_free_rate", "mgbp_blocks", "mgbp_rate",
    "predict_mgbp_history",
]

#: Low-resolution frequency grid (per axis) on which the sup over frequencies is taken when no
#: grid is given (it contains the zero and the Nyquist frequencies).
DEFAULT_GRID = 64


# ---------------------------------------------------------------------------------------------
# operators and their frequency responses
# ---------------------------------------------------------------------------------------------
def _operators(g, p, scale, mode="wrap"):
    """``(Downscale, Upscale)`` from kernel specs or ready operators (their mode is kept)."""
    down = g if isinstance(g, Downscale) else Downscale(scale, kernel=g, mode=mode)
    up = p if isinstance(p, Upscale) else Upscale(scale, kernel=p, mode=mode)
    if down.scale != up.scale:
        raise ParamError("p", f"g and p must have the same scale, got {down.scale} and {up.scale}", subject="")
    return down, up


def _response(op, size):
    """DFT of the operator's fine-grid filter on a ``size`` grid, with its origin phase.

    ``R[m0, m1] = Σ_{a,b} f[a, b] exp(−2πi (m0 (a + o0)/M0 + m1 (b + o1)/M1))``.
    """
    f = np.asarray(op.filter2d, dtype=np.float64)
    o0, o1 = op.origin
    m0, m1 = size
    e0 = np.exp(-2j * np.pi * np.outer(np.arange(m0), np.arange(f.shape[0]) + o0) / m0)
    e1 = np.exp(-2j * np.pi * np.outer(np.arange(m1), np.arange(f.shape[1]) + o1) / m1)
    return e0 @ f @ e1.T


def _block_response(op, n0, n1, side, rows):
    """Response of ``op`` on the ``(n0·side, n1·side)`` grid, gathered into alias blocks.

    Returns ``(len(rows), n1, side²)``: entry ``[i, k1, b0·side + b1]`` is the response at fine
    index ``(rows[i] + n0·b0, k1 + n1·b1)`` (the aliases of input frequency ``(rows[i], k1)``).
    """
    f = np.asarray(op.filter2d, dtype=np.float64)
    o0, o1 = op.origin
    m0 = (np.asarray(rows)[:, None] + n0 * np.arange(side)[None, :]).ravel()
    e0 = np.exp(-2j * np.pi * np.outer(m0, np.arange(f.shape[0]) + o0) / (n0 * side))
    e1 = np.exp(-2j * np.pi * np.outer(np.arange(n1 * side), np.arange(f.shape[1]) + o1) / (n1 * side))
    r = (e0 @ f @ e1.T).reshape(len(rows), side, side, n1)
    return r.transpose(0, 3, 1, 2).reshape(len(rows), n1, side * side)


def dp_symbol(g="cubic", p="cubic", scale=2, *, shape=DEFAULT_GRID):
    """Fourier symbol ``H`` of ``D P`` on a periodic low-resolution grid.

    Parameters
    ----------
    g, p : str, array_like, Downscale or Upscale, optional
        The filters (kernel name, explicit 1-D separable or 2-D non-separable filter) or ready
        :class:`~mgbp_classic.resize.Downscale` / :class:`~mgbp_classic.resize.Upscale` operators.
    scale : int, optional
        Factor ``s`` (ignored when operators are given).
    shape : int or (int, int), optional
        Low-resolution grid ``(n0, n1)``; frequencies ``2π k / n``.

    Returns
    -------
    numpy.ndarray
        Complex ``(n0, n1)``: ``H[k] = s⁻² Σ_{r ∈ {0..s-1}²} conj(Ĝ(k + r n)) P̂(k + r n)``, so that
        ``fft2(D(P(x))) = H · fft2(x)`` exactly for periodic ``x``. The symbol of ``I − D P`` is
        ``1 − H``.

    Examples
    --------
    >>> H = dp_symbol("cubic", "cubic", 2, shape=8)
    >>> round(float(H[0, 0].real), 12), round(float(abs(1 - H).max()), 4)
    (1.0, 0.7766)
    """
    down, up = _operators(g, p, scale)
    s = down.scale
    n0, n1 = check_shape(shape)
    size = (s * n0, s * n1)
    prod = np.conj(_response(down, size)) * _response(up, size) / s ** 2
    return prod.reshape(s, n0, s, n1).sum(axis=(0, 2))


def ibp_contraction(g="cubic", p="cubic", scale=2, *, shape=DEFAULT_GRID):
    """Per-frequency contraction ``|1 − H(k)|`` of one IBP step (periodic boundaries).

    Parameters
    ----------
    g, p, scale, shape
        As in :func:`dp_symbol`.

    Returns
    -------
    numpy.ndarray
        ``(n0, n1)`` array, frequency ``k`` in DFT order (use ``np.fft.fftshift`` to centre it).
    """
    return np.abs(1.0 - dp_symbol(g, p, scale, shape=shape))


def ibp_rate(g="cubic", p="cubic", scale=2, *, shape=DEFAULT_GRID):
    """Predicted IBP rate per step: the spectral radius ``ρ = max_k |1 − H(k)|`` of ``I − D P``.

    Parameters
    ----------
    g, p, scale, shape
        As in :func:`dp_symbol`. On a periodic ``shape`` grid this is exact; the default grid
        approximates the supremum over all frequencies.

    Returns
    -------
    float

    Notes
    -----
    ``T = I − D P`` is diagonal in Fourier, hence normal: ``‖T^t e‖ ≤ ρ^t ‖e‖`` with no
    transient constant, and the rate is attained by any residual with energy at the worst
    frequency. For the default bicubic pair ``p = 2 gᵀ`` (up to a shift), so ``H`` is real in
    ``[0, 1]``; ``ρ = 1 − H(π, π) ≈ 0.7766`` at ``s = 2``.
    """
    return float(ibp_contraction(g, p, scale, shape=shape).max())


def _pair_key(op):
    return (type(op).__name__, op.scale, tuple(op.origin), op.filter2d.shape, op.filter2d.tobytes())


_RATE_CACHE = {}


def check_kernel_pair(g="cubic", p="cubic", scale=2):
    """Check that the pair ``(g, p)`` makes IBP (and level 2 of MGBP) contract; return ``ρ``.

    Parameters
    ----------
    g, p : str, array_like, Downscale or Upscale
        The filters or operators (as in :func:`dp_symbol`).
    scale : int, optional
        Factor (ignored when operators are given).

    Returns
    -------
    float
        The predicted rate per step ``ρ`` (:func:`ibp_rate` on the default grid).

    Raises
    ------
    ValueError
        ``ρ > 1``: the residual grows at some frequency and the iteration diverges.

    Warns
    -----
    ConvergenceWarning
        ``ρ = 1`` (to 1e-9): some frequency of the residual is never reduced.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.resize import Upscale
    >>> round(check_kernel_pair("cubic", "cubic"), 4)
    0.7766
    >>> try:
    ...     check_kernel_pair("cubic", 3 * Upscale(2).filter2d)
    ... except ValueError as err:
    ...     print(str(err).split(" (the")[0])
    kernel pair (g, p) is not contractive at scale 2: rho = 2
    """
    down, up = _operators(g, p, scale)
    key = (_pair_key(down), _pair_key(up))
    rho = _RATE_CACHE.get(key)
    if rho is None:
        if len(_RATE_CACHE) > 256:
            _RATE_CACHE.clear()
        rho = _RATE_CACHE[key] = ibp_rate(down, up)
    if rho > 1 + 1e-9:
        raise ParamError("g", f"kernel pair (g, p) is not contractive at scale {down.scale}: rho = {rho:.4g} "
                         f"(the spectral radius of I - D P) must be < 1, the back-projection would diverge; "
                         f"check the gains (sum of p per axis should be {down.scale}, of g 1)", subject="")
    if rho > 1 - 1e-9:
        warnings.warn(f"kernel pair (g, p) is not strictly contractive at scale {down.scale}: rho = {rho:.6g}; "
                      "some frequency of the residual is never reduced", ConvergenceWarning, stacklevel=3)
    return rho


def _matched(down, up):
    """Whether ``P = s² Dᵀ`` exactly (same origin, ``p = s² g`` as 2-D filters), e.g. every named pair."""
    s = down.scale
    return (tuple(down.origin) == tuple(up.origin) and down.filter2d.shape == up.filter2d.shape
            and np.allclose(up.filter2d, s * s * down.filter2d, rtol=1e-12, atol=1e-15))


def check_mgbp_pair(g="cubic", p="cubic", *, levels, mu):
    """Check that every level of MGBP contracts its level residual; warn otherwise.

    Parameters
    ----------
    g, p : str, array_like, Downscale or Upscale
        Filters or factor-2 operators.
    levels, mu : int
        The MGBP configuration.

    Returns
    -------
    float or None
        The largest predicted rate per step over levels 2 … min(levels, 3) on an 8 × 8 periodic
        grid, or None when no computation is needed: one level (IBP, see
        :func:`check_kernel_pair`), or a *matched* pair (``P = s² Dᵀ``) whose ``D P`` does not
        amplify any frequency (``0 ≤ H ≤ 1``), for which every level provably contracts
        (lesson 4, theorem 3).

    Warns
    -----
    ConvergenceWarning
        Some level's back-projection makes its residual grow (rate > 1); e.g. the Lanczos-3 pair
        (``max H ≈ 1.057``) with ``levels ≥ 2`` and odd ``mu``.
    """
    down, up = _operators(g, p, 2)
    levels = check_int(levels, "levels", minimum=1)
    mu = check_int(mu, "mu", minimum=1)
    if levels < 2:
        return None
    key = ("mgbp", _pair_key(down), _pair_key(up), min(levels, 3), mu)
    worst = _RATE_CACHE.get(key, False)
    if worst is False:
        h = dp_symbol(down, up, shape=DEFAULT_GRID)
        if _matched(down, up) and h.real.max() <= 1 + 1e-12:
            worst = None
        else:
            worst = max(mgbp_rate(down, up, levels=k, mu=mu, shape=8).per_step
                        for k in range(2, min(levels, 3) + 1))
        _RATE_CACHE[key] = worst
    if worst is not None and worst > 1 + 1e-9:
        warnings.warn(f"kernel pair (g, p) makes MGBP's back-projection diverge with mu={mu}: the level "
                      f"residual grows by rho = {worst:.4g} per step (D P amplifies some frequency)",
                      ConvergenceWarning, stacklevel=3)
    return worst


# ---------------------------------------------------------------------------------------------
# MGBP: the block-diagonal Fourier form
# ---------------------------------------------------------------------------------------------
class _BlockOperators:
    """D and P between levels as per-frequency matrices, with the :func:`multigrid` protocol.

    Level ``j`` (0 = input) has ``2^j × 2^j`` coefficients per input frequency, stored as
    ``(R, n1, 4^j)`` arrays for the input-frequency rows ``rows`` (``R`` of them). ``D[j]`` maps
    level ``j`` to ``j − 1``, ``P[j]`` the reverse.
    """

    def __init__(self, down, up, n0, n1, top, rows):
        s = down.scale
        self.D, self.P, self.level = {}, {}, {1: 0}
        for j in range(1, top + 1):
            side, cside = s ** j, s ** (j - 1)
            gb = np.conj(_block_response(down, n0, n1, side, rows)) / s ** 2
            pb = _block_response(up, n0, n1, side, rows)
            b = np.arange(side)
            coarse = ((b[:, None] % cside) * cside + (b[None, :] % cside)).ravel()
            fine = np.arange(side * side)
            dmat = np.zeros(gb.shape[:2] + (cside * cside, side * side), complex)
            pmat = np.zeros(gb.shape[:2] + (side * side, cside * cside), complex)
            dmat[:, :, coarse, fine] = gb
            pmat[:, :, fine, coarse] = pb
            self.D[j], self.P[j] = dmat, pmat
            self.level[side * side] = j

    def initial(self, x):
        return x

    def lift(self, ys):
        j = self.level[ys[-1].shape[-1]] + 1
        return np.einsum("...fc,...c->...f", self.P[j], ys[-1])

    def down(self, u):
        return np.einsum("...cf,...f->...c", self.D[self.level[u.shape[-1]]], u)

    def correct(self, u, y, d):
        return u + np.einsum("...fc,...c->...f", self.P[self.level[u.shape[-1]]], y - d)


@dataclass
class _Blocks:
    E: np.ndarray          # (n0, n1, S, S): level-residual step operator at the finest level
    e0: np.ndarray         # (n0, n1, S): initial level residual per unit input coefficient
    shape: tuple


def mgbp_blocks(g="cubic", p="cubic", *, levels, mu, shape=16, rows=None):
    """Block-diagonal Fourier form of MGBP's finest-level iteration (periodic boundaries).

    Parameters
    ----------
    g, p : str, array_like, Downscale or Upscale, optional
        Filters or factor-2 operators.
    levels : int
        Number N ≥ 1 of 2× levels.
    mu : int
        Steps µ ≥ 1 per level.
    shape : int or (int, int), optional
        Input (level-0) grid ``(n0, n1)``.
    rows : array_like of int, optional
        Only these input-frequency rows ``k0`` (default all ``0 … n0 − 1``); bounds memory.

    Returns
    -------
    E : numpy.ndarray
        ``(R, n1, S, S)`` with ``S = 4^{N-1}``: per input frequency ``k``, the matrix of one step
        ``e ← E e`` of the level residual ``e = Y_N − BP_N(D u)`` on level ``N − 1`` (the level
        below the output; 0-based), acting on the DFT coefficients of ``e`` at the ``4^{N-1}``
        aliases of ``k``: entry ``b0·2^{N-1} + b1`` is the coefficient at ``(k0 + n0·b0, k1 + n1·b1)``.
    e0 : numpy.ndarray
        ``(R, n1, S)``: the level residual of the first estimate ``P(Y_N)`` of Algorithm 1 for an
        input whose DFT is 1 at every frequency; for an input ``x`` multiply by ``fft2(x)[k]``.

    Notes
    -----
    ``E = I − L_{N-1} diag(H_N)`` with ``H_N`` the symbol of ``D P`` on level ``N − 1`` and
    ``L_j = (I − P_j L_{j-1} D_j)^µ``, ``L_0 = I``, the linear part of ``BP`` at level ``j``.
    ``e0`` is computed by running :func:`mgbp_classic.multigrid.multigrid` and
    :func:`~mgbp_classic.multigrid.back_project` on the block operators.
    """
    down, up = _operators(g, p, 2)
    if down.scale != 2:
        raise ParamError("g", f"g and p must be factor-2 operators for MGBP, got scale {down.scale}", subject="")
    levels = check_int(levels, "levels", minimum=1)
    mu = check_int(mu, "mu", minimum=1)
    n0, n1 = check_shape(shape)
    rows = np.arange(n0) if rows is None else np.asarray(rows, dtype=np.int64)
    top = levels - 1                                      # level of the residual (0-based)
    ops = _BlockOperators(down, up, n0, n1, top, rows)
    side = 2 ** top
    fine = np.conj(_block_response(down, n0, n1, 2 * side, rows)) * _block_response(up, n0, n1, 2 * side, rows)
    hn = fine.reshape(len(rows), n1, 2, side, 2, side).sum(axis=(2, 4)).reshape(len(rows), n1, side * side) / 4
    lin = np.ones((len(rows), n1, 1, 1), complex)
    for j in range(1, top + 1):
        step = np.eye(4 ** j) - ops.P[j] @ lin @ ops.D[j]
        lin = np.linalg.matrix_power(step, mu)
    E = np.eye(4 ** top) - lin * hn[:, :, None, :]
    ys = multigrid(np.ones((len(rows), n1, 1), complex), levels=top, mu=mu, ops=ops)
    e0 = ys[-1] - back_project(hn * ys[-1], levels, ys, mu, ops)
    return _Blocks(E=E, e0=e0, shape=(n0, n1))


#: Relative amplitude below which a mode of the level residual counts as not excited: such a mode
#: stays below round-off (and below :func:`~mgbp_classic.convergence.fit_rate`'s floor) for ever.
EXCITATION_THRESHOLD = 1e-10


def _excited_radius(E, e0, total, threshold=EXCITATION_THRESHOLD):
    """Per block: largest ``|λ|`` of ``E`` over the eigenmodes that ``e0`` excites, and over all.

    ``e0`` is expanded in the eigenvectors of each block, ``e0 = Σ_j c_j v_j`` (``‖v_j‖ = 1``); mode
    ``j`` counts when ``|c_j| > threshold · total`` with ``total`` the norm of ``e0`` over all
    blocks (the norm of the whole residual image up to a constant).
    """
    lam, vec = np.linalg.eig(E)                                       # (..., S), (..., S, S)
    coef = np.linalg.solve(vec, e0[..., None])[..., 0]
    amp = np.abs(coef) * np.linalg.norm(vec, axis=-2)
    excited = amp > threshold * total
    return np.where(excited, np.abs(lam), 0.0).max(axis=-1), np.abs(lam).max(axis=-1)


@dataclass
class MGBPRate:
    """Predicted contraction of MGBP's finest-level iteration (see :func:`mgbp_rate`).

    Attributes
    ----------
    levels, mu : int
    shape : (int, int)
        Input grid.
    per_step : float
        Rate per BP step of the level residual, for the modes the data excites.
    per_cycle : float
        ``per_step ** mu``: per outer step (one BP^µ cycle at the finest level).
    full : float
        Spectral radius of the step operator over *all* modes (including never-excited ones).
    frequency_map : numpy.ndarray
        ``(n0, n1)``: the per-step rate of each input frequency block (data-excited part), DFT order.
    """

    levels: int
    mu: int
    shape: tuple
    per_step: float
    per_cycle: float
    full: float
    frequency_map: np.ndarray = field(repr=False)


def mgbp_rate(g="cubic", p="cubic", *, levels, mu, shape=16, mode="wrap"):
    """Predicted rate of MGBP's finest level on a ``shape`` input (exact for ``wrap`` and ``reflect``).

    Parameters
    ----------
    g, p : str, array_like, Downscale or Upscale, optional
        Filters or factor-2 operators.
    levels : int
        Number N ≥ 1 of 2× levels (``levels=1`` is IBP).
    mu : int
        Steps µ ≥ 1 per level.
    shape : int or (int, int), optional
        Input grid ``(n0, n1)``.
    mode : {"wrap", "reflect"}, optional
        Boundary mode. ``reflect`` (MATLAB ``symmetric``) is exact too for filters symmetric about
        the pixel centres (the named kernels): an ``n0 × n1`` image with reflected boundaries
        evolves exactly as its ``2n0 × 2n1`` mirror-symmetric extension with periodic ones,
        whose DFT vanishes at the Nyquist indices ``n0`` and ``n1`` (the DCT-II picture).

    Returns
    -------
    MGBPRate
        ``per_step`` and ``per_cycle`` for the modes a generic input excites, ``full`` over all
        modes, and the per-frequency ``frequency_map`` (on the doubled grid for ``reflect``).

    Notes
    -----
    The level residual obeys ``e_{t+1} = E e_t`` exactly (each frequency block separately).
    A generic input puts ``e_0`` along a fixed vector ``e0[k]`` in each block, so the asymptotic
    rate is the largest ``|λ|`` among the eigenmodes of ``E`` that ``e0`` excites. Some modes are
    never excited: by the symmetry of the filters their amplitude is zero in exact arithmetic
    (round-off, ~1e-15, in practice), and the rate they would give (``full``) is never seen.
    A mode counts as excited when its amplitude exceeds :data:`EXCITATION_THRESHOLD` times the
    residual's norm.

    Examples
    --------
    >>> r = mgbp_rate(levels=1, mu=1, shape=8)
    >>> round(r.per_step, 4)
    0.7766
    >>> round(mgbp_rate(levels=1, mu=1, shape=8, mode="reflect").per_step, 4)
    0.734
    """
    n0, n1 = check_shape(shape)
    if mode not in ("wrap", "reflect"):
        raise ParamError("mode", f"must be 'wrap' or 'reflect' for an exact prediction, got {mode!r}")
    grid = (n0, n1) if mode == "wrap" else (2 * n0, 2 * n1)
    size = 4 ** (check_int(levels, "levels", minimum=1) - 1)
    chunk = max(1, int(2e6 // (grid[1] * size * size)))               # rows per chunk: bounded memory
    parts = []
    for start in range(0, grid[0], chunk):
        rows = np.arange(start, min(grid[0], start + chunk))
        blocks = mgbp_blocks(g, p, levels=levels, mu=mu, shape=grid, rows=rows)
        e0 = blocks.e0
        if mode == "reflect":                    # the symmetric extension has no Nyquist terms
            e0 = e0.copy()
            e0[rows == n0] = 0
            e0[:, n1] = 0
        parts.append((blocks.E, e0))
    total = np.sqrt(sum(np.sum(np.abs(e0) ** 2) for _, e0 in parts))
    count = sum(e0.size for _, e0 in parts)
    if total <= 1e-12 * np.sqrt(count):               # D P = I (e.g. box pair): nothing to contract
        total = np.inf
    maps = [_excited_radius(E, e0, total) for E, e0 in parts]
    fmap = np.concatenate([m[0] for m in maps])
    full = float(max(m[1].max() for m in maps))
    per_step = float(fmap.max())
    return MGBPRate(levels=int(levels), mu=int(mu), shape=(n0, n1), per_step=per_step,
                    per_cycle=per_step ** int(mu), full=full, frequency_map=fmap)


def _symmetric_extension(x):
    return np.block([[x, x[:, ::-1]], [x[::-1], x[::-1, ::-1]]])


def predict_mgbp_history(x, *, levels, mu, cycles, g="cubic", p="cubic", mode="wrap"):
    """Exact finest-level residual history of MGBP on ``x``, from the Fourier form.

    Parameters
    ----------
    x : array_like
        Greyscale input ``(n0, n1)``.
    levels, mu : int
        As in :func:`mgbp_classic.multigrid.mgbp`.
    cycles : int
        Number of outer cycles.
    g, p : optional
        Kernel pair.
    mode : {"wrap", "reflect"}, optional
        Boundary mode (``reflect`` through the mirror-symmetric extension, see :func:`mgbp_rate`).

    Returns
    -------
    numpy.ndarray
        RMS of the level residual at the start and after each cycle (length ``cycles + 1``):
        what ``mgbp(x, levels=levels, mu=mu, iterations=cycles, mode=mode).histories[-1][::mu]``
        measures (``levels=1``: the IBP history every µ steps).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ParamError("x", f"must be a greyscale (H, W) array, got shape {x.shape}")
    if mode not in ("wrap", "reflect"):
        raise ParamError("mode", f"must be 'wrap' or 'reflect' for an exact prediction, got {mode!r}")
    if mode == "reflect":
        x = _symmetric_extension(x)
    blocks = mgbp_blocks(g, p, levels=levels, mu=mu, shape=x.shape)
    coef = np.fft.fft2(x)[:, :, None] * blocks.e0              # (n0, n1, S) DFT coefficients
    step = np.linalg.matrix_power(blocks.E, int(mu))
    count = coef.shape[0] * coef.shape[1] * coef.shape[2]      # pixels of the residual image
    out = []
    for _ in range(int(cycles) + 1):
        out.append(np.sqrt(np.sum(np.abs(coef) ** 2)) / count)
        coef = np.einsum("...ij,...j->...i", step, coef)
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------
# matrix-free estimate on the actual operators
# ---------------------------------------------------------------------------------------------
def _level_residual_operator(down, up, levels, mu, shape):
    """``(apply, image_shape)``: ``e -> e − L_{N-1}(D P e)`` on the actual image operators."""
    n0, n1 = shape
    side = down.scale ** (levels - 1)
    image_shape = (n0 * side, n1 * side)
    if levels == 1:
        def apply(e):
            return e - down.apply(up.apply(e))
        return apply, image_shape
    ops = ClassicOperators(down, up)
    zeros = [np.zeros((n0 * 2 ** j, n1 * 2 ** j)) for j in range(levels)]

    def apply(e):
        return e - back_project(down.apply(up.apply(e)), levels, zeros, mu, ops)
    return apply, image_shape


def matrix_free_rate(g="cubic", p="cubic", *, levels, mu, shape=16, scale=2, mode="wrap", k=6,
                     tol=1e-13, seed=0, method="arnoldi", maxiter=5000):
    """Spectral radius of the level-residual step, from the actual operators (no Fourier).

    Parameters
    ----------
    g, p : str or array_like, optional
        Filters.
    levels, mu : int
        As in :func:`mgbp_rate` (``levels=1``: IBP's ``I − D P`` at factor ``scale``).
    shape : int or (int, int), optional
        Input grid.
    scale : int, optional
        Factor for ``levels=1`` (MGBP uses 2).
    mode : str, optional
        Boundary mode of the operators: ``wrap`` (default; the Fourier analysis is exact) or any
        other, to see how boundaries change the rate.
    k : int, optional
        Number of eigenvalues the Arnoldi method resolves (the largest ``k`` magnitudes are
        returned in ``Notes``' sense via the second return value).
    tol : float, optional
        Eigensolver tolerance.
    seed : int, optional
        Seed of the random start vector.
    method : {"arnoldi", "power"}, optional
        ``arnoldi``: implicitly restarted Arnoldi (ARPACK through
        :func:`scipy.sparse.linalg.eigs`), the power iteration's Krylov generalisation, which
        separates eigenvalues of equal or nearly equal modulus. ``power``: plain power iteration
        ``v ← A v / ‖A v‖`` with the estimate ``‖A v‖`` (needs a dominant, real eigenvalue).
    maxiter : int, optional
        Iteration limit.

    Returns
    -------
    rho : float
        Largest eigenvalue modulus.
    top : numpy.ndarray
        The ``k`` largest moduli found (descending); for ``power``, ``[rho]``.

    Notes
    -----
    The operator is applied as ``e − BP_{N-1}(D P e)`` with the recursion
    :func:`mgbp_classic.multigrid.back_project` run on zero data (then BP is linear): no symbol,
    no block is used, so agreement with :func:`mgbp_rate` (its ``full`` value) checks the Fourier
    analysis against the code.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
    levels = check_int(levels, "levels", minimum=1)
    mu = check_int(mu, "mu", minimum=1)
    n0, n1 = check_shape(shape)
    down, up = _operators(g, p, scale if levels == 1 else 2, mode=mode)
    apply, image_shape = _level_residual_operator(down, up, levels, mu, (n0, n1))
    dim = image_shape[0] * image_shape[1]
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(dim)
    if method == "power":
        v = v0 / np.linalg.norm(v0)
        est = 0.0
        for _ in range(maxiter):
            w = apply(v.reshape(image_shape)).ravel()
            new = np.linalg.norm(w)
            if new == 0:
                return 0.0, np.array([0.0])
            v = w / new
            if abs(new - est) <= tol * new:
                est = new
                break
            est = new
        return float(est), np.array([est])
    if method != "arnoldi":
        raise ParamError("method", f"must be 'arnoldi' or 'power', got {method!r}")
    op = LinearOperator((dim, dim), matvec=lambda v: apply(np.asarray(v).reshape(image_shape)).ravel(),
                        dtype=np.float64)
    kk = max(1, min(int(k), dim - 2))
    try:
        vals = eigs(op, k=kk, which="LM", v0=v0, tol=tol, maxiter=maxiter, ncv=min(dim, max(4 * kk + 1, 40)),
                    return_eigenvectors=False)
    except ArpackNoConvergence as err:                 # clustered moduli: keep the converged ones
        vals = err.eigenvalues
        if len(vals) == 0:
            raise
    mags = np.sort(np.abs(vals))[::-1]
    return float(mags[0]), mags
