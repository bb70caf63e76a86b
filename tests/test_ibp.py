"""Classic IBP (eqs. 2-3): the step itself, geometric decrease of the residual, stopping, errors."""
import warnings

import numpy as np
import pytest

from mgbp_classic.convergence import fit_rate, ibp_rate, mgbp_rate
from mgbp_classic.exceptions import ConvergenceWarning
from mgbp_classic.ibp import ibp, rms
from mgbp_classic.resize import Downscale, Upscale, imresize

RNG = np.random.default_rng(1991)

#: 1 − H(π, π) for the bicubic pair, by hand: H(π, π) = (121/256)² (see test_convergence.py).
RHO_BICUBIC = 1 - (121 / 256) ** 2


def test_one_step_is_eq_2_3_with_matlab_imresize():
    # Y1 = Y0 + imresize(X − imresize(Y0, 1/2), 2), Y0 = imresize(X, 2): MATLAB bicubic throughout
    x = RNG.random((9, 12))
    y0 = imresize(x, 2)
    expected = y0 + imresize(x - imresize(y0, 0.5), 2)
    result = ibp(x, 2, iterations=1, tol=None)
    np.testing.assert_allclose(result.image, expected, atol=1e-12)
    np.testing.assert_allclose(result.history, [rms(x - imresize(y0, 0.5)), rms(x - imresize(expected, 0.5))],
                               rtol=1e-12)


def test_residual_decreases_geometrically_at_the_predicted_rate():
    x = RNG.random((8, 8))
    h = ibp(x, 2, iterations=80, tol=None, mode="wrap").history
    assert len(h) == 81
    # T = I − DP is normal: every step contracts by at most rho (up to round-off once the residual
    # is tiny), and a generic input attains it
    above = h[:-1] > 1e-8 * h[0]
    assert np.all(h[1:][above] <= RHO_BICUBIC * h[:-1][above] * (1 + 1e-9))
    assert h[-1] < 1e-8 * h[0]
    assert fit_rate(h) == pytest.approx(RHO_BICUBIC, rel=0.02)


def test_reflect_boundaries_contract_at_the_exact_rate_too():
    # MATLAB's symmetric boundary: exact DCT analysis (the symbol sampled at πk/n, k < n)
    x = RNG.random((10, 14))
    rho = mgbp_rate(levels=1, mu=1, shape=x.shape, mode="reflect").per_step
    assert rho < RHO_BICUBIC
    h = ibp(x, 2, iterations=120, tol=None).history
    above = h[:-1] > 1e-8 * h[0]                      # below that, round-off shows
    assert np.all(h[1:][above] <= rho * h[:-1][above] * (1 + 1e-9))
    assert fit_rate(h) == pytest.approx(rho, rel=0.02)


def test_converges_to_a_solution_of_model_1_and_stops_at_tol():
    x = RNG.random((8, 10, 3))
    result = ibp(x, 2, iterations=500, tol=1e-10)
    assert result.converged and result.steps < 500
    assert rms(x - Downscale(2)(result.image)) <= 1e-10
    assert result.history[-2] > 1e-10 >= result.history[-1]
    assert result.rho == pytest.approx(RHO_BICUBIC)


def test_constant_image_is_already_consistent():
    result = ibp(np.full((5, 7), 0.25), 2, iterations=10, tol=1e-12)
    assert result.steps == 0 and result.converged
    np.testing.assert_allclose(result.image, 0.25, atol=1e-15)


def test_warns_only_when_stopping_unconverged():
    x = RNG.random((8, 8))
    with pytest.warns(ConvergenceWarning, match="IBP stopped after 2 iterations"):
        result = ibp(x, 2, iterations=2, tol=1e-9)
    assert not result.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ibp(x, 2, iterations=2, tol=None).converged


def test_start_image_callback_and_other_scales():
    x = RNG.random((6, 5))
    y0 = RNG.random((18, 15))
    seen = []
    result = ibp(x, 3, iterations=4, tol=None, y0=y0, callback=lambda k, y, r: seen.append((k, r)))
    assert [k for k, _ in seen] == [1, 2, 3, 4]
    np.testing.assert_allclose([r for _, r in seen], result.history[1:])
    assert result.history[0] == pytest.approx(rms(x - Downscale(3)(y0)))
    assert np.all(np.diff(result.history) < 0)
    zero = ibp(x, 3, iterations=0, tol=None, y0=y0)
    np.testing.assert_array_equal(zero.image, y0)
    assert zero.image is not y0


def test_dtypes_and_channels():
    x = RNG.random((6, 7, 3)).astype(np.float32)
    result = ibp(x, 2, iterations=3, tol=None)
    assert result.image.dtype == np.float32 and result.image.shape == (12, 14, 3)
    assert ibp(x.astype(np.float64), 2, iterations=1, tol=None).image.dtype == np.float64
    assert ibp(np.ones((4, 4), dtype=np.uint8), 2, iterations=1, tol=None).image.dtype == np.float64


def test_non_contractive_pair_is_refused_before_iterating():
    calls = []
    p = 3 * Upscale(2).filter2d                          # gain mismatch: P is three times too strong
    with pytest.raises(ValueError, match=r"not contractive at scale 2: rho = 2"):
        ibp(RNG.random((8, 8)), 2, p=p, callback=lambda *a: calls.append(a))
    assert calls == []
    # without the check, the prediction comes true: the residual grows
    result = ibp(RNG.random((8, 8)), 2, p=p, iterations=5, tol=None, validate=False, mode="wrap")
    assert result.history[-1] > 10 * result.history[0] and result.rho is None


def test_default_pair_rate_is_reported():
    assert ibp(RNG.random((4, 4)), 2, iterations=1, tol=None).rho == pytest.approx(ibp_rate())


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=1), r"scale must be an integer >= 2, got 1"),
    (dict(scale=2.5), r"scale must be an integer >= 2, got 2.5"),
    (dict(iterations=-1), r"iterations must be an integer >= 0, got -1"),
    (dict(iterations=True), r"iterations must be an integer >= 0, got True"),
    (dict(tol=-1.0), r"tol must be None or a finite number >= 0, got -1.0"),
    (dict(tol="small"), r"tol must be None or a finite number >= 0, got 'small'"),
    (dict(y0=np.zeros((3, 3))), r"y0 must have shape \(8, 8\)"),
    (dict(mode="periodic"), r"mode"),
    (dict(g="sinc"), r"kernel"),
    (dict(callback=3), r"callback must be callable or None, got int"),
])
def test_errors_name_the_argument(kwargs, match):
    kwargs = {"scale": 2, **kwargs}
    scale = kwargs.pop("scale")
    with pytest.raises(ValueError, match=match):
        ibp(RNG.random((4, 4)), scale, **kwargs)


@pytest.mark.parametrize("x, match", [
    (np.zeros(5), r"x must be shaped \(H, W\) or \(H, W, C\)"),
    (np.array([[np.nan, 0.0]]), r"x must contain finite values only"),
    (np.array([["a"]]), r"x must be a real numeric array"),
])
def test_bad_images(x, match):
    with pytest.raises(ValueError, match=match):
        ibp(x, 2)
