"""The MGBP network: parameter count, the shared recursion, gradients of the whole network."""
import numpy as np
import pytest

from mgbp_classic import multigrid as mg
from mgbp_classic.exceptions import ModelFileError
from mgbp_classic.net import MGBPNet, NetConfig, multiscale_loss
from mgbp_classic.nn import Graph

TINY = NetConfig(features=4, growth=2, bottleneck=3, dense_layers=2, seed=3)


def _dense(c, g, b):
    return c + c * b + b + 9 * b * g        # bias1, conv1x1 c→b, bias2, conv3x3 b→g


def _block(c, g, b, n):
    return sum(_dense(c + i * g, g, b) for i in range(n)) + (c + n * g) + (c + n * g) * c


def test_parameter_count_matches_design():
    """DESIGN.md's layer list, counted by hand: 263,859 scalars (the paper rounds to 0.28 M)."""
    f, g, b, n, c = 48, 16, 64, 3, 3
    analysis = 9 * c * f + _block(f, g, b, n)
    synthesis = _block(f, g, b, n) + f + 9 * f * c + c
    upscale = _block(2 * f, g, b, n) + 2 * f + 9 * 2 * f * f
    downscale = 9 * f * f + _block(f, g, b, n)
    classic = c * 8 * 8
    expected = analysis + synthesis + upscale + downscale + classic
    assert expected == 263_859
    assert MGBPNet().num_parameters == expected


def test_classic_upscaler_starts_as_bicubic():
    from mgbp_classic.resize import imresize
    net = MGBPNet(TINY, dtype=np.float64)
    x = np.random.default_rng(0).random((1, 3, 7, 9))
    y, _ = net.classic.forward(x)
    ref = imresize(x[0].transpose(1, 2, 0), 2).transpose(2, 0, 1)
    np.testing.assert_allclose(y[0], ref, atol=1e-12)


@pytest.mark.parametrize("levels", [1, 2, 3])
@pytest.mark.parametrize("mu", [1, 2])
def test_forward_runs_the_shared_recursion(levels, mu, monkeypatch):
    """The network's level structure is Algorithm 1's: same number of down/correct calls as the
    classic algorithm for the same levels and µ (Figure 2's V- and W-cycles)."""
    calls = {"down": 0, "correct": 0}

    class Counting:
        def initial(self, x):
            return x

        def lift(self, ys):
            return ys[-1]

        def down(self, u):
            calls["down"] += 1
            return u

        def correct(self, u, y, d):
            calls["correct"] += 1
            return u

    mg.multigrid(0, levels=levels, mu=mu, ops=Counting())
    expected = dict(calls)
    calls.update(down=0, correct=0)

    from mgbp_classic import net as netmod
    real = netmod._LatentOperators

    class Spy(real):
        def down(self, u):
            calls["down"] += 1
            return super().down(u)

        def correct(self, u, y, d):
            calls["correct"] += 1
            return super().correct(u, y, d)

    monkeypatch.setattr(netmod, "_LatentOperators", Spy)
    net = MGBPNet(TINY)
    outs = net.forward(np.random.default_rng(1).random((2, 3, 5, 6), dtype=np.float32), levels=levels, mu=mu)
    assert calls == expected
    assert [o.shape for o in outs] == [(2, 3, 5 << k, 6 << k) for k in range(1, levels + 1)]
    assert all(o.dtype == np.float32 for o in outs)


def _linear_objective(net, x, weights, levels, mu, *, grad_input=False):
    graph = Graph(record=True)
    xin = graph.input(x, requires_grad=grad_input)
    outs = net.run(graph, xin, levels=levels, mu=mu)
    value = sum(float(np.sum(w * o.data)) for w, o in zip(weights, outs))
    net.store.zero_grad()
    for w, o in zip(weights, outs):
        o.accumulate(w.copy())
    graph.backward()
    return value, net.store.grads.copy(), (xin.grad.copy() if grad_input else None)


@pytest.mark.parametrize("levels,mu", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)])
def test_whole_network_gradient_matches_finite_differences(levels, mu):
    """Backward through the recursion (shared weights used many times) = central differences, float64."""
    rng = np.random.default_rng(levels * 10 + mu)
    net = MGBPNet(TINY, dtype=np.float64)
    net.store.params[...] += 0.05 * rng.standard_normal(net.store.params.shape)   # non-zero biases
    x = rng.random((1, 3, 3, 5))
    weights = [rng.standard_normal((1, 3, 3 << k, 5 << k)) for k in range(1, levels + 1)]
    f0, grads, gx = _linear_objective(net, x, weights, levels, mu, grad_input=True)

    def f():
        return sum(float(np.sum(w * o)) for w, o in zip(weights, net.forward(x, levels=levels, mu=mu)))

    eps = 1e-6
    p = net.store.params
    # every parameter tensor, a few entries each
    for name in net.store.names:
        a, b = net.store.slice(name)
        for i in rng.choice(np.arange(a, b), size=min(2, b - a), replace=False):
            old = p[i]
            p[i] = old + eps
            fp = f()
            p[i] = old - eps
            fm = f()
            p[i] = old
            num = (fp - fm) / (2 * eps)
            assert abs(num - grads[i]) <= 1e-6 * max(1.0, abs(num)), (name, num, grads[i])
    for idx in [(0, 0, 0, 0), (0, 2, 1, 3), (0, 1, 2, 4)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (sum(float(np.sum(w * o)) for w, o in zip(weights, net.forward(xp, levels=levels, mu=mu)))
               - sum(float(np.sum(w * o)) for w, o in zip(weights, net.forward(xm, levels=levels, mu=mu)))) / (2 * eps)
        assert abs(num - gx[idx]) <= 1e-6 * max(1.0, abs(num)), (idx, num, gx[idx])


def test_multiscale_loss_gradient_directional():
    """Loss (7) and its gradient: a directional derivative against central differences."""
    rng = np.random.default_rng(7)
    net = MGBPNet(TINY, dtype=np.float64)
    # non-zero biases: with zero biases a pixel whose inputs are all cut by ReLUs has a
    # pre-activation of exactly 0, where the loss has a kink and no derivative
    net.store.params[...] += 0.05 * rng.standard_normal(net.store.params.shape)
    pyramid = [rng.random((2, 3, 16 >> j, 16 >> j)) for j in range(4)]
    net.store.zero_grad()
    loss, parts = multiscale_loss(net, pyramid, mu=2, max_levels=3)
    assert sorted(parts) == [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]
    assert loss == pytest.approx(sum(parts.values()))
    g = net.store.grads.copy()
    direction = rng.standard_normal(g.shape)
    p0 = net.store.params.copy()
    eps = 1e-6
    net.store.params[...] = p0 + eps * direction
    lp, _ = multiscale_loss(net, pyramid, mu=2, backward=False)
    net.store.params[...] = p0 - eps * direction
    lm, _ = multiscale_loss(net, pyramid, mu=2, backward=False)
    net.store.params[...] = p0
    assert (lp - lm) / (2 * eps) == pytest.approx(float(g @ direction), rel=1e-5)


def test_recorded_and_inference_forward_agree():
    net = MGBPNet(TINY)
    x = np.random.default_rng(2).random((1, 3, 6, 4), dtype=np.float32)
    graph = Graph(record=True)
    recorded = [o.data for o in net.run(graph, graph.input(x), levels=2, mu=2)]
    plain = net.forward(x, levels=2, mu=2)
    for a, b in zip(recorded, plain):
        np.testing.assert_array_equal(a, b)


def test_invalid_levels_and_mu():
    net = MGBPNet(TINY)
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="levels must be"):
        net.forward(x, levels=0, mu=1)
    with pytest.raises(ValueError, match="mu must be"):
        net.forward(x, levels=1, mu=0)


def test_save_load_roundtrip_and_errors(tmp_path):
    net = MGBPNet(TINY)
    path = tmp_path / "m.npz"
    net.save(path, meta={"steps": 5})
    loaded, meta = MGBPNet.load(path)
    assert meta == {"steps": 5}
    np.testing.assert_array_equal(loaded.store.params, net.store.params)
    assert loaded.config == TINY
    # truncated file
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match="trunc.npz"):
        MGBPNet.load(bad)
    # a model of another architecture under the right config name
    other = MGBPNet(NetConfig(features=4, growth=2, bottleneck=3, dense_layers=1))
    other.store.save(tmp_path / "mismatch.npz", config={"network": TINY.to_dict(), "meta": {}})
    with pytest.raises(ModelFileError, match="do not match"):
        MGBPNet.load(tmp_path / "mismatch.npz")
    with pytest.raises(ModelFileError, match="not found"):
        MGBPNet.load(tmp_path / "missing.npz")
