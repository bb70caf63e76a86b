"""Running on a Dask cluster (mgbp_classic.distributed): huge Zarr images, batches, data-parallel training.

Every test starts its own LocalCluster (two workers; threads of this process where that suffices,
processes for the lost-worker test) and compares with the local code path.
"""
import os
import signal
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import mgbp_classic
from mgbp_classic.imaging.io import write_image
from mgbp_classic_cli.main import cli

SAMPLE = mgbp_classic.sample_image_path()


dd = pytest.importorskip("mgbp_classic.distributed",
                         reason='Dask is not installed (the optional extra: pip install -e ".[dask]")')
zarr = pytest.importorskip("zarr", reason='zarr is not installed (the optional extra: pip install -e ".[dask]")')


@pytest.fixture(scope="module")
def client():
    """Two workers as threads of this process (the engine lock makes them take turns)."""
    with dd.connect(workers=2, processes=False) as c:
        yield c


def smooth_images(folder, count, shape, seed=0):
    """``count`` smooth colour images (8-bit PNG) in ``folder``; their paths."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / 9.0
    paths = []
    for i in range(count):
        img = np.stack([0.5 + 0.45 * np.sin(x * rng.uniform(0.5, 2) + y * rng.uniform(0.5, 2) + rng.uniform(0, 6))
                        for _ in range(3)], axis=2)
        paths.append(str(folder / f"im{i}.png"))
        write_image(paths[-1], img)
    return paths


# -------------------------------------------------------------------------------------------------
# huge images

def test_zarr_upscale_equals_the_local_tiled_path(client, tmp_path):
    from mgbp_classic.inference import load_model, upscale_rgb
    rng = np.random.default_rng(0)
    img = (rng.random((26, 20, 3)) * 255).astype(np.uint8)
    dd.image_to_zarr(img, tmp_path / "in.zarr", chunks=8)
    ticks = []
    out = dd.upscale_zarr(tmp_path / "in.zarr", tmp_path / "out.zarr", levels=1, tile=12, margin=6,
                          client=client, progress=lambda done, total: ticks.append((done, total)))
    result = zarr.open_array(out, mode="r")
    assert result.shape == (52, 40, 3) and result.dtype == np.uint8
    assert result.chunks[:2] == (24, 24)                       # written tile by tile
    net, _ = load_model()
    local = upscale_rgb(net, img / 255.0, levels=1, mu=2, tile=12, margin=6)[-1]
    assert np.abs(result[...] / 255.0 - local).max() <= 1 / 255
    assert ticks[-1] == (4, 4)                                 # rows 12+14 (2 < margin joins), cols 12+8
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
    with pytest.raises(FileExistsError, match="out.zarr"):
        dd.upscale_zarr(tmp_path / "in.zarr", out, levels=1, tile=16, margin=8, client=client)


# -------------------------------------------------------------------------------------------------
# batches

def test_publish_never_writes_a_file_twice(tmp_path):
    target = tmp_path / "a.png"
    for attempt in range(2):                                   # a task run twice (its worker was lost)
        staging = tmp_path / f".a.{attempt}.partial.png"
        staging.write_bytes(b"attempt %d" % attempt)
        assert dd.publish(str(staging), str(target), None) is (attempt == 0)
        assert not staging.exists()
    assert target.read_bytes() == b"attempt 0"
    before = dd.file_signature(target)                         # a planned overwrite, run twice
    for attempt in range(2):
        staging = tmp_path / f".a.o{attempt}.partial.png"
        staging.write_bytes(b"overwrite %d" % attempt)
        assert dd.publish(str(staging), str(target), before) is (attempt == 0)
    assert target.read_bytes() == b"overwrite 0"


def test_cli_batch_on_a_cluster_equals_the_local_outputs(tmp_path):
    paths = smooth_images(tmp_path, 3, (20, 24))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    runner = CliRunner()
    local = runner.invoke(cli, ["upscale", "--levels", "2", "--method", "mgbp", *paths, "-o", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(cli, ["upscale", "--levels", "2", "--method", "mgbp", "--workers", "2",
                                 *paths, str(broken), "-o", str(tmp_path / "dask")])
    assert remote.exit_code == 1, remote.output                # the broken file fails, the others are written
    assert "3 written, 0 skipped, 1 failed" in remote.output and "broken.png" in remote.output
    for p in paths:
        name = os.path.basename(p).replace(".png", "_x4.png")
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
        assert f"wrote {tmp_path / 'dask' / name}" in remote.output


def test_cluster_batch_keeps_the_existing_output_rules(client, tmp_path):
    from mgbp_classic.pipeline import batch
    paths = smooth_images(tmp_path, 2, (12, 16))
    sources = batch.collect_inputs(paths)
    settings = batch.Settings(levels=1, method="bicubic")

    def plan(existing):
        return batch.plan_batch(sources, tmp_path / "out", name=lambda p: batch.output_name(p, label="x2"),
                                existing=existing, into_directory=True)

    first = dd.run_batch(client, plan("error"), settings)
    assert first.line() == "2 written, 0 skipped, 0 failed"
    with pytest.raises(ValueError, match="exists"):
        plan("error")                                          # without a policy an existing output is an error
    before = {p: dd.file_signature(p) for p, _ in first.written}
    skipped = dd.run_batch(client, plan("skip"), settings)
    assert skipped.line() == "0 written, 2 skipped, 0 failed"
    assert all(dd.file_signature(p) == sig for p, sig in before.items())
    again = dd.run_batch(client, plan("overwrite"), settings)
    assert again.line() == "2 written, 0 skipped, 0 failed"
    assert all(dd.file_signature(p) != sig for p, sig in before.items())          # replaced, atomically


def test_a_lost_worker_loses_no_image_and_writes_none_twice(tmp_path, monkeypatch):
    from mgbp_classic.pipeline import batch
    from mgbp_classic.imaging.io import read_image
    from mgbp_classic.pipeline.upscale import upscale
    paths = smooth_images(tmp_path, 6, (24, 24), seed=1)
    jobs = batch.plan_batch(batch.collect_inputs(paths), tmp_path / "out", into_directory=True,
                            name=lambda p: os.path.basename(p))
    settings = batch.Settings(levels=2, method="ibp", mu=2, iterations=80)   # ~1/2 s per image: killable mid-task
    killed = None
    results = []
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)     # (importing the CLI sets it here)
    with dd.connect(workers=2, processes=True) as client:
        # the workers' OpenBLAS threads do not spin after a product (set before their NumPy loads)
        assert set(client.run(os.environ.get, "OPENBLAS_THREAD_TIMEOUT").values()) == {"4"}
        for result in dd.upscale_files(client, jobs, settings):
            results.append(result)
            if killed is None:                                 # kill a worker busy with another image
                busy = [addr for addr, keys in client.processing().items() if keys]
                if busy:
                    killed = busy[0]
                    pid = client.run(os.getpid, workers=[killed])[killed]
                    os.kill(pid, signal.SIGKILL)
        pids = list(client.run(os.getpid).values())
        with pytest.raises(KeyboardInterrupt):                 # Ctrl-C inside the block: the cluster goes
            with dd.connect(workers=1) as other:
                pids += list(other.run(os.getpid).values())
                raise KeyboardInterrupt
    assert killed is not None
    for pid in pids:                                           # no worker process outlives connect()
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"worker process {pid} is still running")
    assert sorted(str(r.job.source.path) for r in results) == sorted(paths)
    assert all(r.status == "wrote" for r in results), [r.message for r in results]
    outputs = [t for r in results for t, _ in r.written + r.kept]
    assert sorted(outputs) == sorted(j.target.resolve() for j in jobs)          # each exactly once
    for job in jobs:
        expected = upscale(read_image(job.source.path), levels=2, method="ibp", mu=2, iterations=80)
        assert np.array_equal(read_image(job.target), np.round(expected * 255) / 255)
    assert not [p for p in os.listdir(tmp_path / "out") if "partial" in p]


# -------------------------------------------------------------------------------------------------
# data-parallel training

def test_two_training_steps_on_the_cluster_equal_two_local_steps(client, tmp_path):
    from mgbp_classic.data import PatchSampler
    from mgbp_classic.net import MGBPNet, multiscale_loss
    from mgbp_classic.train import TrainConfig, read_log, train
    smooth_images(tmp_path, 3, (24, 32))
    config = TrainConfig(data=[str(tmp_path)], levels=2, mu=2, patch=8, batch=4, steps=2, seed=3)
    train(config, tmp_path / "local.npz", progress=False, echo=lambda line: None)      # one process

    distributed = dd.DataParallelGradient(client, config)
    assert distributed.shards == [(0, 2), (2, 4)]
    seen = []                                                  # (params, gradient, loss) of each step

    def gradient(net, step):
        loss, parts = distributed(net, step)
        seen.append((net.store.params.copy(), net.store.grads.copy(), loss))
        assert distributed.bytes_per_step == 4 * net.num_parameters * 4   # params to 2 workers, 2 gradients back
        return loss, parts

    out = tmp_path / "dask.npz"                                # one step, then --resume for the second
    train(config, out, stop_after=1, gradient=gradient, progress=False, echo=lambda line: None)
    train(config, out, resume=True, gradient=gradient, progress=False, echo=lambda line: None)
    assert [e["step"] for e in read_log(tmp_path / "dask.log.jsonl") if e["kind"] == "train"] == [1, 2]

    # at the same parameters, the shards' gradient is the full batch's to float32 rounding
    sampler = PatchSampler([tmp_path], patch=8, levels=2)
    net = MGBPNet(MGBPNet.load(out)[0].config)
    local_grads = []
    for step, (params, grads, loss) in enumerate(seen):
        net.store.params[...] = params
        net.store.zero_grad()
        pyramid = sampler.sample(np.random.default_rng([config.seed, step]), config.batch)
        assert multiscale_loss(net, pyramid, mu=2, max_levels=2)[0] == pytest.approx(loss, rel=1e-6)
        local_grads.append(net.store.grads.copy())
        assert np.linalg.norm(grads - local_grads[-1]) <= 1e-5 * np.linalg.norm(local_grads[-1])
    # and the parameters after two Adam steps agree to 1e-6 -- except where Adam's first steps, which
    # move every parameter by about lr * sign(g), turn a gradient at the rounding level of the batch
    # sums (|g| ~ 1e-7 max|g|) into a step either way: only parameters whose gradient stands well
    # above that level (ten times the largest gradient difference) are compared
    settled = np.ones(net.num_parameters, bool)
    for (_, grads, _), g in zip(seen, local_grads):
        settled &= np.abs(g) > 10 * np.abs(g - grads).max()
    local, remote = MGBPNet.load(tmp_path / "local.npz")[0].store.params, MGBPNet.load(out)[0].store.params
    start = seen[0][0]
    assert settled.mean() > 0.5, settled.mean()
    p, q = remote[settled], local[settled]
    assert np.linalg.norm(p - q) <= 1e-6 * np.linalg.norm(q), np.linalg.norm(p - q) / np.linalg.norm(q)
    assert np.linalg.norm(remote - start) > 1e-3 * np.linalg.norm(start)      # the steps moved it


def test_cli_upscale_zarr_in_process(tmp_path):
    from mgbp_classic.inference import load_model, upscale_rgb
    rng = np.random.default_rng(2)
    img = (rng.random((16, 12, 3)) * 255).astype(np.uint8)
    dd.image_to_zarr(img, tmp_path / "in.zarr", chunks=8)
    args = ["upscale-zarr", "--levels", "1", "--tile", "8", "--margin", "4", str(tmp_path / "in.zarr")]
    result = CliRunner().invoke(cli, [*args, str(tmp_path / "out.zarr")])
    assert result.exit_code == 0, result.output
    net, _ = load_model()
    local = upscale_rgb(net, img / 255.0, levels=1, mu=2, tile=8, margin=4)[-1]
    assert np.abs(zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[...] / 255.0 - local).max() <= 1 / 255
    again = CliRunner().invoke(cli, [*args, str(tmp_path / "out.zarr")])
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = CliRunner().invoke(cli, [*args, str(tmp_path / "out.png")])
    assert bad.exit_code == 2 and "must end in .zarr" in bad.output


def test_cli_evaluate_and_train_on_a_local_cluster(tmp_path):
    from mgbp_classic.train import read_log
    (tmp_path / "set").mkdir()
    smooth_images(tmp_path / "set", 2, (24, 32), seed=4)
    runner = CliRunner()
    args = ["evaluate", "--dataset", str(tmp_path / "set"), "--scale", "2", "--method", "bicubic"]
    local = runner.invoke(cli, args)
    remote = runner.invoke(cli, [*args, "--workers", "1"])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    mean = [line for line in local.output.splitlines() if line.startswith("mean PSNR")][0]
    assert mean.split(", total")[0] in remote.output               # the same scores, one task per image
    assert "dashboard" in remote.output or "no dashboard" in remote.output

    out = tmp_path / "run.npz"
    train = ["train", "--data", str(tmp_path / "set"), "--levels", "2", "--patch", "8", "--batch", "2",
             "--out", str(out)]
    first = runner.invoke(cli, [*train, "--steps", "1", "--workers", "1"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, [*train, "--steps", "2", "--resume"])      # resumed in this process
    assert second.exit_code == 0, second.output
    assert [e["step"] for e in read_log(tmp_path / "run.log.jsonl") if e["kind"] == "train"] == [1, 2]
