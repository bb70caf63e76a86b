"""Shared click helpers: image-path arguments, output naming, and library errors as one-line CLI errors."""
import contextlib
import signal
import sys
import threading
from pathlib import Path

import click

from mgbp_classic import _validate
from mgbp_classic._validate import check_real, check_threads, parse_memory
from mgbp_classic.atomic import same_file
from mgbp_classic.exceptions import ImageError, ModelFileError, ParamError


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


def image_paths_argument(name="images"):
    """``IMAGES...``: one or more existing files (click reports a missing one in one line)."""
    return click.argument(
        name, nargs=-1, required=True,
        type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))


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


def read_header_or_fail(path):
    """:func:`mgbp_classic.io.read_header` (what the file is, no pixel decoded) with its errors turned
    into ``click.ClickException``."""
    from mgbp_classic.io import read_header
    with library_errors():
        return read_header(path)


def read_image_or_fail(path, **kwargs):
    """:func:`mgbp_classic.io.read_image` with its errors turned into ``click.ClickException`` and
    its warnings (e.g. "only the first of 3 frames is read") printed as one line each on stderr."""
    import warnings

    from mgbp_classic.io import read_image
    with library_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path, **kwargs)
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue                                       # for developers, not about the image
        message = one_line(warning.message)
        click.echo(f"warning: {message if str(path) in message else f'{path}: {message}'}", err=True)
    return image


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


def plan_outputs(inputs, output, name, *, extra=None):
    """Decide every output path, before any work is done.

    Parameters
    ----------
    inputs : list of Path
        The input images.
    output : Path or None
        ``-o``: with one input, the output file (or an existing directory to write into); with several
        inputs, a directory (created if missing). ``None``: beside each input.
    name : callable
        ``name(input_path) -> file name`` of the default output (e.g. ``<stem>_x8.png``).
    extra : callable, optional
        ``extra(input_path, main_output_path) -> list of Path`` of further files written for that input
        (e.g. every level's image).

    Returns
    -------
    list of (Path, list of Path)
        For each input, its main output and its extra outputs.

    Raises
    ------
    click.BadParameter
        ``-o`` names an existing file while several inputs are given, an output would overwrite an
        input, or two outputs collide.
    """
    if output is not None:
        check_name_length(output)
    if output is not None and len(inputs) > 1 and output.exists() and not output.is_dir():
        raise click.BadParameter(
            f"must be a directory when several images are given, got the existing file '{output}'",
            param_hint="'-o' / '--output'")
    from mgbp_classic.formats import EXTENSIONS
    if output is not None and len(inputs) == 1 and not output.is_dir() \
            and output.suffix.lower() not in EXTENSIONS:
        raise click.BadParameter(f"must be an image file ({', '.join(EXTENSIONS)}) or an existing directory, "
                                 f"got '{output}'", param_hint="'-o' / '--output'")
    plans = []
    for path in inputs:
        if output is None:
            main = path.with_name(name(path))
        elif len(inputs) > 1 or output.is_dir():
            main = output / name(path)
        else:
            main = output
        plans.append((main, list(extra(path, main)) if extra else []))
    seen = {}
    for path, (main, more) in zip(inputs, plans):
        for out in [main, *more]:
            for src in inputs:
                if same_file(out, src):
                    raise click.BadParameter(
                        f"would overwrite the input image '{src}'; choose another output path",
                        param_hint="'-o' / '--output'")
            key = out.resolve()
            if key in seen:
                raise click.BadParameter(
                    f"'{seen[key]}' and '{path}' would both be written to '{out}'",
                    param_hint="'-o' / '--output'")
            seen[key] = path
    # every output writable, before any work (a directory that -o will create is checked when made)
    created = output is not None and len(inputs) > 1 and not output.exists()
    probed = set()
    for main, more in plans:
        for out in [main, *more]:
            if created and out.parent == output:
                check_name_length(out)
                continue
            parent = out.parent.resolve()
            check_output_file(out, probe=parent not in probed)
            probed.add(parent)
    return plans


def check_name_length(path, name="output"):
    """:func:`mgbp_classic._validate.check_name_length` against the command's parameter ``name``."""
    with library_errors():
        return _validate.check_name_length(path, name)


def check_output_file(path, name="output", *, probe=True):
    """:func:`mgbp_classic._validate.check_output_path` against the command's parameter ``name``:
    an output file that could not be written is refused before any work."""
    with library_errors():
        return _validate.check_output_path(path, name, probe=probe)


def ensure_directory(output, count):
    """Create the ``-o`` directory when several images are written into it."""
    if output is not None and count > 1:
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot create the output directory '{output}': {exc.strerror}")


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
