"""Training under faults: divergence, Ctrl-C and SIGTERM, a cut log line, stale temporary files,
a full disk. Tiny runs (one 16 x 16 patch, one level) through the command line."""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import mgbp_classic
from mgbp_classic.net import MGBPNet
from mgbp_classic_cli.main import cli
from test_bad_inputs import error_line  # the bad-input suite's check of a one-line CLI error

TINY = ["--levels", "1", "--mu", "1", "--patch", "16", "--batch", "1", "--checkpoint-minutes", "60"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    Image.open(mgbp_classic.sample_image_path()).convert("RGB").save(folder / "a.png")
    return folder


def steps_in(path):
    return MGBPNet.load(path)[1]["steps"]


def test_diverging_loss_stops_with_an_error_and_keeps_the_last_good_step(data, tmp_path):
    out = tmp_path / "run.npz"
    result = run("train", "--data", data, "--out", out, "--steps", "4", "--lr", "1e30", *TINY)
    error_line(result, 1, "training diverged at step 2: the loss is nan", "learning rate", "try a lower --lr",
               "checkpoint written at step 1")
    net, meta = MGBPNet.load(out)                    # loads: every weight finite
    assert meta["steps"] == 1 and np.all(np.isfinite(net.store.params))
    assert "trained to step" not in result.output


def test_ctrl_c_writes_a_checkpoint_then_resume_continues_exactly(data, tmp_path, monkeypatch):
    from mgbp_classic.train import TrainingRun
    reference = tmp_path / "ref.npz"
    assert run("train", "--data", data, "--out", reference, "--steps", "3", *TINY).exit_code == 0

    step = TrainingRun.step

    def step_then_ctrl_c(self):
        entry = step(self)
        if self.step_count == 2:
            os.kill(os.getpid(), signal.SIGINT)          # Ctrl-C during the second step
        return entry

    monkeypatch.setattr(TrainingRun, "step", step_then_ctrl_c)
    out = tmp_path / "run.npz"
    result = run("train", "--data", data, "--out", out, "--steps", "3", *TINY)
    assert result.exit_code == 130, result.output
    assert "SIGINT: stopping after this step with a checkpoint" in result.output
    assert "interrupted at step 2; checkpoint written to" in result.output
    assert steps_in(out) == 2                           # the default interval would have saved nothing
    monkeypatch.setattr(TrainingRun, "step", step)
    assert run("train", "--data", data, "--out", out, "--steps", "3", "--resume", *TINY).exit_code == 0
    np.testing.assert_array_equal(MGBPNet.load(out)[0].store.params, MGBPNet.load(reference)[0].store.params)


def test_sigterm_writes_a_checkpoint(data, tmp_path):
    out = tmp_path / "run.npz"
    log = tmp_path / "run.log.jsonl"
    command = [sys.executable, "-c", "from mgbp_classic_cli.main import cli; cli()", "train", "--data", str(data),
               "--out", str(out), "--steps", "1000", *TINY]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (log.exists() and log.read_text().count("\n") >= 1):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "SIGTERM: stopping after this step" in stdout + stderr and "Traceback" not in stderr
    done = steps_in(out)
    assert 1 <= done < 1000 and json.loads(log.read_text().splitlines()[-1])["step"] == done


def test_resume_tolerates_a_cut_last_log_line_and_removes_stale_temporaries(data, tmp_path):
    out = tmp_path / "run.npz"
    log = tmp_path / "run.log.jsonl"
    assert run("train", "--data", data, "--out", out, "--steps", "1", *TINY).exit_code == 0
    with open(log, "a") as fh:
        fh.write('{"kind": "train", "step": 2, "lo')     # killed while writing the next line
    stale = [tmp_path / ".run.npz.k3j9x0qz.tmp", tmp_path / ".run.log.jsonl.a8b7c6d5.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a checkpoint")
    unrelated = tmp_path / ".other.npz.k3j9x0qz.tmp"
    unrelated.write_bytes(b"not ours")
    result = run("train", "--data", data, "--out", out, "--steps", "2", "--resume", *TINY)
    assert result.exit_code == 0, result.output
    for path in stale:
        assert not path.exists() and f"removed the stale temporary file {path}" in result.output
    assert unrelated.exists()
    steps = [e["step"] for e in (json.loads(line) for line in log.read_text().splitlines())]
    assert steps == [1, 2]


def test_damaged_log_in_the_middle_is_named(data, tmp_path):
    out = tmp_path / "run.npz"
    log = tmp_path / "run.log.jsonl"
    assert run("train", "--data", data, "--out", out, "--steps", "1", *TINY).exit_code == 0
    log.write_text("garbage\n" + log.read_text())
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    result = run("train", "--data", data, "--out", out, "--steps", "2", "--resume", *TINY)
    error_line(result, 1, f"cannot resume {out}", f"{log}: line 1 is not a JSON log entry", "another --log")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("victim, words", [
    (".run.npz.", ["cannot write the checkpoint {out}: No space left on device (the previous checkpoint is "
                   "unchanged); it holds step 1"]),
    (".run.log.jsonl.", ["cannot resume {out}: cannot rewrite the log {log}: No space left on device"]),
])
def test_full_disk_names_the_file_and_leaves_the_old_one(data, tmp_path, monkeypatch, victim, words):
    out, log = tmp_path / "run.npz", tmp_path / "run.log.jsonl"
    assert run("train", "--data", data, "--out", out, "--steps", "1", *TINY).exit_code == 0
    with open(log, "a") as fh:
        fh.write('{"cut')                             # so that the resume rewrites the log
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    fsync = os.fsync

    def full_for_victim(fd):
        if victim in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_for_victim)
    result = run("train", "--data", data, "--out", out, "--steps", "2", "--resume", *TINY)
    error_line(result, 1, *(w.format(out=out, log=log) for w in words))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run.log.jsonl", "run.npz"]   # no temporary
