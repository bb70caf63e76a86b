"""Trainer: exact resume, checkpoint contents, log; the patch sampler's pyramids."""
import shutil
import subprocess

import numpy as np
import pytest

from mgbp_classic.data import PatchSampler
from mgbp_classic.imaging.io import write_image
from mgbp_classic.net import MGBPNet, NetConfig
from mgbp_classic.resize import imresize
from mgbp_classic.train import TrainConfig, git_revision, learning_rate, read_log, steps_label, train

TINY = NetConfig(features=4, growth=2, bottleneck=3, dense_layers=1)


@pytest.fixture
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "train"
    folder.mkdir()
    for i, shape in enumerate([(40, 52, 3), (33, 47, 3), (64, 36)]):
        img = rng.random(shape)
        img = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1)) / 3        # some spatial correlation
        write_image(folder / f"img{i}.png", img)
    return folder


def test_sampler_patches_are_aligned_protocol_pyramids(tiny_data):
    sampler = PatchSampler(tiny_data, patch=16, levels=2)
    assert len(sampler) == 3
    pyr = sampler.pyramids[0]
    hr = pyr[0] / 255.0
    np.testing.assert_array_equal(pyr[2], np.round(np.clip(imresize(hr, 0.25), 0, 1) * 255).astype(np.uint8))
    batch = sampler.sample(np.random.default_rng(5), 6)
    assert [b.shape for b in batch] == [(6, 3, 16, 16), (6, 3, 8, 8), (6, 3, 4, 4)]
    assert all(b.dtype == np.float32 and 0 <= b.min() and b.max() <= 1 for b in batch)
    # the same generator state gives the same batch
    again = sampler.sample(np.random.default_rng(5), 6)
    for a, b in zip(batch, again):
        np.testing.assert_array_equal(a, b)


def test_sampler_rejects_bad_patch(tiny_data):
    with pytest.raises(ValueError, match="patch must be a multiple of 8"):
        PatchSampler(tiny_data, patch=12, levels=3)
    with pytest.raises(ValueError, match="at least 128"):
        PatchSampler(tiny_data, patch=128, levels=3)


def test_learning_rate_square_root_decay():
    cfg = TrainConfig(lr=1e-3, lr_decay=100.0)
    assert learning_rate(cfg, 0) == 1e-3
    assert learning_rate(cfg, 300) == pytest.approx(1e-3 / 2)


def test_resume_reproduces_the_uninterrupted_run(tiny_data, tmp_path):
    cfg = TrainConfig(data=[str(tiny_data)], levels=2, mu=2, patch=16, batch=2, steps=6, seed=4)
    full = train(cfg, tmp_path / "full.npz", network=TINY, progress=False, echo=lambda *a: None)
    assert full["step"] == 6 and len(full["losses"]) == 6
    part = tmp_path / "part.npz"
    first = train(cfg, part, network=TINY, stop_after=2, progress=False, echo=lambda *a: None)
    assert first["step"] == 2
    rest = train(cfg, part, network=TINY, resume=True, progress=False, echo=lambda *a: None)
    assert rest["step"] == 6
    assert first["losses"] + rest["losses"] == full["losses"]         # bit-for-bit
    a, meta = MGBPNet.load(tmp_path / "full.npz")
    b, _ = MGBPNet.load(part)
    np.testing.assert_array_equal(a.store.params, b.store.params)
    assert meta["steps"] == 6 and meta["train_config"]["patch"] == 16 and meta["data"]["images"] == 3
    assert "git_revision" in meta
    log = read_log(part.with_suffix(".log.jsonl"))
    assert [e["step"] for e in log if e["kind"] == "train"] == list(range(1, 7))
    assert [e["loss"] for e in log] == full["losses"]


def test_resume_refuses_another_config(tiny_data, tmp_path):
    cfg = TrainConfig(data=[str(tiny_data)], levels=2, mu=2, patch=16, batch=2, steps=2)
    train(cfg, tmp_path / "m.npz", network=TINY, progress=False, echo=lambda *a: None)
    other = TrainConfig(data=[str(tiny_data)], levels=2, mu=1, patch=16, batch=2, steps=4)
    with pytest.raises(ValueError, match="differs in \\['mu'\\]"):
        train(other, tmp_path / "m.npz", network=TINY, resume=True, progress=False, echo=lambda *a: None)


def test_init_starts_a_new_run_from_a_model(tiny_data, tmp_path):
    # a model trained with 16-pixel patches continues with 8-pixel patches: the new run starts
    # from its weights (step 0, fresh Adam state) and records where they came from
    first = TrainConfig(data=[str(tiny_data)], levels=2, mu=2, patch=16, batch=2, steps=2, seed=1)
    train(first, tmp_path / "a.npz", network=TINY, progress=False, echo=lambda *a: None)
    a, _ = MGBPNet.load(tmp_path / "a.npz")
    start = TrainConfig(data=[str(tiny_data)], levels=2, mu=2, patch=8, batch=2, steps=0, seed=7,
                        init=str(tmp_path / "a.npz"))
    train(start, tmp_path / "b.npz", network=TINY, progress=False, echo=lambda *a: None)
    b, meta = MGBPNet.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.store.params, b.store.params)
    assert meta["steps"] == 0 and meta["init"]["steps"] == 2 and meta["init"]["train_config"]["patch"] == 16
    more = TrainConfig(**{**start.__dict__, "steps": 3})
    run = train(more, tmp_path / "c.npz", network=TINY, stop_after=1, progress=False, echo=lambda *a: None)
    rest = train(more, tmp_path / "c.npz", network=TINY, resume=True, progress=False, echo=lambda *a: None)
    full = train(more, tmp_path / "d.npz", network=TINY, progress=False, echo=lambda *a: None)
    assert run["losses"] + rest["losses"] == full["losses"]           # exact resume of an init run
    assert MGBPNet.load(tmp_path / "c.npz")[1]["init"]["steps"] == 2
    third = TrainConfig(**{**start.__dict__, "init": str(tmp_path / "c.npz"), "steps": 1})
    train(third, tmp_path / "f.npz", network=TINY, progress=False, echo=lambda *a: None)
    chain = MGBPNet.load(tmp_path / "f.npz")[1]                        # a stage from a stage: both kept
    assert chain["init"]["steps"] == 3 and chain["init"]["init"]["path"] == str(tmp_path / "a.npz")
    assert steps_label(chain) == "2 + 3 + 1 steps"
    wide = NetConfig(features=6, growth=2, bottleneck=3, dense_layers=1)
    with pytest.raises(ValueError, match="init model .* has the network"):
        train(more, tmp_path / "e.npz", network=wide, progress=False, echo=lambda *a: None)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_revision_is_dirty_only_for_uncommitted_code(tmp_path, monkeypatch):
    # a checkpoint or log being written by another run must not mark a new run's code as modified
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_revision(plain) == "unknown"                 # not a checkout
    tmp_path = tmp_path / "repo"
    tmp_path.mkdir()

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)
    (tmp_path / "mgbp_classic").mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "mgbp_classic" / "a.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "run.log").write_text("step 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    pkg = tmp_path / "mgbp_classic"
    assert git_revision(pkg) == head
    (tmp_path / "benchmarks" / "run.log").write_text("step 2\n")
    assert git_revision(pkg) == head
    (pkg / "a.py").write_text("x = 2\n")
    assert git_revision(pkg) == head + "-dirty"


def test_steps_label_counts_the_init_model():
    assert steps_label({"steps": 389}) == "389 steps"
    assert steps_label({"steps": 155, "init": {"steps": 733, "path": "main.npz"}}) == "733 + 155 steps"
    assert steps_label({}) == "? steps"
    assert steps_label({"steps": 80, "init": {"steps": 655, "init": {"steps": 850}}}) == "850 + 655 + 80 steps"
