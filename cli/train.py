"""``mgbp-classic train``: train the MGBP network with the multi-scale loss (7)."""
import contextlib
from pathlib import Path

import click

from mgbp_classic._parallel import use_threads
from mgbp_classic._validate import check_output_path, check_threads
from mgbp_classic.data import find_images
from mgbp_classic.exceptions import TrainingError
from mgbp_classic.train import TrainConfig, train

from ._cluster import cluster_options, open_cluster, wanted
from ._common import FiniteFloat, library_errors, threads_option


def _parse_scales(ctx, param, value):
    """``"2,4,8"`` -> ``(2, 4, 8)``: distinct powers of two from 2 to 256, in the order given."""
    scales = []
    for item in value.split(","):
        item = item.strip()
        s = int(item) if item.isdigit() else 0
        if s < 2 or s > 256 or s & (s - 1):
            raise click.BadParameter(f"expected comma-separated powers of two from 2 to 256 (e.g. 2,4,8), "
                                     f"got {item!r} in {value!r}")
        if s in scales:
            raise click.BadParameter(f"scale {s} is given twice in {value!r}")
        scales.append(s)
    return tuple(scales)


@click.command("train")
@click.option("--data", "data", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path),
              help="Training images: folder (searched recursively) or file; repeatable.")
@click.option("--levels", default=3, show_default=True, type=click.IntRange(min=1),
              help="Loss (7) over L = 1..levels.")
@click.option("--mu", default=2, show_default=True, type=click.IntRange(min=1), help="Back-projection steps.")
@click.option("--patch", default=128, show_default=True, type=click.IntRange(min=2),
              help="HR patch size (a multiple of 2**levels).")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1), help="Patches per step.")
@click.option("--steps", default=2000, show_default=True, type=click.IntRange(min=0),
              help="Total optimisation steps.")
@click.option("--lr", default=1e-3, show_default=True, type=FiniteFloat(positive=True),
              help="Initial Adam learning rate.")
@click.option("--lr-decay", "lr_decay", default=500.0, show_default=True, type=FiniteFloat(positive=True),
              help="Square-root decay scale: lr / sqrt(1 + step / lr_decay).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of patches and init.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Model/checkpoint file (.npz), written atomically.")
@click.option("--resume", is_flag=True, help="Continue the run stored in --out.")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Start from this model's weights (a new run: step 0, fresh Adam state).")
@click.option("--log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON-lines log [default: OUT with suffix .log.jsonl].")
@click.option("--validate", "validation", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Folder of HR images for periodic validation PSNR (e.g. Set5).")
@click.option("--val-every", default=100, show_default=True, type=click.IntRange(min=1),
              help="Validation interval (steps).")
@click.option("--val-scales", "val_scales", default="4", show_default=True, callback=_parse_scales,
              help="Scales of the validation, comma-separated powers of two (e.g. 2,4,8).")
@click.option("--checkpoint-minutes", default=5.0, show_default=True, type=FiniteFloat(non_negative=True),
              help="Wall-clock interval between checkpoints (also written on Ctrl-C, SIGTERM and at the end).")
@threads_option(check_machine=False, help="Numba threads, 1 to the number of cores [default: all cores]; "
                                          "on a cluster, those of each shard's task.")
@cluster_options
def command(data, levels, mu, patch, batch, steps, lr, lr_decay, seed, out, resume, init, log, validation,
            val_every, val_scales, checkpoint_minutes, threads, scheduler, workers):
    """Train the MGBP network (loss (7), Adam, square-root decay); checkpoints to --out.

    Ctrl-C or SIGTERM stops the run after writing a checkpoint (continue it with --resume); a loss or
    weights that become NaN or infinite stop it with an error, and the last checkpoint stays as it was.
    """
    distributed = wanted(scheduler, workers)
    if not distributed:
        with library_errors():
            check_threads(threads)                   # a cluster's workers may have more cores
    log_path = log if log is not None else out.with_suffix(".log.jsonl")
    with library_errors():
        check_output_path(out, "out")
        check_output_path(log_path, "log")
    config = TrainConfig(data=[str(d) for d in data], levels=levels, mu=mu, patch=patch, batch=batch,
                         steps=steps, lr=lr, lr_decay=lr_decay, seed=seed,
                         init=None if init is None else str(init))
    with library_errors(), use_threads(None if distributed else threads):
        config.validate()
        if resume and not out.exists():
            raise click.BadParameter(f"no checkpoint to resume at {out}", param_hint="'--resume'")
        val_files = find_images(validation) if validation else None
        try:
            with contextlib.ExitStack() as stack:
                gradient = None
                if distributed:                        # each batch split into one shard per worker
                    client = stack.enter_context(open_cluster(scheduler, workers))
                    from mgbp_classic.distributed import DataParallelGradient
                    gradient = DataParallelGradient(client, config, threads=threads)
                result = train(config, out, resume=resume, log=log, validation=val_files, val_every=val_every,
                               val_scales=val_scales, checkpoint_minutes=checkpoint_minutes, echo=click.echo, gradient=gradient)
        except TrainingError as exc:
            raise click.ClickException(str(exc)) from None
    if result.get("interrupted"):
        click.echo(f"interrupted at step {result['step']}; checkpoint written to {out} "
                   f"(continue with --resume)", err=True)
        raise SystemExit(130)
    click.echo(f"trained to step {result['step']}; model written to {out}")
