"""Scaling on Dask: batch upscaling and data-parallel training steps on 1 and 2 workers.

Prints, for local clusters of 1 and 2 single-threaded worker processes (measured in interleaved
rounds, so that a change in the machine's load hits both alike):

* batch upscaling throughput (images/s, one task per image) and the efficiency
  (speed-up / workers);
* training throughput (steps/s, each batch split into one shard per worker), its efficiency, and
  the communication per step in bytes (the parameters scattered to every worker, one gradient
  back per shard);
* a model of the speed-up of training on N machines from these measurements.

The model: one step costs ``T(N) = T_c / N + t_0 + V(N) / B`` with ``T_c`` the step's compute on one
worker, ``t_0`` the fixed cost of a round of tasks (scheduling, scattering, gathering: measured as
``T(1) - T_c``), and ``V(N) = 4 P (N + N)`` bytes through the client's link (``P`` parameters: the
parameters out to each worker and one gradient back from each) at bandwidth ``B``. The speed-up
``S(N) = T(1) / T(N)`` peaks at ``N* = sqrt(T_c B / (8 P))``; an all-reduce among the workers
(each sending and receiving ~``2 · 4P`` bytes whatever N) would remove the ``N`` in ``V``.

Usage::

    python benchmarks/dask_scaling.py                 # about 3-5 minutes on an idle 2-core machine
    python benchmarks/dask_scaling.py --rounds 1 --images 4 --steps 2
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder, count, side, seed=0):
    """``count`` smooth colour test images ``side`` × ``side`` (PNG); their paths."""
    from mgbp_classic.imaging.io import write_image
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / 7.0
    paths = []
    for i in range(count):
        img = np.stack([0.5 + 0.45 * np.sin(x * rng.uniform(0.5, 2) + y * rng.uniform(0.5, 2) + rng.uniform(0, 6))
                        for _ in range(3)], axis=2)
        paths.append(str(Path(folder) / f"im{i:03d}.png"))
        write_image(paths[-1], img)
    return paths


def batch_round(client, paths, out_dir, *, levels, method):
    """Seconds to upscale every path on the cluster (outputs removed first)."""
    from mgbp_classic import distributed as dist
    from mgbp_classic.pipeline import batch
    for p in Path(out_dir).glob("*.png"):
        p.unlink()
    jobs = batch.plan_batch(batch.collect_inputs(paths), out_dir, into_directory=True,
                            name=lambda p: Path(p).name)
    start = time.perf_counter()
    summary = dist.run_batch(client, jobs, batch.Settings(levels=levels, method=method, mu=2), threads=1)
    seconds = time.perf_counter() - start
    if summary.failed:
        raise RuntimeError(f"{len(summary.failed)} images failed: {summary.failed[0][1]}")
    return seconds


def train_round(gradient, net, adam, config, steps, first_step):
    """Seconds per training step and the shards' compute seconds per step (means over ``steps``)."""
    from mgbp_classic.train import learning_rate
    start, compute = time.perf_counter(), 0.0
    for step in range(first_step, first_step + steps):
        gradient(net, step)
        compute += sum(gradient.shard_seconds)
        adam.step(lr=learning_rate(config, step))
    return (time.perf_counter() - start) / steps, compute / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved measurement rounds")
    parser.add_argument("--images", type=int, default=8, help="images per batch round")
    parser.add_argument("--side", type=int, default=48, help="side of the test images")
    parser.add_argument("--method", default="net", help="upscaling method of the batch")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=32)
    args = parser.parse_args(argv)

    from mgbp_classic import distributed as dist, nn
    from mgbp_classic.net import MGBPNet, NetConfig
    from mgbp_classic.train import TrainConfig

    work = Path(tempfile.mkdtemp(prefix="dask-scaling-"))
    (work / "data").mkdir()
    (work / "out").mkdir()
    paths = make_images(work, args.images, args.side)
    make_images(work / "data", 4, 96, seed=1)
    config = TrainConfig(data=[str(work / "data")], levels=2, mu=2, patch=args.patch, batch=args.batch,
                         steps=10 ** 6, seed=0)
    netcfg = NetConfig(seed=0)

    sizes = (1, 2)
    batch = {n: [] for n in sizes}
    train = {n: [] for n in sizes}
    compute = {n: [] for n in sizes}
    comm = {}
    with dist.connect(workers=1, worker_threads=1) as c1, dist.connect(workers=2, worker_threads=1) as c2:
        clients = {1: c1, 2: c2}
        runs = {}
        for n, client in clients.items():                      # warm up: imports, JIT caches, model, data
            batch_round(client, paths[:n], work / "out", levels=1, method=args.method)
            net = MGBPNet(netcfg)
            runs[n] = (dist.DataParallelGradient(client, config, threads=1), net,
                       nn.Adam(net.store, lr=config.lr))
            train_round(*runs[n], config, 1, 0)
        step = 1
        for r in range(args.rounds):
            for n in sizes:
                batch[n].append(batch_round(clients[n], paths, work / "out", levels=1, method=args.method))
            for n in sizes:
                gradient, net, adam = runs[n]
                seconds, busy = train_round(gradient, net, adam, config, args.steps, step)
                train[n].append(seconds)
                compute[n].append(busy)
                comm[n] = gradient.bytes_per_step
            step += args.steps
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    b = {n: float(np.median(v)) for n, v in batch.items()}
    t = {n: float(np.median(v)) for n, v in train.items()}
    params = MGBPNet(netcfg).num_parameters
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
          f"(figures from a loaded machine are noisy; ratios were measured in interleaved rounds)")
    print(f"\nbatch upscaling: {args.images} images {args.side}x{args.side}, method {args.method}, x2, "
          "one task per image, 1 thread per worker")
    print("| workers | images/s | speed-up | efficiency |")
    print("|--------:|---------:|---------:|-----------:|")
    for n in sizes:
        rate = args.images / b[n]
        print(f"| {n} | {rate:8.2f} | {b[1] / b[n]:8.2f} | {b[1] / b[n] / n:10.2f} |")
    print(f"\ntraining: batch {args.batch}, patch {args.patch}, 2 levels, mu 2, one shard per worker "
          f"({params} parameters)")
    print("| workers | steps/s | speed-up | efficiency | bytes/step |")
    print("|--------:|--------:|---------:|-----------:|-----------:|")
    for n in sizes:
        print(f"| {n} | {1 / t[n]:7.3f} | {t[1] / t[n]:8.2f} | {t[1] / t[n] / n:10.2f} | {comm[n]:10d} |")

    t_c = float(np.median(compute[1]))
    t_0 = max(0.0, t[1] - t_c)
    t_c2 = float(np.median(compute[2]))
    print(f"\ncompute per step on the workers (sum over shards): 1 worker {t_c:.3f} s, 2 workers {t_c2:.3f} s"
          + (" (more with 2: the workers share the machine's cores and memory bandwidth)" if t_c2 > 1.05 * t_c else ""))
    print(f"model: T(N) = T_c/N + t_0 + 8 P N / B with T_c = {t_c:.3f} s (the step's compute on one worker), "
          f"t_0 = {t_0:.3f} s (T(1) - T_c: scheduling, scatter, gather on this machine), P = {params}")
    print("| N | S(N) at B = 1 Gbit/s | S(N) at B = 10 Gbit/s |")
    print("|--:|---------------------:|----------------------:|")
    for n in (1, 2, 4, 8, 16, 32, 64):
        row = []
        for bandwidth in (1e9 / 8, 10e9 / 8):
            one = t_c + t_0 + 8 * params / bandwidth
            row.append(one / (t_c / n + t_0 + 8 * params * n / bandwidth))
        print(f"| {n} | {row[0]:20.2f} | {row[1]:21.2f} |")
    for bandwidth, name in ((1e9 / 8, "1 Gbit/s"), (10e9 / 8, "10 Gbit/s")):
        best = np.sqrt(t_c * bandwidth / (8 * params))
        print(f"N* = sqrt(T_c B / 8P) = {best:.0f} machines at {name} (t_0 = 0); "
              f"with t_0 the speed-up cannot pass T(1)/t_0 = {(t_c + t_0) / max(t_0, 1e-9):.1f}")


if __name__ == "__main__":
    main()
