"""``--scheduler ADDRESS`` / ``--workers N``: running a command's many pieces of work on a Dask cluster.

The commands stay the same; with either option their work (one task per image, or one per batch
shard in training) goes to :mod:`mgbp_classic.distributed`. Dask is an optional extra: without it
these options end with a one-line error naming the install command.
"""
import contextlib
import sys

import click

from ._common import library_errors, report_failed, report_skipped, report_summary, report_written

INSTALL_HINT = 'pip install -e ".[dask]"'


def cluster_options(f):
    """``--scheduler ADDRESS`` and ``--workers N``."""
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Run on a local Dask cluster of N worker processes, started and stopped by this "
                          f"command (needs the dask extra: {INSTALL_HINT}).")(f)
    return click.option("--scheduler", metavar="ADDRESS", default=None,
                        help="Run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786); "
                             "files are read and written by the workers, so paths must be shared.")(f)


def wanted(scheduler, workers):
    """Whether a cluster was asked for (and not both ways at once)."""
    if scheduler is not None and workers is not None:
        raise click.UsageError("give --scheduler or --workers, not both")
    return scheduler is not None or workers is not None


def distributed_module(option="--scheduler/--workers"):
    """:mod:`mgbp_classic.distributed`, or a one-line ``click.UsageError`` when Dask is not installed."""
    import importlib
    try:
        return importlib.import_module("mgbp_classic.distributed")
    except ImportError:
        raise click.UsageError(f"{option} needs Dask, which is not installed: {INSTALL_HINT}") from None


@contextlib.contextmanager
def open_cluster(scheduler, workers):
    """A Dask client for the command (the dashboard link on stderr); a local cluster is always shut
    down when the command ends, Ctrl-C included."""
    option = "--scheduler" if scheduler is not None else "--workers"
    dist = distributed_module(option)
    try:
        with contextlib.ExitStack() as stack:
            with library_errors():                   # e.g. an unreachable scheduler, as '--scheduler'
                client = stack.enter_context(dist.connect(scheduler=scheduler, workers=workers,
                                                          echo=lambda line: click.echo(line, err=True)))
            yield client
    except KeyboardInterrupt:
        click.echo("interrupted: the cluster's tasks were cancelled", err=True)
        raise click.Abort() from None


def task_bar(total, label):
    """A click progress bar over completed tasks (on stderr)."""
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)


def upscale_batch(client, jobs, settings, *, label, threads=None):
    """The ``upscale`` command's batch on the cluster: one task per image, the local batch's rules.

    Prints a ``wrote`` line as each file exists (``skipped`` and ``failed`` lines likewise), the
    summary at the end, and returns the number of images that failed (the others are written), for
    the command's exit status.
    """
    from mgbp_classic import distributed as dist

    todo = sum(not job.skip for job in jobs)
    with task_bar(todo, f"upscaling {label} on the cluster") as bar:
        def done(*args, report):
            bar.update(1)
            report(*args)
        summary = dist.run_batch(client, jobs, settings, threads=threads, on_skipped=report_skipped,
                                 on_written=lambda *a: done(*a, report=report_written),
                                 on_failed=lambda *a: done(*a, report=report_failed))
    return report_summary(summary)


def evaluate_rows(client, files, *, label, scale, method, levels, mu, iterations, options):
    """The ``evaluate`` command's per-image rows computed on the cluster (one task per image), in the
    order of ``files``."""
    from mgbp_classic import distributed as dist
    rows = [None] * len(files)
    with task_bar(len(files), label) as bar:
        for index, row in dist.evaluate_files(client, files, scale=scale, method=method, levels=levels, mu=mu,
                                              iterations=iterations, **options):
            rows[index] = row
            bar.update(1)
    return rows
