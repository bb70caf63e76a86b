"""Convergence: Fourier symbols, predicted against measured rates, matrix-free cross-check, checks, CLI."""
import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from mgbp_classic import convergence as C
from mgbp_classic.exceptions import ConvergenceWarning
from mgbp_classic.ibp import ibp
from mgbp_classic.multigrid import mgbp
from mgbp_classic.resize import Downscale, Upscale
from mgbp_classic_cli.main import cli

RNG = np.random.default_rng(1981)


def keys(x, a=-0.5):
    """Keys' cubic convolution kernel (IEEE TASSP 1981), a = -0.5."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    if x < 2:
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return 0.0


# ----------------------------------------------------------------------------------------------
# IBP: the symbol and the rate
# ----------------------------------------------------------------------------------------------
def test_bicubic_rate_by_hand():
    # g: MATLAB's anti-aliased 1/2 filter, 0.5·k((t − 1/2)/2) for t = −3 … 4; p = 2 g (same phases).
    t = np.arange(-3, 5)
    g = np.array([0.5 * keys((v - 0.5) / 2) for v in t])
    np.testing.assert_allclose(g, Downscale(2).taps, atol=1e-15)
    np.testing.assert_allclose(2 * g, Upscale(2).taps, atol=1e-15)
    # 1-D aliasing sum at the Nyquist frequency: H(π) = ½ Σ_{θ = π/2, 3π/2} conj(Ĝ(θ)) P̂(θ)
    def ghat(theta):
        return sum(gv * np.exp(-1j * theta * tv) for gv, tv in zip(g, t))
    h_pi = 0.5 * sum(np.conj(ghat(th)) * 2 * ghat(th) for th in (np.pi / 2, 3 * np.pi / 2))
    assert h_pi.real == pytest.approx(121 / 256, abs=1e-15) and abs(h_pi.imag) < 1e-15
    # separable: H(π, π) = H(π)², and the worst frequency of I − DP is (π, π)
    assert C.ibp_rate() == pytest.approx(1 - (121 / 256) ** 2, abs=1e-15)
    assert C.ibp_contraction(shape=8)[4, 4] == pytest.approx(C.ibp_rate(), abs=1e-15)
    assert C.dp_symbol(shape=8)[0, 0] == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("kind", ["cubic", "nonseparable", "scale3"])
def test_symbol_is_exact_on_periodic_images(kind):
    if kind == "cubic":
        down, up, shape = Downscale(2, mode="wrap"), Upscale(2, mode="wrap"), (6, 10)
    elif kind == "nonseparable":
        down = Downscale(2, kernel=RNG.random((4, 5)) / 10, mode="wrap")
        up = Upscale(2, kernel=RNG.random((3, 6)) / 4, mode="wrap")
        shape = (7, 6)
    else:
        down, up, shape = Downscale(3, kernel="lanczos3", mode="wrap"), Upscale(3, mode="wrap"), (5, 4)
    x = RNG.random(shape)
    H = C.dp_symbol(down, up, shape=shape)
    np.testing.assert_allclose(np.fft.fft2(down(up(x))), H * np.fft.fft2(x), atol=1e-12)


@pytest.mark.parametrize("g, p, scale, shape", [
    ("cubic", "cubic", 2, 8),
    ("cubic", "cubic", 3, 6),
    ("lanczos3", "cubic", 2, 8),
])
def test_ibp_predicted_and_measured_rates_agree_within_2_percent(g, p, scale, shape):
    x = RNG.random((shape, shape))
    rho = C.mgbp_rate(g, p, levels=1, mu=1, shape=shape).per_step if scale == 2 else \
        C.ibp_rate(g, p, scale, shape=shape)
    measured, history = C.measure_ibp(x, scale, iterations=100, g=g, p=p)
    assert history[-1] < 1e-8 * history[0]
    assert measured == pytest.approx(rho, rel=0.02)


# ----------------------------------------------------------------------------------------------
# MGBP
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("levels, mu, cycles", [(2, 1, 400), (3, 1, 200), (3, 2, 200), (4, 1, 150)])
def test_mgbp_predicted_and_measured_rates_agree_within_5_percent(levels, mu, cycles):
    x = np.random.default_rng(levels * 10 + mu).random((8, 8))
    predicted = C.mgbp_rate(levels=levels, mu=mu, shape=8)
    measured, history, model = C.measure_mgbp(x, levels=levels, mu=mu, cycles=cycles)
    assert len(history) == cycles + 1
    assert measured == pytest.approx(predicted.per_cycle, rel=0.05)
    assert predicted.per_cycle < 1 and history[-1] < 1e-4 * history[0]


@pytest.mark.parametrize("levels, mu, mode", [(1, 2, "wrap"), (2, 1, "wrap"), (3, 2, "wrap"),
                                              (2, 2, "reflect"), (3, 1, "reflect")])
def test_fourier_form_reproduces_the_measured_history(levels, mu, mode):
    x = RNG.random((6, 5))
    run = mgbp(x, levels=levels, mu=mu, iterations=6, mode=mode)
    predicted = C.predict_mgbp_history(x, levels=levels, mu=mu, cycles=6, mode=mode)
    np.testing.assert_allclose(run.histories[-1][::mu], predicted, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("levels, mu, shape", [(1, 1, 8), (2, 2, 6), (3, 1, 4)])
def test_fourier_and_matrix_free_spectral_radii_agree(levels, mu, shape):
    fourier = C.mgbp_rate(levels=levels, mu=mu, shape=shape)
    rho, top = C.matrix_free_rate(levels=levels, mu=mu, shape=shape, k=4)
    assert rho == pytest.approx(fourier.full, rel=1e-6)
    blocks = C.mgbp_blocks(levels=levels, mu=mu, shape=shape)
    everything = np.sort(np.abs(np.linalg.eigvals(blocks.E)).ravel())[::-1]
    np.testing.assert_allclose(top, everything[:len(top)], rtol=1e-6)


def test_power_iteration_on_ibp():
    rho, _ = C.matrix_free_rate(levels=1, mu=1, shape=6, method="power", tol=1e-14, maxiter=20000)
    assert rho == pytest.approx(C.ibp_rate(shape=6), rel=1e-6)


@pytest.mark.parametrize("levels, mu", [(2, 1), (2, 3), (3, 2)])
def test_matched_pair_step_spectrum_is_real_in_0_1(levels, mu):
    # theorem: P = 4 Dᵀ and 0 ≤ H ≤ 1  =>  every level's step operator has its spectrum in [0, 1]
    lam = np.linalg.eigvals(C.mgbp_blocks(levels=levels, mu=mu, shape=6).E)
    assert np.abs(lam.imag).max() < 1e-9
    assert lam.real.min() > -1e-9 and lam.real.max() < 1 + 1e-9
    # the parity effect: with an even number of levels the constant (DC) block has eigenvalue 1
    dc = np.linalg.eigvals(C.mgbp_blocks(levels=levels, mu=mu, shape=6).E[0, 0])
    assert (np.abs(dc).max() == pytest.approx(1.0, abs=1e-12)) == (levels % 2 == 0)


def test_fixed_point_is_not_model_4():
    # repeated finest-level cycles converge to D(Y_top) = P(Y_{N-1}); model (4) keeps a residual
    x = RNG.random((8, 8))
    run = mgbp(x, levels=3, mu=1, iterations=150, mode="wrap")
    D, P = Downscale(2, mode="wrap"), Upscale(2, mode="wrap")
    np.testing.assert_allclose(D(run.levels[3]), P(run.levels[1]), atol=1e-9)
    assert run.histories[-1][-1] < 1e-12
    limit = np.sqrt(np.mean((x - D(D(P(run.levels[1])))) ** 2))
    assert run.model_histories[-1][-1] == pytest.approx(limit, rel=1e-6) and limit > 1e-2


def test_model_4_residual_has_a_floor_in_mu():
    x = RNG.random((8, 8))
    ibp_res = [ibp(x, 2, iterations=m, tol=None, mode="wrap").history[-1] for m in (1, 32)]
    mg_res = [mgbp(x, levels=2, mu=m, mode="wrap").model_histories[-1][-1] for m in (1, 32)]
    assert ibp_res[1] < 1e-3 * ibp_res[0]                # IBP: geometric in the number of steps
    assert mg_res[1] > 0.1 * mg_res[0] and mg_res[1] > 1e-2   # MGBP, two levels: stalls


# ----------------------------------------------------------------------------------------------
# kernel checks
# ----------------------------------------------------------------------------------------------
def test_non_contractive_pair_is_detected_before_iterating():
    bad = 3 * Upscale(2).filter2d                          # P three times too strong: H(0) = 3
    assert C.ibp_rate("cubic", bad) == pytest.approx(2.0)
    with pytest.raises(ValueError, match=r"rho = 2 \(the spectral radius of I - D P\) must be < 1"):
        C.check_kernel_pair("cubic", bad)
    calls = []
    with pytest.raises(ValueError, match=r"rho = 2"):
        mgbp(RNG.random((6, 6)), levels=2, mu=1, p=bad, callback=lambda *a: calls.append(a))
    with pytest.raises(ValueError, match=r"rho = 8"):                    # 1-D taps ×3 on both axes
        ibp(RNG.random((6, 6)), 2, p=3 * Upscale(2).taps, callback=lambda *a: calls.append(a))
    assert calls == []
    with pytest.warns(ConvergenceWarning, match=r"not strictly contractive .* rho = 1"):
        C.check_kernel_pair("cubic", np.zeros(8))        # P = 0: nothing is ever corrected


def test_lanczos3_pair_diverges_at_two_levels_with_odd_mu():
    assert C.check_kernel_pair("lanczos3", "lanczos3") < 0.75          # fine for IBP
    assert C.dp_symbol("lanczos3", "lanczos3").real.max() > 1.05        # but D P amplifies
    with pytest.warns(ConvergenceWarning, match=r"grows by rho = 1.04\d per step"):
        run = mgbp(RNG.random((8, 8)), levels=2, mu=1, iterations=200, g="lanczos3", p="lanczos3", mode="wrap")
    predicted = C.mgbp_rate("lanczos3", "lanczos3", levels=2, mu=1, shape=8).per_step
    assert predicted == pytest.approx(1.0486, abs=1e-3)
    assert C.fit_rate(run.histories[-1]) == pytest.approx(predicted, rel=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert C.check_mgbp_pair("lanczos3", "lanczos3", levels=2, mu=2) < 1
        assert C.check_mgbp_pair("cubic", "cubic", levels=4, mu=3) is None   # covered by the theorem


def test_fit_rate():
    h = 3.0 * 0.9 ** np.arange(50)
    assert C.fit_rate(h) == pytest.approx(0.9, rel=1e-12)
    assert C.fit_rate(np.r_[h[:10], np.zeros(5)]) == pytest.approx(0.9, rel=1e-12)
    assert math.isnan(C.fit_rate([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="tail in"):
        C.fit_rate(h, tail=0)


@pytest.mark.parametrize("call, match", [
    (lambda: C.mgbp_rate(levels=0, mu=1), r"levels must be an integer >= 1, got 0"),
    (lambda: C.mgbp_rate(levels=2, mu=0), r"mu must be an integer >= 1, got 0"),
    (lambda: C.mgbp_rate(levels=2, mu=1, shape=(4,)), r"shape must be a positive integer or a pair"),
    (lambda: C.mgbp_rate(levels=2, mu=1, mode="nearest"), r"mode must be 'wrap' or 'reflect'"),
    (lambda: C.matrix_free_rate(levels=1, mu=1, shape=4, method="lanczos"), r"method must be"),
    (lambda: C.dp_symbol(Downscale(2), Upscale(3)), r"g and p must have the same scale, got 2 and 3"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------------------------
def test_cli_table_and_plot(tmp_path):
    plot = tmp_path / "rates.png"
    result = CliRunner().invoke(cli, ["convergence", "--levels", "1", "--levels", "3", "--mu", "1",
                                      "--size", "8", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["levels", "mu"])
    assert lines[header].split() == ["levels", "mu", "predicted", "measured", "rel_diff", "cycles"]
    rows = [line.split() for line in lines[header + 1:header + 3]]
    assert [r[:2] for r in rows] == [["1", "1"], ["3", "1"]]
    assert float(rows[0][2]) == pytest.approx(C.ibp_rate(), abs=1e-6)
    assert all(float(r[4]) < 0.05 for r in rows)
    assert "max_rel_diff_ibp=" in result.output and "max_rel_diff_mgbp=" in result.output
    assert plot.is_file() and plot.stat().st_size > 10000


def test_cli_on_an_image(tmp_path):
    from mgbp_classic import sample_image_path
    result = CliRunner().invoke(cli, ["convergence", "--levels", "1", "--mu", "2", "--crop", "12",
                                      sample_image_path()])
    assert result.exit_code == 0, result.output
    assert "12x12 centre crop, symmetric boundaries" in result.output


@pytest.mark.parametrize("args, match", [
    (["--levels", "0"], r"Invalid value for '--levels': 0 is not in the range 1<=x<=4"),
    (["--mu", "0"], r"Invalid value for '--mu'"),
    (["--iterations", "1"], r"Invalid value for '--iterations'"),
    (["--kernel", "sinc"], r"Invalid value for '--kernel'"),
    (["--size", "1"], r"Invalid value for '--size'"),
    (["--plot", "rates.txt"], r"Invalid value for '--plot': must end in one of .pdf, .png, .svg, got 'rates.txt'"),
    (["--plot", "no/such/dir/rates.png"], r"Invalid value for '--plot': directory 'no/such/dir' does not exist"),
    (["missing.png"], r"Invalid value for '\[IMAGE\]': File 'missing.png' does not exist"),
])
def test_cli_errors_are_one_line(args, match):
    result = CliRunner().invoke(cli, ["convergence", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and __import__("re").search(match, error[0]), result.output


def test_cli_unreadable_image(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["convergence", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error:")


def test_non_separable_pair_through_the_block_form():
    # a matched but non-separable pair: the blocks use the 2-D filters, not products of 1-D ones
    g = Downscale(2).filter2d.copy()
    g[3, 4] += 0.02
    g[4, 2] -= 0.01
    g /= g.sum()
    down = Downscale(2, kernel=g, mode="wrap", origin=(-3, -3))
    up = Upscale(2, kernel=4 * g, mode="wrap", origin=(-3, -3))
    assert down.taps is None and C.ibp_rate(down, up) < 1
    x = RNG.random((6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        run = mgbp(x, levels=2, mu=1, iterations=5, g=g, p=4 * g, mode="wrap", validate=False)
    # mgbp builds its own operators with the default origin of an 8-tap filter: (-3, -3) as here
    predicted = C.predict_mgbp_history(x, levels=2, mu=1, cycles=5, g=down, p=up)
    np.testing.assert_allclose(run.histories[-1], predicted, rtol=1e-10)
