"""Shared click helpers: image-path arguments, output naming, and library errors as one-line CLI errors."""
import contextlib
import signal
import sys
import threading
import warnings
from pathlib import Path

import click

from mgbp_classic._validate import check_real, check_threads, parse_memory
from mgbp_classic.atomic import same_file
from mgbp_classic.pipeline.batch import run_batch
from mgbp_classic.exceptions import ImageError, ModelFileError, ParamError
from mgbp_classic.imaging.io import read_image


class Termination:
    """What :func:`sigterm_exits` yields: whether SIGTERM came, and :meth:`check` to act on it."""

    def __init__(self):
        self.signum = None

    def check(self, *args):
        """Raise ``SystemExit(128 + signum)`` if SIGTERM has come (takes and ignores a progress
        callback's arguments, so that it can sit in one)."""
        if self.signum is not None:
            raise SystemExit(128 + self.signum)


@contextlib.contextmanager
def sigterm_exits():
    """Within the block, SIGTERM ends the command as Ctrl-C would: by an exception (exit status 143).

    The default SIGTERM kills the process on the spot, leaving a streamed output's temporary file
    behind; as an exception it unwinds every writer, which removes its temporary file and leaves the
    target as it was. The handler raises at once; an exception raised where Python cannot pass it
    on (e.g. inside a C callback while Numba compiles) is lost, so the signal is also remembered and
    :meth:`Termination.check`, called after every tile, raises it then. The previous handler is
    restored at the end (the main thread only).
    """
    term = Termination()
    if threading.current_thread() is not threading.main_thread():
        yield term
        return

    def stop(signum, frame):
        term.signum = signum
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield term
    finally:
        signal.signal(signal.SIGTERM, previous)


class FiniteFloat(click.ParamType):
    """A finite number, optionally ``> 0`` or ``>= 0`` (``inf`` and ``nan`` are refused: click's
    ``FloatRange`` accepts them), checked by :func:`mgbp_classic._validate.check_real`."""

    name = "number"

    def __init__(self, *, positive=False, non_negative=False):
        self.positive, self.non_negative = positive, non_negative

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"must be a number, got {value!r}", param, ctx)
        minimum = 0 if self.positive or self.non_negative else None
        with library_errors():
            return check_real(number, param.name if param is not None else "value", minimum=minimum,
                              strict=self.positive)


def threads_option(*, check_machine=True, help="Numba threads, 1 to the number of cores [default: all cores]."):
    """``--threads N`` (N >= 1; with ``check_machine``, at most the machine's cores: checked when the
    option is parsed, by :func:`mgbp_classic._validate.check_threads`). Apply the value with
    :func:`mgbp_classic._parallel.use_threads`."""
    def callback(ctx, param, value):
        if not check_machine and (value is None or value >= 1):
            return value                             # e.g. a cluster's workers, which may have more cores
        with library_errors():
            return check_threads(value)
    return click.option("--threads", type=int, default=None, callback=callback, help=help)


def memory_option(help):
    """``--memory SIZE``: parsed once, when the option is, into bytes
    (:func:`mgbp_classic._validate.parse_memory`)."""
    def callback(ctx, param, value):
        with library_errors():
            return None if value is None else parse_memory(value)
    return click.option("--memory", default=None, metavar="SIZE", callback=callback, help=help)


def output_option(help_text):
    """``-o/--output PATH``."""
    return click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help=help_text)


@contextlib.contextmanager
def library_errors(*, where=None):
    """Turn the library's errors into one-line click errors (never a traceback).

    A :class:`~mgbp_classic.exceptions.ParamError` becomes ``click.BadParameter`` for the running
    command's parameter whose name is the error's ``param`` (an option's name is the library's
    keyword name: ``--levels`` is ``levels``), with the error's ``reason``; else ``click.UsageError``
    with the whole message. The message is never read to decide. Other ``ValueError``s become
    ``click.UsageError``; bad parameters exit with status 2.
    ``ImageError`` and ``ModelFileError`` (a file could not be read or written) and ``OSError``
    become ``click.ClickException`` (exit status 1).

    Parameters
    ----------
    where : str, optional
        Added to a parameter's message in parentheses (e.g. the image it was found with).
    """
    try:
        yield
    except click.ClickException:
        raise
    except (ImageError, ModelFileError) as exc:
        raise click.ClickException(one_line(exc)) from None
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise click.ClickException(f"{exc.strerror or one_line(exc)}{where}") from None
    except ValueError as exc:
        at = f" ({where})" if where else ""
        ctx = click.get_current_context(silent=True)
        param = command_parameter(ctx, exc.param) if isinstance(exc, ParamError) else None
        if param is not None:                           # "Invalid value for '--levels': <reason>"
            raise click.BadParameter(exc.reason + at, ctx=ctx, param=param) from None
        raise click.UsageError(one_line(exc) + at, ctx=ctx) from None


def command_parameter(ctx, name):
    """The running command's click parameter called ``name`` (a trailing ``_``, which keeps an option
    from shadowing a Python builtin such as ``format``, is not part of the name), or ``None``."""
    if ctx is None:
        return None
    return next((p for p in ctx.command.params if p.name is not None and p.name.rstrip("_") == name), None)


def one_line(exc):
    """The first line of an exception's message (the class name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_image_or_fail(path, **kwargs):
    """:func:`mgbp_classic.imaging.io.read_image` with its errors turned into ``click.ClickException`` and
    its warnings (e.g. "only the first of 3 frames is read") printed as one line each on stderr."""
    with library_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path, **kwargs)
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue                                       # for developers, not about the image
        message = one_line(warning.message)
        click.echo(f"warning: {message if str(path) in message else f'{path}: {message}'}", err=True)
    return image


def existing_options(f):
    """``--skip-existing`` and ``--overwrite``: the one policy of every command that writes images
    for an output that exists (without either it is an error naming the file)."""
    f = click.option("--overwrite", is_flag=True, help="Replace outputs that exist already.")(f)
    return click.option("--skip-existing", is_flag=True,
                        help="Leave outputs that exist already untouched (reported as skipped).")(f)


def existing_policy(skip_existing, overwrite):
    """The ``existing=`` of :func:`mgbp_classic.pipeline.batch.plan_batch` for the two flags."""
    if skip_existing and overwrite:
        raise click.UsageError("--skip-existing and --overwrite exclude each other; give one")
    return "skip" if skip_existing else ("overwrite" if overwrite else "error")


class TileProgress:
    """A ``progress(done, total)`` callback showing a click progress bar over tiles (when several)."""

    def __init__(self, label, check=None):
        self.label = label
        self.check = check                     # called first, e.g. Termination.check
        self.bar = None
        self.done = 0

    def __call__(self, done, total):
        if self.check is not None:
            self.check(done, total)
        if total < 2:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def run_jobs(jobs, settings, *, single, label, term=None):
    """Run planned jobs (:func:`mgbp_classic.pipeline.batch.run_batch`) and report them.

    One image file given alone: its ``wrote`` line (a progress bar over its tiles when it has several),
    or one error line. Several: a progress bar, a line for each file as soon as it is written,
    skipped or failed (the others go on), the summary, exit status 1 if any failed.
    """
    check = term.check if term is not None else None
    if single:
        job = jobs[0]
        if job.skip:
            click.echo(f"skipped {job.target} (exists)")
            return
        tiles = TileProgress(f"{label} {job.source.path.name} (tiles)", check=check)
        try:
            with library_errors(where=job.source.path.name):
                path, (rows, cols) = settings.run(job, progress=tiles)
        finally:
            tiles.close()
        click.echo(f"wrote {path} ({cols}x{rows})")
        return
    with progress(jobs, label, show=len(jobs) > 1) as items:
        summary = run_batch(list(items), settings, on_written=report_written, on_failed=report_failed,
                            on_skipped=report_skipped, progress=(lambda job: check) if check else None)
    if report_summary(summary):
        raise SystemExit(1)


def report_written(path, size, seconds):
    """A batch's line for a written file (``size`` is ``(rows, columns)``)."""
    click.echo(f"wrote {path} ({size[1]}x{size[0]}, {seconds:.1f} s)")


def report_failed(path, reason):
    """A batch's line (on stderr) for a file that failed; the batch goes on."""
    click.echo(f"failed {path}: {reason}", err=True)


def report_skipped(path, reason):
    """A batch's line for a file that was not processed (e.g. its output exists)."""
    click.echo(f"skipped {path} ({reason})")


def report_summary(summary):
    """A batch's last lines: the counts, then each failure again (stderr); the number that failed."""
    click.echo(summary.line())
    for path, reason in summary.failed:
        click.echo(f"  failed: {path}: {reason}", err=True)
    return len(summary.failed)


def progress(items, label, *, show=None):
    """A ``click.progressbar`` over ``items`` when there are several (shown on stderr), else the items."""
    items = list(items)
    if show is None:
        show = len(items) > 1
    if not show:
        return contextlib.nullcontext(items)
    return click.progressbar(items, label=label, file=sys.stderr,
                             show_pos=True, item_show_func=lambda item: _item_label(item))


def _item_label(item):
    if item is None:
        return None
    path = item[0] if isinstance(item, tuple) else item
    return Path(path).name if isinstance(path, (str, Path)) else None
