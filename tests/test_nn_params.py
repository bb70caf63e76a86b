"""ParamStore (named flat buffers, deterministic init, .npz files and their errors) and Adam."""
import numpy as np
import pytest

from mgbp_classic import ModelFileError, nn


def make_store(seed=0, extra_module=False):
    store = nn.ParamStore(seed=seed)
    if extra_module:
        nn.Conv2d(store, "aaa.first", 2, 2, 3)
    nn.Conv2d(store, "conv", 3, 4, 3, bias=True)
    nn.FilterBlock(store, "fb", 4, growth=2, bottleneck=3)
    store.finalize()
    return store


def test_views_share_the_flat_buffers():
    store = make_store()
    w = store["conv.weight"]
    assert w.shape == (4, 3, 3, 3) and w.dtype == np.float32
    a, b = store.slice("conv.weight")
    store.params[a] = 42.0
    assert w[0, 0, 0, 0] == 42.0
    store.grad("conv.weight")[...] = 1.0
    assert store.grads[a:b].sum() == b - a
    store.zero_grad()
    assert not store.grads.any()
    assert store.size == store.params.size == store.m.size == store.v.size


def test_init_deterministic_per_name_and_he_scaled():
    s1, s2 = make_store(seed=3), make_store(seed=3, extra_module=True)
    for name in s1.names:
        np.testing.assert_array_equal(s1[name], s2[name])      # another module does not shift the init
    assert not np.array_equal(make_store(seed=4)["conv.weight"], s1["conv.weight"])
    assert not s1["conv.bias"].any() and not s1["fb.bias"].any()
    big = nn.ParamStore(seed=0)
    nn.Conv2d(big, "c", 64, 64, 3)
    big.finalize()
    assert big["c.weight"].std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.02)


def test_registration_errors():
    store = nn.ParamStore()
    store.add("a", (2,), nn.zeros)
    with pytest.raises(ValueError, match="already registered"):
        store.add("a", (2,), nn.zeros)
    with pytest.raises(RuntimeError, match="finalize"):
        store["a"]
    store.finalize()
    with pytest.raises(KeyError, match="no parameter named 'b'"):
        store["b"]
    with pytest.raises(RuntimeError, match="already finalized"):
        store.add("b", (1,), nn.zeros)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int32"):
        nn.ParamStore(dtype=np.int32)
    other = nn.ParamStore()
    with pytest.raises(ValueError, match=r"k must be one of \(1, 3\), got 5"):
        nn.Conv2d(other, "c", 3, 3, 5)
    with pytest.raises(ValueError, match="stride must be 1 for a 1×1 convolution, got 2"):
        nn.Conv2d(other, "c", 3, 3, 1, stride=2)
    conv = nn.Conv2d(other, "c", 3, 4, 3)
    other.finalize()
    with pytest.raises(ValueError, match=r"c: x must have 3 channels, got shape \(1, 2, 5, 5\)"):
        conv.forward(np.zeros((1, 2, 5, 5), np.float32))


def test_save_load_roundtrip_with_config_and_optimizer(tmp_path):
    store = make_store(seed=1)
    opt = nn.Adam(store, lr=1e-2)
    store.grads[...] = np.linspace(-1, 1, store.size, dtype=np.float32)
    opt.step()
    opt.step()
    path = tmp_path / "model.npz"
    store.save(path, config={"levels": 3, "name": "x"}, extra=opt.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]      # no temporary left behind
    other = make_store(seed=9)
    opt2 = nn.Adam(other)
    config, extra = other.load(path)
    opt2.load_state_dict(extra)
    assert config == {"levels": 3, "name": "x"}
    np.testing.assert_array_equal(other.params, store.params)
    np.testing.assert_array_equal(other.m, store.m)
    assert opt2.t == 2 and opt2.lr == 1e-2
    # exact resume: one more step on both gives identical parameters
    other.grads[...] = store.grads
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(other.params, store.params)
    layout, cfg, params, extra = nn.read_model_file(path)
    assert layout[0] == ("conv.weight", [4, 3, 3, 3]) and cfg["levels"] == 3


def test_file_errors(tmp_path):
    store = make_store()
    with pytest.raises(ModelFileError, match="not found"):
        store.load(tmp_path / "missing.npz")
    path = tmp_path / "m.npz"
    store.save(path)
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        store.load(tmp_path / "trunc.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError, match="not an mgbp-classic model file .* it is a text file"):
        store.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not an mgbp-classic model file .it lacks the entries"):
        store.load(tmp_path / "foreign.npz")
    bigger = make_store(extra_module=True)
    with pytest.raises(ModelFileError, match="do not match"):
        bigger.load(path)
    other = nn.ParamStore()
    nn.Conv2d(other, "conv", 3, 5, 3, bias=True)
    nn.FilterBlock(other, "fb", 4, growth=2, bottleneck=3)
    other.finalize()
    with pytest.raises(ModelFileError, match=r"conv.weight \(4, 3, 3, 3\) in the file"):
        other.load(path)


def test_adam_matches_the_formula():
    store = nn.ParamStore(seed=0)
    store.add("p", (50,), lambda rng, s: rng.standard_normal(s))
    store.finalize()
    p = store.params.astype(np.float64)
    m = np.zeros(50)
    v = np.zeros(50)
    opt = nn.Adam(store, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    rng = np.random.default_rng(0)
    for t in range(1, 6):
        g = rng.standard_normal(50).astype(np.float32)
        store.grads[...] = g
        opt.step(lr=0.01 / t)
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g.astype(np.float64) ** 2
        p = p - (0.01 / t) * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
    np.testing.assert_allclose(store.params, p, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"betas must be in \[0, 1\), got \(1.0, 0.5\)"):
        nn.Adam(store, betas=(1.0, 0.5))


def test_saved_file_has_normal_permissions(tmp_path):
    """Atomic saving goes through a private temporary file; the result must not stay 0600."""
    import os
    store = nn.ParamStore(seed=0)
    store.add("w", (2, 2), nn.zeros)
    store.finalize()
    mask = os.umask(0o022)
    try:
        store.save(tmp_path / "p.npz")
    finally:
        os.umask(mask)
    assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o644
