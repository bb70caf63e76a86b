"""Data-parallel training: every step's batch cut into shards, one task each.

Each worker computes loss (7) and its gradient on its shard with the same engine, and the client
adds the shards' gradients (weighted by shard size, which makes the sum the gradient of the full
batch's mean loss) before its Adam step. The parameters travel to the workers once per step by
``Client.scatter``.
"""
import os
import threading
import time
from functools import lru_cache

import numpy as np

from ..data import PatchSampler
from ..net import MGBPNet, NetConfig, multiscale_loss
from ..nn import Engine
from .cluster import numba_turn, task_threads

__all__ = ["shard_gradient", "shard_bounds", "DataParallelGradient"]


@lru_cache(maxsize=4)
def _sampler(data, patch, levels):
    return PatchSampler(list(data), patch=patch, levels=levels)


def _worker_sampler(data, patch, levels):
    """The :class:`~mgbp_classic.data.PatchSampler` of a training set, built once per worker process
    (the images are read from ``data``, a path every worker sees; drawing a batch only reads it)."""
    return _sampler(tuple(data), patch, levels)


#: Each worker thread's training network per architecture, with its engine: built on the thread's
#: first shard (the gradient buffer and the scratch buffers are the thread's own).
_THREAD = threading.local()


def _worker_net(network):
    """``(net, engine)``: this worker thread's network of the given architecture (``NetConfig`` as a
    dict) and its engine context."""
    key = tuple(sorted(network.items()))
    nets = _THREAD.__dict__.setdefault("nets", {})
    if key not in nets:
        nets[key] = (MGBPNet(NetConfig.from_dict(network)), Engine())
    return nets[key]


def shard_gradient(params, *, spec, step, lo, hi, threads=None):
    """Loss (7) and its gradient on patches ``lo:hi`` of step ``step``'s batch (run on a worker).

    Parameters
    ----------
    params : ndarray
        The flat float32 parameter vector of the step.
    spec : dict
        ``data``, ``patch``, ``levels``, ``mu``, ``batch``, ``seed`` of the run and ``network`` (the
        ``NetConfig`` as a dict).
    step : int
        The step whose batch is drawn (from a generator seeded ``(seed, step)``, as the trainer does).
    lo, hi : int
        The shard: patches ``lo … hi - 1`` of the batch.
    threads : int, optional
        Numba threads of this task.

    Returns
    -------
    loss : float
        The shard's loss times its weight ``(hi - lo) / batch``.
    parts : dict
        Every term of loss (7), weighted the same way.
    grads : ndarray
        The weighted gradient (float32, the parameter vector's shape).
    seconds : float
        Compute time of the shard on its worker (drawing the batch, forward and backward).

    Notes
    -----
    Loss (7) averages over the batch, so the mean over the full batch is the sum over shards of
    ``(n_shard / n_batch) ×`` the shard's mean, and so is its gradient: the client only adds.
    Every shard draws the *whole* batch (cheap: crops of the stored pyramids) and keeps its slice,
    so the batch is exactly the single-process batch.
    """
    task_threads(threads)
    start = time.perf_counter()
    sampler = _worker_sampler(spec["data"], spec["patch"], spec["levels"])
    net, engine = _worker_net(spec["network"])
    weight = (hi - lo) / spec["batch"]
    rng = np.random.default_rng([spec["seed"], step])
    shard = [level[lo:hi] for level in sampler.sample(rng, spec["batch"])]
    net.store.params[...] = params
    net.store.zero_grad()
    with numba_turn():
        loss, parts = multiscale_loss(net, shard, mu=spec["mu"], max_levels=spec["levels"], engine=engine)
    grads = net.store.grads * np.float32(weight)
    return loss * weight, {k: v * weight for k, v in parts.items()}, grads, time.perf_counter() - start


def shard_bounds(batch, shards):
    """``[(lo, hi), …]``: ``batch`` patches cut into ``shards`` nearly equal consecutive pieces."""
    shards = max(1, min(int(shards), int(batch)))
    edges = np.linspace(0, batch, shards + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class DataParallelGradient:
    """Loss (7) and its gradient for a training step, computed in shards on a Dask cluster.

    Parameters
    ----------
    client : dask.distributed.Client
    config : mgbp_classic.train.TrainConfig
        The run (its ``data`` must be a path every worker can read). The architecture is that of
        the network passed to each call.
    shards : int, optional
        Pieces each batch is cut into (default: one per worker, at most ``config.batch``).
    threads : int, optional
        Numba threads per task (default: the worker's).

    Notes
    -----
    Each call scatters the parameters once to every worker (``Client.scatter(broadcast=True)``: one
    copy per worker, not one per task), submits one :func:`shard_gradient` task per shard and adds
    their weighted gradients into ``net.store.grads``. Communication per step: the parameters to
    each worker and one gradient from each shard, ``4 P (workers + shards)`` bytes for P parameters
    (``bytes_per_step`` after a call), plus the small task messages; ``shard_seconds`` holds the
    last step's compute time of each shard on its worker.

    Examples
    --------
    ::

        with connect(workers=2) as client:
            gradient = DataParallelGradient(client, config)
            loss, parts = gradient(net, step)      # fills net.store.grads; then adam.step(...)
    """

    def __init__(self, client, config, *, shards=None, threads=None):
        self.client = client
        self.threads = threads
        nworkers = max(1, len(client.scheduler_info().get("workers", {})))
        self.shards = shard_bounds(config.batch, shards or nworkers)
        self.workers = nworkers
        self.spec = {"data": [os.path.abspath(d) if "://" not in str(d) else str(d) for d in config.data],
                     "patch": config.patch, "levels": config.levels, "mu": config.mu,
                     "batch": config.batch, "seed": config.seed}
        self.bytes_per_step = None
        self.shard_seconds = []

    def __call__(self, net, step):
        """Fill ``net.store.grads`` with the full batch's gradient at ``net``'s parameters; returns
        ``(loss, parts)`` as :func:`mgbp_classic.net.multiscale_loss` does."""
        spec = {**self.spec, "network": net.config.to_dict()}
        params = self.client.scatter(net.store.params, broadcast=True, hash=False)
        futures = [self.client.submit(shard_gradient, params, spec=spec, step=step, lo=lo, hi=hi,
                                      threads=self.threads, pure=False)
                   for lo, hi in self.shards]
        try:
            results = self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise
        finally:
            self.client.cancel([params])
        total = np.zeros(net.store.grads.shape, np.float64)
        loss, parts = 0.0, {}
        self.shard_seconds = [r[3] for r in results]
        for shard_loss, shard_parts, grads, _ in results:
            loss += shard_loss
            total += grads
            for key, value in shard_parts.items():
                parts[key] = parts.get(key, 0.0) + value
        net.store.grads[...] = total
        self.bytes_per_step = net.store.params.nbytes * (self.workers + len(results))
        return loss, parts
