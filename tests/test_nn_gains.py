"""ReLU gains (Theorem 1): record, freeze, and the frozen network is affine with the right backward."""
import numpy as np
import pytest

from mgbp_classic import nn


def setup():
    store = nn.ParamStore(seed=2, dtype=np.float64)
    fb = nn.FilterBlock(store, "fb", 3, growth=2, bottleneck=4)
    relu = nn.BiasReLU(store, "r", 3)
    store.finalize()
    store.params[...] += 0.1 * np.random.default_rng(0).standard_normal(store.size)

    engine = nn.Engine()

    def net(x):
        y, c1 = fb.forward(x, engine=engine)
        z, c2 = relu.forward(y, engine=engine)
        return z, (c1, c2)

    def net_backward(dz, cache):
        c1, c2 = cache
        return fb.backward(relu.backward(dz, c2, engine=engine), c1, engine=engine)

    return store, net, net_backward, engine


def test_record_and_frozen_reproduce_the_output_and_are_affine():
    store, net, _, engine = setup()
    x = np.random.default_rng(1).standard_normal((1, 3, 5, 4))
    y, _ = net(x)
    with engine.record() as tape:
        y_rec, _ = net(x)
    assert len(tape) == 3 * 2 + 1 + 1                  # two per dense layer, the block's, the BiasReLU's
    np.testing.assert_array_equal(y_rec, y)
    for g in tape:
        assert set(np.unique(g)) <= {0.0, 1.0}
    with engine.frozen(tape):
        y_frozen, _ = net(x)
    np.testing.assert_allclose(y_frozen, y, rtol=1e-13, atol=1e-13)
    with engine.frozen(tape):
        r, _ = net(np.zeros_like(x))
    with engine.frozen(tape):
        x2 = np.random.default_rng(2).standard_normal(x.shape)
        y_mix, _ = net(0.3 * x + 0.7 * x2)
    with engine.frozen(tape):
        y2, _ = net(x2)
    np.testing.assert_allclose(y_mix, 0.3 * y + 0.7 * y2, rtol=1e-12, atol=1e-12)
    assert not np.allclose(r, 0)


def test_frozen_backward_is_a_row_of_the_affine_map():
    store, net, net_backward, engine = setup()
    x = np.random.default_rng(1).standard_normal((1, 3, 5, 4))
    with engine.record() as tape:
        net(x)
    with engine.frozen(tape):
        r, _ = net(np.zeros_like(x))
        y, cache = net(x)
        e = np.zeros_like(y)
        e[0, 1, 2, 3] = 1.0
        row = net_backward(e, cache)                   # the filter that makes output pixel (1, 2, 3)
    assert (row * x).sum() + r[0, 1, 2, 3] == pytest.approx(y[0, 1, 2, 3], rel=1e-12)


def test_frozen_errors():
    store, net, _, engine = setup()
    x = np.zeros((1, 3, 5, 4))
    with engine.frozen([]), pytest.raises(RuntimeError, match="tape is empty"):
        net(x)
    with engine.record() as tape:
        net(x)
    with engine.frozen(tape), pytest.raises(RuntimeError, match="shape"):
        net(np.zeros((1, 3, 5, 5)))
    with engine.record(), pytest.raises(RuntimeError, match="nested"):
        with engine.frozen(tape):
            pass
    assert engine.mode is None
