"""Classic MGBP (Algorithm 1): equals IBP for one level, follows the pseudo-code, V/W-cycles of Figure 2."""
import warnings

import numpy as np
import pytest

from mgbp_classic.exceptions import ConvergenceWarning
from mgbp_classic.ibp import ibp, rms
from mgbp_classic.multigrid import ClassicOperators, TracingOperators, back_project, mgbp, multigrid
from mgbp_classic.resize import Downscale, Upscale

RNG = np.random.default_rng(2019)


def algorithm_1(x, L, mu, D, P):
    """Algorithm 1 of the paper, transcribed line by line (1-based as printed)."""
    def bp(k, u, Y):
        if k > 1:
            for _ in range(mu):
                d = bp(k - 1, D(u), Y)                # line 3
                u = u + P(Y[k - 1] - d)               # line 4: Y_{k-1}
        return u

    Y = {1: x}                                        # line 1
    for k in range(2, L + 1):                         # line 2
        u = P(Y[k - 1])                               # line 3
        Y[k] = bp(k, u, Y)                            # line 4
    return [Y[k] for k in range(1, L + 1)]


@pytest.mark.parametrize("mu", [1, 2, 3])
@pytest.mark.parametrize("mode", ["reflect", "wrap"])
def test_one_level_is_ibp_bit_for_bit(mu, mode):
    x = RNG.random((7, 9, 3))
    result = mgbp(x, levels=1, mu=mu, mode=mode)
    reference = ibp(x, 2, iterations=mu, tol=None, mode=mode)
    assert np.array_equal(result.image, reference.image)
    np.testing.assert_array_equal(result.histories[1], reference.history)
    np.testing.assert_array_equal(result.model_histories[1], reference.history)
    repeated = mgbp(x, levels=1, mu=mu, iterations=3, mode=mode)
    assert np.array_equal(repeated.image, ibp(x, 2, iterations=3 * mu, tol=None, mode=mode).image)


@pytest.mark.parametrize("levels, mu", [(2, 1), (3, 2), (3, 3), (4, 1)])
def test_follows_the_pseudo_code(levels, mu):
    x = RNG.random((5, 6))
    D, P = Downscale(2), Upscale(2)
    expected = algorithm_1(x, levels + 1, mu, D, P)
    result = mgbp(x, levels=levels, mu=mu)
    assert len(result.levels) == levels + 1
    for got, want in zip(result.levels, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    assert result.image is result.levels[-1]
    assert [y.shape for y in result.levels] == [(5 * 2 ** j, 6 * 2 ** j) for j in range(levels + 1)]


def test_histories_are_the_level_and_model_residuals():
    x = RNG.random((6, 6))
    D, P = Downscale(2), Upscale(2)
    ops = ClassicOperators(D, P)
    result = mgbp(x, levels=3, mu=2, iterations=2)
    ys = result.levels
    assert result.histories[0].size == 0 and result.model_histories[0].size == 0
    assert [h.size for h in result.histories] == [0, 3, 3, 5]          # lift + µ steps (+ µ more on top)
    for j in (1, 2):
        # the final entry of each level: its level residual Y_{j-1} − BP_{j-1}(D Y_j), and X − D^j Y_j
        d = back_project(D(ys[j]), j, ys, 2, ops)
        assert result.histories[j][-1] == pytest.approx(rms(ys[j - 1] - d), rel=1e-12)
        down = ys[j]
        for _ in range(j):
            down = D(down)
        assert result.model_histories[j][-1] == pytest.approx(rms(x - down), rel=1e-12)
    # the first entry of the top level is the lift P(Y_2)
    u = P(ys[2])
    assert result.histories[3][0] == pytest.approx(rms(ys[2] - back_project(D(u), 3, ys, 2, ops)), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Figure 2: three levels (2×, 4×, 8×); the level visited after every operator call.
# V-cycle (µ = 1) and W-cycle (µ = 2), drawn by hand from the figure's workflows: each new level
# starts with the classic upscale, then every back-projection goes down to the input and back.
# ----------------------------------------------------------------------------------------------
V_CYCLE = "0 1 0 1 | 2 1 0 1 2 | 3 2 1 0 1 2 3"
W_CYCLE = ("0 1 0 1 0 1 | 2 1 0 1 0 1 2 1 0 1 0 1 2 | "
           "3 2 1 0 1 0 1 2 1 0 1 0 1 2 3 2 1 0 1 0 1 2 1 0 1 0 1 2 3")


def _levels(drawing):
    return [int(t) for t in drawing.split() if t != "|"]


@pytest.mark.parametrize("mu, drawing, corrections", [
    (1, V_CYCLE, {1: 3, 2: 2, 3: 1}),
    (2, W_CYCLE, {1: 2 + 4 + 8, 2: 2 + 4, 3: 2}),
])
def test_v_and_w_cycles_of_figure_2(mu, drawing, corrections):
    ops = TracingOperators(ClassicOperators(Downscale(2), Upscale(2)))
    multigrid(RNG.random((4, 4)), levels=3, mu=mu, ops=ops)
    assert ops.path() == _levels(drawing)
    counts = ops.counts()
    assert {k: counts[("correct", k)] for k in (1, 2, 3)} == corrections
    assert {k: counts[("down", k)] for k in (1, 2, 3)} == corrections    # every correction follows one descent
    assert [counts[("lift", k)] for k in (1, 2, 3)] == [1, 1, 1]
    assert counts[("initial", 0)] == 1 and ("down", 0) not in counts    # level 0 is never coarsened


def test_tracing_does_not_change_the_result_and_reaches_mgbp():
    x = RNG.random((4, 5))
    traced = TracingOperators(ClassicOperators(Downscale(2), Upscale(2)))
    ys = multigrid(x, levels=2, mu=2, ops=traced)
    np.testing.assert_array_equal(ys[-1], mgbp(x, levels=2, mu=2).image)


def test_outer_cycles_tol_and_warning():
    x = RNG.random((6, 6))
    with pytest.warns(ConvergenceWarning, match="MGBP stopped after 2 cycles"):
        result = mgbp(x, levels=2, mu=1, iterations=2, tol=1e-12)
    assert not result.converged and result.iterations == 2
    easy = mgbp(x, levels=2, mu=1, iterations=50, tol=1e-2)
    assert easy.converged and easy.iterations < 50 and easy.histories[-1][-1] <= 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mgbp(x, levels=2, mu=1, iterations=2).converged


def test_zero_iterations_keeps_the_lift_at_the_top():
    x = RNG.random((5, 5))
    result = mgbp(x, levels=2, mu=2, iterations=0)
    np.testing.assert_array_equal(result.levels[1], mgbp(x, levels=1, mu=2).image)
    np.testing.assert_array_equal(result.image, Upscale(2)(result.levels[1]))
    assert result.histories[2].size == 1 and result.iterations == 0


def test_callback_sees_every_level():
    seen = []
    mgbp(RNG.random((4, 4)), levels=3, mu=1, callback=lambda k, step, u: seen.append((k, step, u.shape)))
    assert seen == [(2, 1, (8, 8)), (2, 1, (8, 8)), (3, 1, (16, 16)),
                    (2, 1, (8, 8)), (3, 1, (16, 16)), (4, 1, (32, 32))]


def test_dtype_and_channels():
    x = RNG.random((5, 4, 3)).astype(np.float32)
    result = mgbp(x, levels=2, mu=1)
    assert all(y.dtype == np.float32 for y in result.levels)
    assert result.image.shape == (20, 16, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(levels=0), r"levels must be an integer >= 1, got 0"),
    (dict(levels=2.0), r"levels must be an integer >= 1, got 2.0"),
    (dict(levels=14), r"levels must be between 1 and \d+ for a 40×40 image, got 14"),
    (dict(mu=0), r"mu must be an integer >= 1, got 0"),
    (dict(iterations=-2), r"iterations must be an integer >= 0, got -2"),
    (dict(tol=float("nan")), r"tol must be None or a finite number >= 0"),
    (dict(callback="print"), r"callback must be callable or None, got str"),
    (dict(p=3 * Upscale(2).filter2d), r"not contractive at scale 2: rho = 2"),
])
def test_errors_name_the_argument(kwargs, match):
    kwargs = {"levels": 2, "mu": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        mgbp(np.zeros((40, 40)), **kwargs)


def test_operators_must_be_factor_two():
    with pytest.raises(ValueError, match=r"factor-2"):
        ClassicOperators(Downscale(3), Upscale(3))
