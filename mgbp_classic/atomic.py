"""Writing files atomically: the one way the package writes a file.

:func:`atomic_write` opens a temporary file with a short unique name in the target's directory,
hands it to the caller, and on success flushes it, ``fsync``-s it, gives it the permissions a
newly created file would have (``0o666`` minus the umask) and moves it over the target with
:func:`os.replace`. On any error the temporary file is removed and the target is untouched: a
reader sees either the old file or the complete new one, never a partial one.
"""
import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "current_umask", "same_file", "stale_temporaries"]


def current_umask():
    """The process's umask (reading it means setting it; it is restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_options):
    """Context manager: a file object whose content replaces ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The target file; its directory must exist.
    mode : {"wb", "w"}, optional
        Binary (default) or text.
    **open_options
        Passed to :func:`os.fdopen` (e.g. ``encoding="utf-8", newline=""`` for text).

    Yields
    ------
    file object
        Write the new content to it; do not close it.

    Raises
    ------
    OSError
        The temporary file cannot be created, written or moved (the target is unchanged).

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "table.csv")
    >>> with atomic_write(target, "w", encoding="utf-8") as fh:
    ...     _ = fh.write("a,b\\n")
    >>> open(target).read()
    'a,b\\n'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    name = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(name))
    base = os.path.basename(name)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_prefix(base), suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_options) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())           # mkstemp makes it 0600
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _prefix(base):
    """Temporary names are short (``.`` + at most 24 characters of the target's name + ``.`` + 8
    random characters + ``.tmp``), so any target name the file system allows can be written."""
    return f".{base[:24]}."


def stale_temporaries(path):
    """Temporary files that :func:`atomic_write` left for ``path`` when its process was killed.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.

    Returns
    -------
    list of pathlib.Path
        Files in the target's directory named as :func:`atomic_write` names its temporary files
        for this target (``.<name>.<8 random characters>.tmp``). Only a killed process leaves one:
        the caller may delete them when no other process is writing the same target.
    """
    import glob
    from pathlib import Path

    name = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(name))
    pattern = glob.escape(_prefix(os.path.basename(name))) + "?" * 8 + ".tmp"
    return sorted(Path(p) for p in glob.glob(os.path.join(glob.escape(directory), pattern)))


def same_file(a, b):
    """Whether two paths name the same file: the same inode if both exist, else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return a.resolve() == b.resolve()
