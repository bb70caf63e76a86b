"""Command line of the learned network: train, info, upscale --method net (CliRunner)."""
import numpy as np
import pytest
from click.testing import CliRunner

from mgbp_classic import sample_image_path
from mgbp_classic.inference import default_model_path
from mgbp_classic.io import read_image, write_image
from mgbp_classic.net import MGBPNet, NetConfig
from mgbp_classic_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_info_on_the_shipped_model():
    res = run("info")
    assert res.exit_code == 0, res.output
    net, meta = MGBPNet.load(default_model_path())
    assert "263,859" in res.output
    assert f"training steps   {meta['steps']}" in res.output
    assert meta["steps"] >= 1 and "git_revision" in meta
    assert meta["data"]["images"] == 291 and "test" not in " ".join(meta["data"]["roots"])


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
    assert res.exit_code == 2 and "patch must be a positive multiple of 8" in res.output
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
