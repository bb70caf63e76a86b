"""Training the MGBP network: the multi-scale loss (7), Adam with square-root decay, exact resume.

A run is fully determined by its :class:`TrainConfig`: the batch of step ``t`` is drawn from a
generator seeded with ``(seed, t)``, so a run resumed from a checkpoint (parameters, Adam moments
and step count) computes exactly the losses the uninterrupted run computes.

The checkpoint *is* the model file: parameters, configuration and training record (steps, data,
git revision), plus the Adam state needed to resume. :func:`export_model` strips the optimiser
state for shipping.
"""
from dataclasses import dataclass, asdict, field
import hashlib
import json
import math
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np

from . import nn
from .data import PatchSampler, find_images
from .net import MGBPNet, NetConfig, multiscale_loss

__all__ = ["TrainConfig", "train", "learning_rate", "export_model", "git_revision", "read_log"]


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    Attributes
    ----------
    data : list of str
        Training folders/files (never the test sets).
    levels : int
        Loss (7) sums over L = 1 … levels; 3 trains one model for 2×, 4× and 8×.
    mu : int
        Back-projection steps during training (the paper: 2, the W-cycle).
    patch, batch : int
        HR patch size (multiple of 2^levels) and patches per step.
    steps : int
        Total optimisation steps of the run.
    lr : float
        Initial Adam learning rate.
    lr_decay : float
        Square-root decay scale τ: ``lr_t = lr / sqrt(1 + t / τ)``.
    seed : int
        Seeds the patch stream and the initialisation.
    init : str, optional
        Model file whose weights start the run instead of the random initialisation (a new run:
        step 0, fresh Adam moments) — e.g. to continue a model with another patch size.
    """

    data: list = field(default_factory=list)
    levels: int = 3
    mu: int = 2
    patch: int = 128
    batch: int = 16
    steps: int = 2000
    lr: float = 1e-3
    lr_decay: float = 500.0
    seed: int = 0
    init: str = None

    def validate(self):
        if self.levels < 1:
            raise ValueError(f"levels must be >= 1, got {self.levels}")
        if self.mu < 1:
            raise ValueError(f"mu must be >= 1, got {self.mu}")
        if self.patch < 2 ** self.levels or self.patch % 2 ** self.levels:
            raise ValueError(f"patch must be a positive multiple of {2 ** self.levels} for "
                             f"{self.levels} levels, got {self.patch}")
        if self.batch < 1 or self.steps < 0:
            raise ValueError(f"batch must be >= 1 and steps >= 0, got {self.batch} and {self.steps}")
        if not (self.lr > 0 and self.lr_decay > 0):
            raise ValueError(f"lr and lr_decay must be positive, got {self.lr} and {self.lr_decay}")


def learning_rate(config, step):
    """Square-root decay: ``lr / sqrt(1 + step / lr_decay)`` (step counts from 0)."""
    return config.lr / math.sqrt(1.0 + step / config.lr_decay)


#: What "the code that runs" means for :func:`git_revision` (git pathspecs from the top of the tree):
#: uncommitted changes elsewhere — a checkpoint or log being written by another run — do not count.
CODE_PATHS = (":/mgbp_classic", ":/cli", ":/setup.cfg", ":/pyproject.toml")


def git_revision(where=None):
    """The git revision of the source tree that runs (``"unknown"`` outside a checkout), with
    ``-dirty`` if the package code (:data:`CODE_PATHS`) has uncommitted changes. ``where`` is a
    directory inside the tree (default: this package's)."""
    here = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev + ("-dirty" if dirty else "")) if rev else "unknown"


def steps_label(meta):
    """How many training steps a model file's ``meta`` records: ``"389 steps"``, or
    ``"733 + 155 steps"`` for a run started (``--init``) from a model trained 733 steps."""
    steps = meta.get("steps", "?")
    before = (meta.get("init") or {}).get("steps")
    return f"{before} + {steps} steps" if before is not None else f"{steps} steps"


def _data_record(files):
    digest = hashlib.sha256("\n".join(sorted(Path(f).name for f in files)).encode()).hexdigest()[:16]
    return {"images": len(files), "names_sha256_16": digest}


def read_log(path):
    """The JSON-lines training log as a list of dicts (``kind`` is ``"train"`` or ``"val"``)."""
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _truncate_log(path, step):
    """Drop log entries after ``step`` (left by a run that died after its last checkpoint)."""
    if not os.path.exists(path):
        return
    keep = [e for e in read_log(path) if e.get("step", 0) <= step]
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as fh:
        for e in keep:
            fh.write(json.dumps(e) + "\n")
    os.replace(tmp, path)


def _validate(net, val_files, *, scales, mu):
    from .inference import upscale_rgb
    from .io import read_image
    from .metrics import make_lr, mod_crop, protocol_scores
    out = {}
    for s in scales:
        levels = int(round(math.log2(s)))
        psnrs = []
        for f in val_files:
            img = read_image(f)
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, axis=2)
            hr = mod_crop(img[:, :, :3], s)
            sr = upscale_rgb(net, make_lr(hr, s), levels=levels, mu=mu)[-1]
            psnrs.append(protocol_scores(hr, sr, s)[0])
        out[f"x{s}"] = float(np.mean(psnrs))
    return out


def train(config, out, *, network=None, resume=False, log=None, validation=None, val_scales=(4,),
          val_every=100, checkpoint_minutes=5.0, stop_after=None, progress=True, echo=print):
    """Train (or resume training) an MGBP network; the checkpoint/model file is ``out``.

    Parameters
    ----------
    config : TrainConfig
    out : path
        Model/checkpoint file, written atomically every ``checkpoint_minutes`` and at the end.
    network : NetConfig, optional
        Architecture (default: the paper's); its ``seed`` is replaced by ``config.seed``.
    resume : bool
        Continue from ``out`` (its stored config must equal ``config`` except ``steps``).
    log : path, optional
        JSON-lines log (default: ``out`` with suffix ``.log.jsonl``); one line per step
        ``{"kind": "train", "step", "loss", "lr", "patches_per_s", "seconds", "terms"}`` and one per
        validation ``{"kind": "val", "step", "psnr": {"x4": …}}``.
    validation : list of paths, optional
        HR images for a periodic PSNR check (standard protocol), e.g. Set5.
    val_scales : tuple of int
        Scales of that check.
    val_every : int
        Validate every this many steps (and at the end).
    checkpoint_minutes : float
        Wall-clock interval between checkpoints.
    stop_after : int, optional
        Stop (with a checkpoint) after this many steps of *this call* — to test resuming.
    progress : bool
        Show a progress bar with loss and patches/s.
    echo : callable
        Where one-line messages go.

    Returns
    -------
    dict
        ``{"step": …, "losses": [loss per step run in this call], "validation": last or None}``.
    """
    config.validate()
    out = Path(out)
    log = Path(log) if log is not None else out.with_suffix(".log.jsonl")
    files = find_images(config.data)
    sampler = PatchSampler(files, patch=config.patch, levels=config.levels)
    netcfg = NetConfig(**{**(network or NetConfig()).to_dict(), "seed": config.seed})
    net = MGBPNet(netcfg)
    adam = nn.Adam(net.store, lr=config.lr)
    step = 0
    init_record = None
    if config.init is not None and not resume:
        start, init_meta = MGBPNet.load(config.init)
        mine = {k: v for k, v in netcfg.to_dict().items() if k != "seed"}
        theirs = {k: v for k, v in start.config.to_dict().items() if k != "seed"}
        if mine != theirs:
            raise ValueError(f"init model {config.init} has the network {theirs}, not {mine}")
        net.store.params[...] = start.store.params
        init_record = {"path": str(config.init), "steps": init_meta.get("steps"),
                       "train_seconds": init_meta.get("train_seconds"),
                       "git_revision": init_meta.get("git_revision"),
                       "train_config": init_meta.get("train_config")}
    if resume:
        if not out.exists():
            raise FileNotFoundError(f"cannot resume: checkpoint not found: {out}")
        net_loaded, meta = MGBPNet.load(out)
        if net_loaded.config != netcfg:
            raise ValueError(f"cannot resume {out}: its network is {net_loaded.config}, not {netcfg}")
        saved = dict(meta.get("train_config", {}))
        mine = asdict(config)
        diff = {k for k in mine if k != "steps" and saved.get(k) != mine[k]}
        if diff:
            raise ValueError(f"cannot resume {out}: its training config differs in {sorted(diff)}")
        net.store.params[...] = net_loaded.store.params
        adam.load_state_dict(net_loaded.extra)
        step = int(meta["steps"])
        init_record = meta.get("init")
        _truncate_log(log, step)
        echo(f"resuming {out} at step {step}")
    elif log.exists():
        log.unlink()
    started = meta_started = time.strftime("%Y-%m-%dT%H:%M:%S")
    if resume:
        meta_started = meta.get("started", started)
    revision = git_revision()              # the code this process runs (not the tree at save time)
    data_record = _data_record(sampler.files)
    data_record["roots"] = [str(d) for d in config.data]
    seconds_total = float(meta.get("train_seconds", 0.0)) if resume else 0.0

    def save():
        record = {"train_config": asdict(config), "steps": step, "data": data_record,
                  "git_revision": revision, "started": meta_started,
                  "saved": time.strftime("%Y-%m-%dT%H:%M:%S"), "train_seconds": round(seconds_total, 1),
                  "parameters": net.num_parameters, "validation": last_val}
        if init_record is not None:
            record["init"] = init_record
        net.save(out, meta=record, extra=adam.state_dict())

    val_files = list(validation) if validation else []
    last_val = None
    losses = []
    last_ckpt = time.monotonic()
    target = config.steps if stop_after is None else min(config.steps, step + stop_after)
    bar = _Progress(target - step, enabled=progress)
    with open(log, "a") as logfh:
        while step < target:
            t0 = time.perf_counter()
            rng = np.random.default_rng([config.seed, step])
            pyramid = sampler.sample(rng, config.batch)
            net.store.zero_grad()
            loss, parts = multiscale_loss(net, pyramid, mu=config.mu, max_levels=config.levels)
            lr = learning_rate(config, step)
            adam.step(lr=lr)
            step += 1
            dt = time.perf_counter() - t0
            seconds_total += dt
            losses.append(loss)
            entry = {"kind": "train", "step": step, "loss": loss, "lr": lr,
                     "patches_per_s": config.batch / dt, "seconds": round(seconds_total, 2),
                     "terms": {f"L{L}k{k}": v for (L, k), v in parts.items()}}
            logfh.write(json.dumps(entry) + "\n")
            logfh.flush()
            bar.update(f"step {step} loss {loss:.4f} {config.batch / dt:.2f} patches/s")
            if val_files and (step % val_every == 0 or step == config.steps):
                last_val = _validate(net, val_files, scales=val_scales, mu=config.mu)
                logfh.write(json.dumps({"kind": "val", "step": step, "psnr": last_val}) + "\n")
                logfh.flush()
                echo(f"step {step}: validation PSNR " +
                     ", ".join(f"{k} {v:.2f} dB" for k, v in last_val.items()))
            if time.monotonic() - last_ckpt > 60 * checkpoint_minutes or step == target:
                save()
                last_ckpt = time.monotonic()
    bar.close()
    if step == target and (not losses):
        save()
    return {"step": step, "losses": losses, "validation": last_val}


class _Progress:
    """A one-line progress display on a terminal, a line every 10 steps elsewhere (e.g. nohup)."""

    def __init__(self, total, *, enabled):
        self.total, self.n, self.enabled = total, 0, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.t0 = time.monotonic()

    def update(self, text):
        self.n += 1
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.t0
        eta = elapsed / self.n * (self.total - self.n)
        line = f"[{self.n}/{self.total}] {text} eta {eta / 60:.1f} min"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            sys.stderr.flush()
        elif self.n % 10 == 0 or self.n == self.total:
            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.tty:
            sys.stderr.write("\n")


def export_model(checkpoint, destination):
    """Copy a checkpoint without its optimiser state (what ships in the package)."""
    net, meta = MGBPNet.load(checkpoint)
    net.save(destination, meta=meta)
    return destination
