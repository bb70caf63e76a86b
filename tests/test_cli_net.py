"""Command line of the learned network: train, info, upscale --method net (CliRunner)."""
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mgbp_classic import sample_image_path
from mgbp_classic.inference import default_model_path
from mgbp_classic.imaging.io import read_image, write_image
from mgbp_classic.net import MGBPNet, NetConfig
from mgbp_classic_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_info_on_the_shipped_model():
    res = run("info")
    assert res.exit_code == 0, res.output
    net, meta = MGBPNet.load(default_model_path())
    assert "263,859" in res.output
    assert re.search(rf"^training steps +{meta['steps']}\b", res.output, re.M)
    assert meta["steps"] >= 1 and "git_revision" in meta
    assert "test" not in " ".join(meta["data"]["roots"])
    assert f"({meta['data']['images']} images)" in res.output


def test_the_shipped_model_records_its_training_images(data_dir):
    # the data record of the last stage: the training images at least one patch wide and high (the
    # sampler skips the smaller ones: 284 of the 291 for the 128x128 stage), by count and names
    import hashlib
    from mgbp_classic.data import find_images
    _, meta = MGBPNet.load(default_model_path())
    patch = meta["train_config"]["patch"]
    files = [f for f in find_images(data_dir / "train")
             if min(s // 8 * 8 for s in read_image(f).shape[:2]) >= patch]
    assert len(find_images(data_dir / "train")) == 291
    names = hashlib.sha256("\n".join(sorted(f.name for f in map(Path, files))).encode()).hexdigest()[:16]
    assert (meta["data"]["images"], meta["data"]["names_sha256_16"]) == (len(files), names)


def test_info_says_what_an_init_model_started_from(tmp_path):
    # a model trained with `train --init` (the shipped model's anneal stage): info gives both runs
    small = MGBPNet(NetConfig(features=4, growth=2, bottleneck=3, dense_layers=1))
    first = {"steps": 40, "train_seconds": 7200.0, "git_revision": "abc123",
             "train_config": {"levels": 2, "mu": 2, "patch": 16, "batch": 4, "lr": 1e-3}}
    small.save(tmp_path / "second.npz", meta={"steps": 5, "train_seconds": 360.0, "git_revision": "def456",
                                               "init": {"path": "first.npz", **first}})
    res = run("info", tmp_path / "second.npz")
    assert res.exit_code == 0, res.output
    lines = {line[:15].strip(): line[17:] for line in res.output.splitlines()}
    assert lines["training steps"] == "5 after the 40 of the initial model (45 in all)"
    assert lines["training time"] == "0.10 h" and lines["git revision"] == "def456"
    assert lines["init from"] == "first.npz (40 steps)"
    assert lines["init recipe"] == "levels=2, mu=2, patch=16, batch=4, lr=0.001"
    assert lines["init time"] == "2.00 h" and lines["init revision"] == "abc123"
    # a third stage started from `second.npz`: every stage, oldest first, and the sum of their steps
    small.save(tmp_path / "third.npz", meta={"steps": 3, "init": {"path": "second.npz", "steps": 5,
                                                                   "train_config": {"levels": 1, "patch": 32},
                                                                   "init": {"path": "first.npz", **first}}})
    res = run("info", tmp_path / "third.npz")
    assert res.exit_code == 0, res.output
    lines = {line[:16].strip(): line[18:] for line in res.output.splitlines()}
    assert lines["training steps"] == "3 after the 40 + 5 of the initial model (48 in all)"
    assert lines["stage 1"] == "40 steps" and lines["stage 1 time"] == "2.00 h"
    assert lines["stage 1 recipe"] == "levels=2, mu=2, patch=16, batch=4, lr=0.001"
    assert lines["stage 2"] == "5 steps from first.npz" and lines["stage 2 recipe"] == "levels=1, patch=32"
    assert lines["stage 2 revision"] == "unknown" and lines["init from"] == "second.npz (stages 1-2)"
    small.save(tmp_path / "plain.npz", meta={"steps": 5})
    res = run("info", tmp_path / "plain.npz")
    assert "init from" not in res.output and "training steps   5\n" in res.output


def test_info_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    for path, text in [(bad, "bad.npz"), (tmp_path / "none.npz", "not found")]:
        res = run("info", path)
        assert res.exit_code == 1
        assert text in res.output and len(res.output.strip().splitlines()) == 1
        assert "Traceback" not in res.output


def test_upscale_with_the_shipped_model(tmp_path):
    out = tmp_path / "gulls_x4.png"
    res = run("upscale", "--method", "net", "--levels", "2", "--mu", "2", sample_image_path(), "-o", out)
    assert res.exit_code == 0, res.output
    img = read_image(out)
    assert img.shape == (288, 384, 3)
    # close to bicubic in the large (the network corrects the classic upscaler)
    from mgbp_classic.resize import imresize
    ref = imresize(read_image(sample_image_path()), 4)
    assert np.abs(img - ref).mean() < 0.05


def test_upscale_net_with_a_mismatched_model(tmp_path):
    other = MGBPNet(NetConfig(features=4, growth=2, bottleneck=3, dense_layers=1))
    path = tmp_path / "other.npz"
    other.store.save(path, config={"network": NetConfig().to_dict(), "meta": {}})
    res = run("upscale", "--method", "net", "--model", path, "--levels", "1", sample_image_path(),
              "-o", tmp_path / "o.png")
    assert res.exit_code != 0
    assert "do not match" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o.png").exists()


def test_train_error_paths(tmp_path):
    res = run("train", "--data", tmp_path / "missing", "--out", tmp_path / "m.npz")
    assert res.exit_code == 2 and "does not exist" in res.output
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.png", np.random.default_rng(0).random((20, 20, 3)))
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--resume")
    assert res.exit_code == 2 and "no checkpoint to resume" in res.output
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--patch", "12")
    assert res.exit_code == 2 and "'--patch': must be a positive multiple of 8" in res.output
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--mu", "0")
    assert res.exit_code == 2 and "Invalid value for '--mu': 0 is not in the range x>=1" in res.output
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--patch", "64")
    assert res.exit_code != 0 and "at least 64" in res.output and "Traceback" not in res.output
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not a zip")
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--patch", "16", "--init", tmp_path / "bad.npz")
    assert res.exit_code == 1 and "truncated or corrupt" in res.output and "Traceback" not in res.output
    MGBPNet(NetConfig(features=4, growth=2, bottleneck=3, dense_layers=1)).save(tmp_path / "small.npz")
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--patch", "16", "--init", tmp_path / "small.npz")
    assert res.exit_code == 2 and "Invalid value for '--init': init model" in res.output and "has the network" in res.output
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("value, message", [("3", "powers of two from 2 to 256"), ("2,x", "got 'x'"),
                                            ("", "got ''"), ("4,2,4", "scale 4 is given twice")])
def test_train_rejects_bad_validation_scales(tmp_path, value, message):
    folder = tmp_path / "imgs"
    folder.mkdir()
    write_image(folder / "a.png", np.random.default_rng(0).random((20, 20, 3)))
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--val-scales", value)
    assert res.exit_code == 2 and "Invalid value for '--val-scales'" in res.output and message in res.output
    assert not (tmp_path / "m.npz").exists()


def test_train_validates_at_every_scale_asked_for(tmp_path):
    # a one-step run of the x2 term alone (levels 1) still validates at x2 and x4: the modules are shared
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    write_image(folder / "a.png", rng.random((24, 24, 3)))
    res = run("train", "--data", folder, "--out", tmp_path / "m.npz", "--levels", "1", "--patch", "16",
              "--batch", "1", "--steps", "1", "--validate", folder, "--val-every", "1", "--val-scales", "4,2")
    assert res.exit_code == 0, res.output
    from mgbp_classic.train import read_log
    val = [e for e in read_log(tmp_path / "m.log.jsonl") if e["kind"] == "val"]
    assert len(val) == 1 and sorted(val[0]["psnr"]) == ["x2", "x4"]
    assert all(np.isfinite(v) and v > 5 for v in val[0]["psnr"].values())


def test_sigterm_during_a_streamed_write_leaves_no_file(tmp_path):
    # SIGTERM while the network streams its output: exit status 143, no output, no temporary file.
    # With an empty Numba cache the signal lands while the first tile's kernels compile, where an
    # exception raised by the handler is lost inside a C callback: the command still stops (after
    # that tile).
    import os
    import signal
    import subprocess
    import sys
    import time

    work, cache = tmp_path / "work", tmp_path / "numba-cache"
    work.mkdir()
    cache.mkdir()
    rng = np.random.default_rng(0)
    src = work / "in.png"
    write_image(src, np.kron(rng.random((24, 24, 3)), np.ones((4, 4, 1))))      # 96x96
    out = work / "out.png"
    proc = subprocess.Popen([sys.executable, "-c", "from mgbp_classic_cli.main import cli; cli()", "upscale",
                             "--levels", "2", "--tile", "8", str(src), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))
    deadline = time.monotonic() + 300
    while not list(work.glob(".out.png.*.tmp")):                      # the streamed file is open
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert sorted(p.name for p in work.iterdir()) == ["in.png"]


def test_sigterm_is_remembered_after_its_exception_is_lost():
    # the handler's SystemExit may be swallowed (a C callback); Termination.check raises it again
    import os
    import signal
    import time

    from mgbp_classic_cli._common import sigterm_exits

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_exits() as term:
        term.check(1, 2)                                             # nothing yet
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except SystemExit as exc:                                    # what a C callback would swallow
            assert exc.code == 143
        else:
            raise AssertionError("the handler did not raise")
        with pytest.raises(SystemExit) as caught:
            term.check(3, 4)
        assert caught.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is before
