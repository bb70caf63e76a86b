"""The engine context: no global state, so two threads run two networks (or modes) at the same time."""
import threading

import numpy as np
import pytest

from mgbp_classic import nn
from mgbp_classic.deepfilter import FrozenNetwork
from mgbp_classic.net import MGBPNet, NetConfig, multiscale_loss

TINY = NetConfig(features=4, growth=2, bottleneck=4, dense_layers=2, seed=3)


def _in_threads(*jobs):
    """Run the callables in one thread each, released together; return their results in order."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def run(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as exc:          # re-raised in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_two_threads_in_two_modes_give_their_single_threaded_results():
    """One net trains (loss + gradients) while a second records its gains and runs them frozen:
    with one engine each, both results equal the same runs made one after the other."""
    rng = np.random.default_rng(0)
    train_net = MGBPNet(TINY, dtype=np.float64)
    train_net.store.params[...] += 0.05 * rng.standard_normal(train_net.store.size)
    frozen_net = MGBPNet(NetConfig(features=4, growth=2, bottleneck=4, dense_layers=2, seed=5), dtype=np.float64)
    pyramid = [rng.random((2, 3, 24 >> j, 24 >> j)) for j in range(3)]
    x, x2 = rng.random((1, 3, 11, 9)), rng.random((1, 3, 11, 9))

    def train_job():
        train_net.store.zero_grad()
        loss, _ = multiscale_loss(train_net, pyramid, mu=2, max_levels=2, engine=nn.Engine())
        return loss, train_net.store.grads.copy()

    def frozen_job():
        engine = nn.Engine()
        with engine.record() as tape:
            y = frozen_net.forward(x, levels=2, mu=2, engine=engine)
        with engine.frozen(tape):
            y2 = frozen_net.forward(x2, levels=2, mu=2, engine=engine)
        return y + y2, len(tape)

    alone = [train_job(), frozen_job()]
    for _ in range(2):
        together = _in_threads(train_job, frozen_job)
        assert together[0][0] == alone[0][0]
        np.testing.assert_array_equal(together[0][1], alone[0][1])
        assert together[1][1] == alone[1][1]
        for a, b in zip(together[1][0], alone[1][0]):
            np.testing.assert_array_equal(a, b)


def test_the_same_network_on_two_inputs_in_two_threads():
    net = MGBPNet(TINY)
    rng = np.random.default_rng(1)
    xs = [rng.random((1, 3, 20, 17), dtype=np.float32), rng.random((2, 3, 9, 13), dtype=np.float32)]
    alone = [net.forward(x, levels=2, mu=2) for x in xs]
    together = _in_threads(*[lambda x=x: net.forward(x, levels=2, mu=2, engine=nn.Engine()) for x in xs])
    for outs_a, outs_b in zip(alone, together):
        for a, b in zip(outs_a, outs_b):
            np.testing.assert_array_equal(a, b)


def test_the_linear_part_leaves_the_shared_parameters_alone():
    """F X (every bias seen as zero) in one thread while the same network upscales in another."""
    net = MGBPNet(TINY, dtype=np.float64)
    rng = np.random.default_rng(3)
    net.store.params[...] += 0.05 * rng.standard_normal(net.store.size)
    params = net.store.params.copy()
    frozen = FrozenNetwork(net, rng.random((7, 6, 3)), levels=1, mu=2)
    x = rng.random((1, 3, 16, 16))
    alone = [frozen.linear_part(), net.forward(x, levels=2, mu=2)]
    for _ in range(3):
        fx, outs = _in_threads(frozen.linear_part, lambda: net.forward(x, levels=2, mu=2, engine=nn.Engine()))
        np.testing.assert_array_equal(fx, alone[0])
        for a, b in zip(outs, alone[1]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.store.params, params)
    assert frozen.max_error() < 1e-12


def test_modes_and_parameter_gradients_belong_to_one_engine():
    store = nn.ParamStore(seed=0, dtype=np.float64)
    relu = nn.BiasReLU(store, "r", 2)
    conv = nn.Conv2d(store, "c", cin=2, cout=2, k=3, bias=True)
    store.finalize()
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    a, b = nn.Engine(), nn.Engine()
    with a.record() as tape:
        assert (a.mode, b.mode) == ("record", None)
        relu.forward(x, engine=b)                                    # b is not recording
        assert len(tape) == 0
        relu.forward(x, engine=a)
        assert len(tape) == 1
    assert a.mode is None
    y, cache = conv.forward(x, engine=a)
    with a.input_grads_only():
        assert not a.param_grads and b.param_grads
        dx = conv.backward(np.ones_like(y), cache, engine=a)
    assert not store.grads.any()                                     # no parameter gradient inside
    np.testing.assert_array_equal(conv.backward(np.ones_like(y), cache, engine=b), dx)
    assert store.grads.any()
    with pytest.raises(RuntimeError, match="nested"):
        with a.record(), a.frozen(tape):
            pass
    store["c.bias"][...] = [0.5, -0.25]
    with b.without_biases():                                         # biases seen as zero, params untouched
        assert a.biases and not b.biases
        y0, _ = conv.forward(x, engine=b)
        y1, _ = conv.forward(x, engine=a)
    np.testing.assert_array_equal(store["c.bias"], [0.5, -0.25])
    np.testing.assert_allclose(y1 - y0, np.broadcast_to(np.array([0.5, -0.25])[None, :, None, None], y0.shape),
                               rtol=0, atol=1e-14)


def test_workspace_slots_reuse_one_buffer():
    ws = nn.Workspace()
    t = ws.get("conv.taps", (9, 4, 1, 5, 5), np.float32)
    c = ws.get("conv.cols", (2, 3), np.float32)                     # same slot: a view of the same buffer
    assert np.shares_memory(t, c)
    d = ws.get("dense.da2", (2, 3), np.float32)                     # slot "b"
    assert not np.shares_memory(t, d)
    assert ws.nbytes == 4 * (9 * 4 * 25 + 6)
    ws.clear()
    assert ws.nbytes == 0


@pytest.mark.parametrize("stride,bias,batch", [(2, False, 1), (1, True, 3)])
def test_a_convolution_writes_straight_into_the_next_blocks_buffer(stride, bias, batch):
    """Sequential(Conv2d, FilterBlock) skips the copy between them: the same output, caches and gradients
    as the two modules applied one after the other."""
    store = nn.ParamStore(seed=3, dtype=np.float64)
    conv = nn.Conv2d(store, "c", cin=5, cout=8, k=3, stride=stride, bias=bias)
    block = nn.FilterBlock(store, "b", c=8, growth=4, bottleneck=6, layers=2)
    store.finalize()
    store.params[...] = np.random.default_rng(0).standard_normal(store.params.shape) * 0.3
    seq = nn.Sequential(conv, block)
    x = np.random.default_rng(1).standard_normal((batch, 5, 11, 9))
    engine = nn.Engine()
    y, caches = seq.forward(x, engine=engine)
    h, c1 = conv.forward(x, engine=engine)
    y_ref, c2 = block.forward(h, engine=engine)
    assert np.array_equal(y, y_ref)
    assert np.array_equal(caches[1].hbuf, c2.hbuf) and np.array_equal(caches[0].x, c1.x)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    store.zero_grad()
    dx = seq.backward(dy, caches, engine=engine)
    g = store.grads.copy()
    store.zero_grad()
    dx_ref = conv.backward(block.backward(dy, c2, engine=engine), c1, engine=engine)
    assert np.array_equal(dx, dx_ref) and np.array_equal(g, store.grads)


def test_a_block_after_a_convolution_of_other_width_is_refused():
    store = nn.ParamStore(seed=0)
    conv = nn.Conv2d(store, "c", cin=3, cout=6, k=3)
    block = nn.FilterBlock(store, "b", c=8, growth=4, bottleneck=6, layers=1)
    block2 = nn.FilterBlock(store, "b2", c=6, growth=4, bottleneck=6, layers=1)
    store.finalize()
    with pytest.raises(ValueError, match="b: expected 8 channels from c, it gives 6"):
        nn.Sequential(conv, block).forward(np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"c: x must be a 4-D array \(N, C, H, W\)"):
        nn.Sequential(conv, block2).forward(np.zeros((3, 4, 4), np.float32))


@pytest.mark.parametrize("shape", [(1, 5, 4, 3), (5, 1, 4, 3)])
def test_a_layout_change_with_a_leading_axis_of_one_is_a_view(shape):
    # (1, C) and (C, 1) have the same memory in both layouts: the public output of a layer run on one
    # image must not be copied (it was, on the way out: a tenth of a x8 upscale's time)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    y = nn.layers.to_internal(x)
    assert y.shape == (shape[1], shape[0]) + shape[2:]
    assert np.shares_memory(x, y)
    np.testing.assert_array_equal(y, x.transpose(1, 0, 2, 3))
    assert np.shares_memory(nn.layers.to_public(y), x)


def test_a_layout_change_of_a_batch_copies():
    x = np.random.default_rng(0).random((3, 5, 4, 2), dtype=np.float32)
    y = nn.layers.to_internal(x)
    assert not np.shares_memory(x, y) and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x.transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(nn.layers.to_public(y), x)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("tail", ["conv", "convt"])
def test_a_sequential_keeps_the_internal_layout_between_its_modules(batch, tail):
    """Sequential(FilterBlock, BiasReLU, Conv2d | ConvTranspose2d), the synthesis and upscale stages: its
    output, caches, input and parameter gradients are those of the modules applied one by one, with
    the ReLUs plain, recording their gains, and frozen to the recorded gains."""
    store = nn.ParamStore(seed=4, dtype=np.float64)
    block = nn.FilterBlock(store, "b", c=6, growth=4, bottleneck=5, layers=2)
    act = nn.BiasReLU(store, "a", 6)
    last = (nn.Conv2d(store, "c", cin=6, cout=3, k=3, bias=True) if tail == "conv"
            else nn.ConvTranspose2d(store, "c", cin=6, cout=4))
    store.finalize()
    store.params[...] = np.random.default_rng(0).standard_normal(store.params.shape) * 0.3
    seq = nn.Sequential(block, act, last)
    x = np.random.default_rng(1).standard_normal((batch, 6, 7, 5))

    def by_sequential(x, engine):
        return seq.forward(x, engine=engine)

    def one_by_one(x, engine):
        h, c1 = block.forward(x, engine=engine)
        a, c2 = act.forward(h, engine=engine)
        y, c3 = last.forward(a, engine=engine)
        return y, (c1, c2, c3)

    def backward_of_sequential(dy, caches, engine):
        return seq.backward(dy, caches, engine=engine)

    def backward_one_by_one(dy, caches, engine):
        da = last.backward(dy, caches[2], engine=engine)
        return block.backward(act.backward(da, caches[1], engine=engine), caches[0], engine=engine)

    def run(forward, backward, mode, tape=None):
        engine = nn.Engine()
        if mode == "record":
            with engine.record() as tape:
                y, caches = forward(x, engine)
        elif mode == "frozen":
            with engine.frozen(tape):
                y, caches = forward(0.5 * x, engine)       # another input through the same gains
        else:
            y, caches = forward(x, engine)
        store.zero_grad()
        dx = backward(np.random.default_rng(2).standard_normal(y.shape), caches, engine)
        return y, caches, dx, store.grads.copy(), tape

    tapes = {}
    for mode in ("normal", "record", "frozen"):
        y, caches, dx, g, tapes["seq"] = run(by_sequential, backward_of_sequential, mode, tapes.get("seq"))
        y_ref, refs, dx_ref, g_ref, tapes["ref"] = run(one_by_one, backward_one_by_one, mode, tapes.get("ref"))
        assert np.array_equal(y, y_ref) and np.array_equal(dx, dx_ref) and np.array_equal(g, g_ref)
        assert np.array_equal(caches[0].hbuf, refs[0].hbuf) and np.array_equal(caches[1].x, refs[1].x)
        assert np.array_equal(caches[2].x, refs[2].x)
        if mode == "record":
            assert len(tapes["seq"]) == len(tapes["ref"]) == 2 * 2 + 2   # two per dense layer, the block's, act's
            assert all(np.array_equal(a, b) for a, b in zip(tapes["seq"], tapes["ref"]))
