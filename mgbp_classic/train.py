"""Training the MGBP network: the multi-scale loss (7), Adam with square-root decay, exact resume.

A run is fully determined by its :class:`TrainConfig`: the batch of step ``t`` is drawn from a
generator seeded with ``(seed, t)``, so a run resumed from a checkpoint (parameters, Adam moments
and step count) computes exactly the losses the uninterrupted run computes.

The checkpoint *is* the model file: parameters, configuration and training record (steps, data,
git revision), plus the Adam state needed to resume. :func:`export_model` strips the optimiser
state for shipping.

:func:`train` is the whole run in one call; :class:`TrainingRun` is the same run as an object with
the four things a run does: :meth:`~TrainingRun.restore` (or :meth:`~TrainingRun.start`),
:meth:`~TrainingRun.step`, :meth:`~TrainingRun.validate` and :meth:`~TrainingRun.checkpoint`.
"""
from dataclasses import dataclass, asdict, field
import hashlib
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from . import nn
from ._validate import ParamError, check_int, check_real
from .atomic import atomic_write, stale_temporaries
from .exceptions import TrainingError
from .data import PatchSampler, find_images
from .inference import upscale_rgb
from .imaging.io import read_image
from .metrics import make_lr, mod_crop, protocol_scores
from .net import MGBPNet, NetConfig, multiscale_loss

__all__ = ["TrainConfig", "TrainingRun", "train", "learning_rate", "export_model", "git_revision", "read_log",
           "validation_psnr"]


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
        """Check every field (one line naming the field, what is allowed and what was received).

        Raises
        ------
        ParamError
        """
        check_int(self.levels, "levels", minimum=1)
        check_int(self.mu, "mu", minimum=1)
        check_int(self.patch, "patch", minimum=1)
        if self.patch < 2 ** self.levels or self.patch % 2 ** self.levels:
            raise ParamError("patch", f"must be a positive multiple of {2 ** self.levels} for "
                             f"{self.levels} levels, got {self.patch}")
        check_int(self.batch, "batch", minimum=1)
        check_int(self.steps, "steps", minimum=0)
        check_int(self.seed, "seed", minimum=0)
        for name in ("lr", "lr_decay"):
            check_real(getattr(self, name), name, minimum=0, strict=True)


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


def training_stages(meta):
    """The stages a model file's ``meta`` records, oldest first: one dict per run (``steps``,
    ``train_config``, ``train_seconds``, ``git_revision``, and ``from``: the path of the file it
    started from, ``None`` for the first). A run started with ``--init`` keeps the record of its initial model,
    which keeps its own, so a chain main → 128² → ×2 reads back as three stages."""
    stages, record = [], meta
    while isinstance(record, dict):
        init = record.get("init") if isinstance(record.get("init"), dict) else None
        stage = {k: record.get(k) for k in ("steps", "train_config", "train_seconds", "git_revision")}
        stage["from"] = init.get("path") if init else None
        stages.append(stage)
        record = init
    stages.reverse()
    return stages


def steps_label(meta):
    """How many training steps a model file's ``meta`` records: ``"389 steps"``, or
    ``"733 + 155 steps"`` for a run started (``--init``) from a model trained 733 steps, one term
    per stage (``"850 + 655 + 80 steps"``)."""
    counts = [st["steps"] if st["steps"] is not None else "?" for st in training_stages(meta)]
    return " + ".join(map(str, counts)) + " steps"


def _data_record(files):
    digest = hashlib.sha256("\n".join(sorted(Path(f).name for f in files)).encode()).hexdigest()[:16]
    return {"images": len(files), "names_sha256_16": digest}


def read_log(path):
    """The JSON-lines training log as a list of dicts (``kind`` is ``"train"`` or ``"val"``).

    A last line cut short (the run was killed, or the disk filled, while writing it) is left out;
    any other line that is not a JSON object is an error.

    Raises
    ------
    ValueError
        ``{path}: line {n} is not a JSON log entry ...``.
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    entries = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError:
            if i == last:                      # the line being written when the run stopped
                continue
            raise ParamError("log", f"{path}: line {i + 1} is not a JSON log entry ({line[:40]!r}); "
                             f"the log is damaged", subject="") from None
        entries.append(entry)
    return entries


def _truncate_log(path, step):
    """Drop log entries after ``step`` (left by a run that died after its last checkpoint) and a cut
    last line."""
    if not os.path.exists(path):
        return
    entries = read_log(path)
    keep = [e for e in entries if e.get("step", 0) <= step]
    with open(path, "rb") as fh:
        text = fh.read()
    if len(keep) == len(entries) and text.count(b"\n") == len(keep) and text.endswith(b"\n"):
        return                                  # nothing to drop, no cut line: leave the file alone
    with atomic_write(path, "w") as fh:
        for e in keep:
            fh.write(json.dumps(e) + "\n")


def validation_psnr(net, val_files, *, scales, mu):
    """Mean PSNR (standard protocol) of ``net`` on the HR images ``val_files``: ``{"x4": dB, ...}``."""
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


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class TrainingRun:
    """One training run of an MGBP network, whose checkpoint/model file is ``out``.

    Parameters
    ----------
    config : TrainConfig
    out : path
        Model/checkpoint file.
    network : NetConfig, optional
        Architecture (default: the paper's); its ``seed`` is replaced by ``config.seed``.
    log : path, optional
        JSON-lines log (default: ``out`` with suffix ``.log.jsonl``).
    validation : list of paths, optional
        HR images for the periodic PSNR check (:meth:`validate`).
    val_scales : tuple of int
        Scales of that check.
    echo : callable
        Where one-line messages go.
    gradient : callable, optional
        ``gradient(net, step) -> (loss, parts)``: fills ``net.store.grads`` with the gradient of
        loss (7) on step ``step``'s batch at ``net``'s parameters, as :meth:`step` does by default in
        this process (e.g. :class:`mgbp_classic.distributed.DataParallelGradient`, on a cluster).

    Attributes
    ----------
    net : MGBPNet
    adam : mgbp_classic.nn.Adam
    engine : mgbp_classic.nn.Engine
        The engine context of the training passes (its scratch buffers are reused from step to step).
    step_count : int
        Optimisation steps done so far (including those of the runs this one resumes).
    last_validation : dict or None
        The last result of :meth:`validate`.

    Notes
    -----
    A new run calls :meth:`start`, a resumed one :meth:`restore`; then :meth:`step` as often as
    wanted, :meth:`validate` and :meth:`checkpoint` when due. :func:`train` does exactly that.
    """

    def __init__(self, config, out, *, network=None, log=None, validation=None, val_scales=(4,), echo=print,
                 gradient=None):
        config.validate()
        self.gradient = gradient
        self.config = config
        self.out = Path(out)
        self.log = Path(log) if log is not None else self.out.with_suffix(".log.jsonl")
        self.sampler = PatchSampler(find_images(config.data), patch=config.patch, levels=config.levels)
        self.netcfg = NetConfig(**{**(network or NetConfig()).to_dict(), "seed": config.seed})
        self.net = MGBPNet(self.netcfg)
        self.adam = nn.Adam(self.net.store, lr=config.lr)
        self.engine = nn.Engine()                 # the context of every pass: its scratch buffers live across steps
        self.val_files = list(validation) if validation else []
        self.val_scales = val_scales
        self.echo = echo
        self.step_count = 0
        self.init_record = None
        self.started = _now()
        self.train_seconds = 0.0
        self.last_validation = None
        self.revision = None
        self.data_record = None
        self.write_failed = False       # a checkpoint could not be written (e.g. a full disk)
        self._diverged = False

    def _record_code_and_data(self):
        self.revision = git_revision()          # the code this process runs (not the tree at save time)
        self.data_record = _data_record(self.sampler.files)
        self.data_record["roots"] = [str(d) for d in self.config.data]

    def start(self):
        """Begin a new run: step 0, the weights of ``config.init`` if given, an empty log."""
        config = self.config
        if config.init is not None:
            start, init_meta = MGBPNet.load(config.init)
            mine = {k: v for k, v in self.netcfg.to_dict().items() if k != "seed"}
            theirs = {k: v for k, v in start.config.to_dict().items() if k != "seed"}
            if mine != theirs:
                raise ParamError("init", f"init model {config.init} has the network {theirs}, not {mine}", subject="")
            self.net.store.params[...] = start.store.params
            self.init_record = {"path": str(config.init), "steps": init_meta.get("steps"),
                                "train_seconds": init_meta.get("train_seconds"),
                                "git_revision": init_meta.get("git_revision"),
                                "train_config": init_meta.get("train_config")}
            if isinstance(init_meta.get("init"), dict):      # the initial model's own history
                self.init_record["init"] = init_meta["init"]
        self._remove_stale_temporaries()
        if self.log.exists():
            self.log.unlink()
        self._record_code_and_data()

    def _remove_stale_temporaries(self):
        """Delete the temporary files a killed checkpoint or log write left beside ``out`` and the log."""
        for target in (self.out, self.log):
            for tmp in stale_temporaries(target):
                try:
                    tmp.unlink()
                except OSError:                # gone already, or not ours to delete: leave it
                    continue
                self.echo(f"removed the stale temporary file {tmp} (left by an interrupted write)")

    def restore(self):
        """Continue from the checkpoint ``out``: parameters, Adam moments, step count, training record.

        Log entries after the checkpoint's step (left by a run that died after it) are dropped.

        Raises
        ------
        FileNotFoundError
            ``out`` does not exist.
        ValueError
            Its network or training configuration (other than ``steps``) differs from this run's.
        """
        out = self.out
        if not out.exists():
            raise FileNotFoundError(f"cannot resume: checkpoint not found: {out}")
        net_loaded, meta = MGBPNet.load(out)
        if net_loaded.config != self.netcfg:
            raise ParamError("resume", f"cannot resume {out}: its network is {net_loaded.config}, not {self.netcfg}",
                             subject="")
        saved = dict(meta.get("train_config", {}))
        mine = asdict(self.config)
        diff = {k for k in mine if k != "steps" and saved.get(k) != mine[k]}
        if diff:
            raise ParamError("resume", f"cannot resume {out}: its training config differs in {sorted(diff)}",
                             subject="")
        self.net.store.params[...] = net_loaded.store.params
        self.adam.load_state_dict(net_loaded.extra)
        self.step_count = int(meta["steps"])
        self.init_record = meta.get("init")
        self._remove_stale_temporaries()
        try:
            _truncate_log(self.log, self.step_count)
        except ValueError as exc:
            raise TrainingError(f"cannot resume {out}: {exc} (move it away or give another --log)") from None
        except OSError as exc:
            raise TrainingError(f"cannot resume {out}: cannot rewrite the log {self.log}: "
                                f"{exc.strerror or exc}") from None
        self.echo(f"resuming {out} at step {self.step_count}")
        self.started = meta.get("started", self.started)
        self._record_code_and_data()
        self.train_seconds = float(meta.get("train_seconds", 0.0))

    def step(self):
        """One optimisation step on the batch of step ``step_count`` (loss (7), Adam).

        Returns
        -------
        dict
            The step's log entry: ``{"kind": "train", "step", "loss", "lr", "patches_per_s",
            "seconds", "terms"}``.
        """
        config = self.config
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # overflow shows as a non-finite loss or gradient, checked here before any update: the run
            # stops with one clear error instead of a stream of NumPy warnings
            if self.gradient is not None:
                loss, parts = self.gradient(self.net, self.step_count)
            else:
                rng = np.random.default_rng([config.seed, self.step_count])
                pyramid = self.sampler.sample(rng, config.batch)
                self.net.store.zero_grad()
                loss, parts = multiscale_loss(self.net, pyramid, mu=config.mu, max_levels=config.levels,
                                              engine=self.engine)
        lr = learning_rate(config, self.step_count)
        if not (math.isfinite(loss) and np.all(np.isfinite(self.net.store.grads))):
            what = f"the loss is {loss}" if not math.isfinite(loss) else "the gradients hold NaN or infinity"
            raise TrainingError(f"training diverged at step {self.step_count + 1}: {what} (learning rate "
                                f"{lr:.3g}; try a lower --lr)")
        self.adam.step(lr=lr)
        if not np.all(np.isfinite(self.net.store.params)):
            self._diverged = True
            raise TrainingError(f"training diverged at step {self.step_count + 1}: the Adam update made weights "
                                f"NaN or infinite (learning rate {lr:.3g}); {self.out} keeps its last checkpoint")
        self.step_count += 1
        dt = time.perf_counter() - t0
        self.train_seconds += dt
        return {"kind": "train", "step": self.step_count, "loss": loss, "lr": lr,
                "patches_per_s": config.batch / dt, "seconds": round(self.train_seconds, 2),
                "terms": {f"L{L}k{k}": v for (L, k), v in parts.items()}}

    def validate(self):
        """PSNR on the validation images now (:func:`validation_psnr`); also kept in ``last_validation``.

        Returns
        -------
        dict
            ``{"x4": dB, ...}`` per validation scale.
        """
        self.last_validation = validation_psnr(self.net, self.val_files, scales=self.val_scales,
                                               mu=self.config.mu)
        return self.last_validation

    def checkpoint(self):
        """Write the model file ``out`` atomically: parameters, Adam state and the training record.

        Raises
        ------
        TrainingError
            The weights are not finite (never written), or the file cannot be written (the previous
            checkpoint is unchanged); the message names the file.
        """
        if self._diverged:
            raise TrainingError(f"not writing {self.out}: the weights are NaN or infinite")
        record = {"train_config": asdict(self.config), "steps": self.step_count, "data": self.data_record,
                  "git_revision": self.revision, "started": self.started, "saved": _now(),
                  "train_seconds": round(self.train_seconds, 1), "parameters": self.net.num_parameters,
                  "validation": self.last_validation}
        if self.init_record is not None:
            record["init"] = self.init_record
        try:
            self.net.save(self.out, meta=record, extra=self.adam.state_dict())
        except OSError as exc:
            self.write_failed = True
            raise TrainingError(f"cannot write the checkpoint {self.out}: {exc.strerror or exc} "
                                f"(the previous checkpoint is unchanged)") from None


def train(config, out, *, network=None, resume=False, log=None, validation=None, val_scales=(4,),
          val_every=100, checkpoint_minutes=5.0, stop_after=None, progress=True, echo=print, gradient=None):
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
    gradient : callable, optional
        Computes each step's gradient elsewhere (see :class:`TrainingRun`).

    Returns
    -------
    dict
        ``{"step": …, "losses": [loss per step run in this call], "validation": last or None,
        "interrupted": bool, "signal": "SIGINT" | "SIGTERM" | None}``; ``interrupted`` when a signal
        stopped the run before ``config.steps`` (a checkpoint of every step done was written).

    Raises
    ------
    TrainingError
        The loss, gradients or weights became NaN or infinite, or the checkpoint or log cannot be
        written; the message names the step or the file and says what ``out`` holds (a checkpoint of
        the last good step is written when possible).
    """
    run = TrainingRun(config, out, network=network, log=log, validation=validation, val_scales=val_scales,
                      echo=echo, gradient=gradient)
    if resume:
        run.restore()
    else:
        run.start()
    target = config.steps if stop_after is None else min(config.steps, run.step_count + stop_after)
    saved_step, on_disk = run.step_count, resume   # no work is lost up to saved_step; out holds it if on_disk
    losses = []
    last_checkpoint = time.monotonic()
    bar = _Progress(target - run.step_count, enabled=progress)

    def checkpoint():
        nonlocal saved_step, on_disk, last_checkpoint
        run.checkpoint()
        saved_step, on_disk, last_checkpoint = run.step_count, True, time.monotonic()

    try:
        with _StopRequests(echo) as stop, _open_log(run.log) as logfh:
            while run.step_count < target and stop.signal is None:
                entry = run.step()
                losses.append(entry["loss"])
                _log(logfh, entry, run.log)
                bar.update(f"step {entry['step']} loss {entry['loss']:.4f} {entry['patches_per_s']:.2f} patches/s")
                if run.val_files and (run.step_count % val_every == 0 or run.step_count == config.steps):
                    psnr = run.validate()
                    _log(logfh, {"kind": "val", "step": run.step_count, "psnr": psnr}, run.log)
                    echo(f"step {run.step_count}: validation PSNR " +
                         ", ".join(f"{k} {v:.2f} dB" for k, v in psnr.items()))
                if time.monotonic() - last_checkpoint > 60 * checkpoint_minutes or run.step_count == target:
                    checkpoint()
            if stop.signal is not None and saved_step != run.step_count:
                checkpoint()                    # Ctrl-C or SIGTERM: keep every step done
    except TrainingError as exc:
        raise TrainingError(f"{exc}; {_after_failure(run, saved_step, on_disk, checkpoint)}") from None
    finally:
        bar.close()
    if run.step_count == target and (saved_step != run.step_count or not on_disk):
        checkpoint()
    return {"step": run.step_count, "losses": losses, "validation": run.last_validation,
            "interrupted": stop.signal is not None and run.step_count < target, "signal": stop.signal}


def _after_failure(run, saved_step, on_disk, checkpoint):
    """Save what can be saved when the run stops on a :class:`TrainingError`; say what ``out`` holds."""
    if not run._diverged and not run.write_failed and saved_step != run.step_count:
        try:
            checkpoint()
            return f"checkpoint written at step {run.step_count}"
        except TrainingError as exc:           # e.g. the disk is full: say so, keep the first reason
            return str(exc)
    if run.write_failed:
        return f"it holds step {saved_step}" if on_disk else "no checkpoint was written"
    return f"{run.out} holds step {saved_step}" if on_disk else "no checkpoint was written"


class _StopRequests:
    """SIGINT (Ctrl-C) and SIGTERM during training: stop after the current step, with a checkpoint.

    The first signal sets :attr:`signal` (``"SIGINT"`` or ``"SIGTERM"``), which the training loop
    checks between steps, so a step is never cut in the middle (a checkpoint of a half-applied Adam
    update would not resume exactly). A second Ctrl-C stops at once, without a checkpoint. Outside
    the main thread (where Python delivers signals) nothing is installed.
    """

    def __init__(self, echo):
        self.echo = echo
        self.signal = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        self.echo(f"{self.signal}: stopping after this step with a checkpoint (Ctrl-C again: stop now, "
                  f"without one)")

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        return False


def _open_log(path):
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise TrainingError(f"cannot open the log {path}: {exc.strerror or exc}") from None


def _log(fh, entry, path):
    try:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
    except OSError as exc:
        raise TrainingError(f"cannot write the log {path}: {exc.strerror or exc}") from None


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
