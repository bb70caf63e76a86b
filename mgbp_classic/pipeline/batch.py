"""Upscaling files and folders: inputs, output names, existing outputs, one file at a time.

* :func:`collect_inputs` turns paths, directories (``recursive``: the whole tree) and glob patterns
  into a list of :class:`Source` (each with its path relative to the folder it was found in);
* :func:`plan_batch` decides every output path before any work (mirroring the tree under an output
  directory), refuses an output that would overwrite an input or another output, and applies the
  existing-output policy (``"error"``, ``"skip"`` or ``"overwrite"``);
* :func:`run_batch` upscales each job, reporting each written file as soon as it exists; a file that
  fails is recorded with its reason and the batch goes on (:class:`Summary`);
* :func:`upscale_file` is the same for one file, from Python.

A method that tiles (the learned network: its registration names a tiler) is streamed: tiles whose
size follows the memory budget (:mod:`mgbp_classic.pipeline.plan`), rows written as they are made
(:mod:`mgbp_classic.pipeline.stream`, :class:`mgbp_classic.imaging.formats.ImageWriter`); the other methods work on
the whole image.
"""
import glob
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import (ParamError, check_choice, check_image, check_levels, check_name_length,
                        check_output_path, parse_memory)
from ..atomic import same_file
from ..exceptions import ImageError
from ..imaging.formats import EXTENSIONS, SUFFIX, ImageWriter, format_for, output_bit_depth
from ..imaging.io import read_header, read_image, write_image
from ..imaging.metadata import output_exif
from .plan import CLASSIC_MAX_PIXELS, MAX_STREAM_PIXELS, plan_upscale, target_size
from .stream import upscale_bands
from .upscale import get_method, streaming_methods, upscale

__all__ = ["IMAGE_SUFFIXES", "Source", "Job", "Summary", "collect_inputs", "output_name", "plan_batch",
           "probe", "record_skip", "run_batch", "run_job", "upscale_file", "EXISTING_POLICIES"]

#: File name extensions picked up from directories (files given by name are read whatever their name).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

#: What to do with an output that exists already.
EXISTING_POLICIES = ("error", "skip", "overwrite")

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    """An input file and where it was found.

    Made by :func:`collect_inputs`; :func:`plan_batch` turns each into a :class:`Job`.

    Attributes
    ----------
    path : Path
        The file.
    relative : Path
        Its path below the directory it was found in (just the name for files and glob matches);
        mirrored under an output directory.
    """

    path: Path
    relative: Path


@dataclass
class Job:
    """One input and its planned outputs."""

    source: Source
    target: Path
    extra: list = field(default_factory=list)         # intermediate levels (``save_levels``)
    skip: bool = False                                 # the target exists and the policy is "skip"
    make_parent: bool = False                          # create the target's directory (output trees)


@dataclass
class Summary:
    """The outcome of a batch: written / skipped / failed (with reasons)."""

    written: list = field(default_factory=list)        # (Path, (rows, cols))
    skipped: list = field(default_factory=list)        # (Path, reason)
    failed: list = field(default_factory=list)         # (Path, reason)

    def line(self):
        """``3 written, 1 skipped, 1 failed``."""
        return f"{len(self.written)} written, {len(self.skipped)} skipped, {len(self.failed)} failed"


def collect_inputs(images, *, recursive=False):
    """Image files named by ``paths``: files, directories and glob patterns, in a stable order.

    Parameters
    ----------
    images : sequence of str or os.PathLike
        Files (read whatever their extension), directories (their files with an
        :data:`IMAGE_SUFFIXES` extension, hidden files skipped) and glob patterns (``*``, ``?``,
        ``[...]``; ``**`` with ``recursive``).
    recursive : bool, optional
        Descend into subdirectories of the directories given.

    Returns
    -------
    list of Source

    Raises
    ------
    ParamError
        A path that does not exist, a pattern that matches nothing, or no image at all (one line
        naming it).
    """
    sources, seen = [], set()

    def add(path, relative):
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            sources.append(Source(Path(path), Path(relative)))

    for item in images:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found = _images_in(path, recursive)
            if not found and not recursive and any(p.is_dir() for p in path.iterdir()):
                raise ParamError("images", f"must be image files, directories or patterns; '{text}' has no image "
                                 f"files at its top (use -r/--recursive for its subdirectories)")
            for f in found:
                add(f, f.relative_to(path))
        elif path.exists():
            add(path, Path(path.name))
        elif _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=recursive))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise ParamError("images", f"must exist; the pattern '{text}' matches no file")
            for f in files:
                add(f, Path(f.name))
        else:
            raise ParamError("images", f"must exist; '{text}' does not exist")
    if not sources:
        raise ParamError("images", "must name at least one image file; the directories given hold none")
    return sources


def _images_in(directory, recursive):
    walker = directory.rglob("*") if recursive else directory.glob("*")
    out = []
    for p in walker:
        rel = p.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    return sorted(out)


def output_name(source, *, label, format=None):
    """``<stem>_<label><ext>``: the extension of ``format``, else the input's if it is a written format, else ``.png``."""

    suffix = source.suffix.lower()
    if format is not None:
        ext = SUFFIX[format_for(source, format)]
    elif suffix in EXTENSIONS:
        ext = suffix if suffix != ".jpeg" else ".jpg"
    else:
        ext = ".png"
    return f"{source.stem}_{label}{ext}"


def plan_batch(sources, output=None, *, name, into_directory=None, existing="error", extra=None):
    """Every output path, decided and checked before any work: the one output planner of every
    command that writes images, with one policy for outputs that exist.

    Parameters
    ----------
    sources : list of Source
    output : Path, optional
        With one file input and no ``into_directory``: the output file (an image file name, or an
        existing directory to write into). Else a directory (created when the batch runs) under which
        each source's ``relative`` path is mirrored. ``None``: each output beside its input.
    name : callable
        ``name(source_path) -> file name`` of the output.
    into_directory : bool, optional
        Treat ``output`` as a directory (default: when several sources, a directory input, or an
        existing directory).
    existing : {"error", "skip", "overwrite"}, optional
        Policy for an output that exists.
    extra : callable, optional
        ``extra(source_path, target) -> list of Path`` of further outputs (every level's image).

    Returns
    -------
    list of Job

    Raises
    ------
    ParamError
        A name the file system cannot hold, a single output that is not an image file name, an
        output that would overwrite an input, two outputs that collide, (policy ``"error"``) an
        output that exists, or an output directory that does not exist or cannot be written; the
        message names the file. ``param`` is ``"output"`` when ``output`` was given, else
        ``"images"`` (the names were made from the inputs').
    """
    check_choice(existing, "existing", EXISTING_POLICIES)
    output = None if output is None else check_name_length(output, "output")   # before any look at it
    blamed = "images" if output is None else "output"                # who chose the names
    if into_directory is None:
        into_directory = output is not None and (len(sources) > 1 or output.is_dir()
                                                 or any(s.relative.parent != Path(".") for s in sources))
    if output is not None and into_directory and output.exists() and not output.is_dir():
        raise ParamError("output", f"must be a directory when several images are given, got the existing file "
                                   f"'{output}'")
    if output is not None and not into_directory and not output.is_dir() and output.suffix.lower() not in EXTENSIONS:
        raise ParamError("output", f"must be an image file ({', '.join(EXTENSIONS)}) or an existing directory, "
                                   f"got '{output}'")
    jobs = []
    for src in sources:
        if output is None:
            target = src.path.with_name(name(src.path))
        elif into_directory or output.is_dir():
            target = output / src.relative.parent / name(src.path)
        else:
            target = output
        check_name_length(target, blamed)
        jobs.append(Job(src, target, list(extra(src.path, target)) if extra else [],
                        make_parent=bool(output is not None and into_directory)))
    inputs = [s.path for s in sources]
    seen = {}
    for job in jobs:
        for out in [job.target, *job.extra]:
            for path in inputs:
                if same_file(out, path):
                    raise ParamError(blamed, subject="output",
                                     reason=f"would overwrite the input image '{path}'; choose another output path")
            key = out.resolve()
            if key in seen:
                raise ParamError(blamed, subject="output",
                                 reason=f"'{out}' would be written for both '{seen[key]}' and '{job.source.path}'")
            seen[key] = job.source.path
    clashes = [out for job in jobs for out in [job.target, *job.extra] if out.exists()]
    if clashes and existing == "error":
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ParamError(blamed, subject="output",
                         reason=f"'{clashes[0]}' exists{more}; use --skip-existing or --overwrite")
    probed = set()
    for job in jobs:
        job.skip = existing == "skip" and job.target.exists()
        for out in [] if job.skip else [job.target, *job.extra]:    # writable, before any work
            if job.make_parent and not out.parent.exists():
                continue                                             # made when the batch runs
            parent = out.parent.resolve()
            check_output_path(out, blamed, probe=parent not in probed)
            probed.add(parent)
    return jobs


def plan_files(images, output=None, *, name, recursive=False, existing="error", extra=None):
    """The inputs a command names and their planned outputs (:func:`collect_inputs`, then
    :func:`plan_batch`).

    Parameters
    ----------
    images : sequence of str or os.PathLike
        Files, directories and glob patterns.
    output : Path, optional
        One image file given alone: the output file or an existing directory; else a directory.
    name, existing, extra
        As in :func:`plan_batch`.
    recursive : bool, optional
        Descend into the subdirectories of the directories given, mirroring the tree under ``output``.

    Returns
    -------
    (list of Job, bool)
        The jobs, and whether ``images`` named one image file (a single output, not a batch).
    """
    sources = collect_inputs(images, recursive=recursive)
    output = None if output is None else check_name_length(output, "output")
    single = len(images) == 1 and len(sources) == 1 and Path(images[0]).is_file()
    jobs = plan_batch(sources, output, name=name, existing=existing, extra=extra,
                      into_directory=not single or (output is not None and output.is_dir()))
    return jobs, single


def upscale_name(source, settings):
    """The default output name of an upscale of ``source``: ``<stem>_x4.png``, ``<stem>_x2.5.jpg``,
    ``<stem>_3000x2250.webp`` (the size from the file's header; ``<stem>_w3000`` when it cannot be read)."""
    source = Path(source)
    label = settings.factor()
    if label is None:
        try:
            _, (rows, cols) = target_size(probe(source)[0], width=settings.width, height=settings.height)
            label = f"{cols}x{rows}"
        except (ValueError, ImageError):                              # reported when the job runs
            w, h = settings.width, settings.height
            label = f"{w}x{h}" if w and h else (f"w{w}" if w else f"h{h}")
    return output_name(source, label=label, format=settings.format)


def level_names(target, levels):
    """The files of the intermediate levels beside ``target`` (``<stem>_x2``, ``<stem>_x4``, ... up
    to ``2**(levels - 1)``), for ``save_levels``."""
    target = Path(target)
    last = f"_x{2 ** levels}"
    stem = target.stem[:-len(last)] if target.stem.endswith(last) else target.stem
    return [target.with_name(f"{stem}_x{2 ** k}{target.suffix}") for k in range(1, levels)]


def make_parents(jobs):
    """Create the directories the jobs write into (the outputs under an output tree)."""
    for job in jobs:
        if job.make_parent and not job.skip:
            try:
                job.target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ParamError("output", f"cannot create the output directory '{job.target.parent}': "
                                           f"{exc.strerror}", subject="") from None


def probe(path):
    """``(shape, bit_depth, metadata)`` of an image file from its header, without decoding pixels.

    The upright shape with the channels the reader returns (:func:`mgbp_classic.imaging.io.read_header`).
    Raises :class:`ImageError` when the header cannot be read.
    """
    info = read_header(path)
    return info.shape, info.bit_depth, info.metadata


def upscale_file(source, target=None, *, levels=None, scale=None, width=None, height=None, method=None, mu=2,
                 iterations=None, format=None, quality=None, strip_metadata=False, memory=None, tile=None,
                 overwrite=False, progress=None, **method_options):
    """Upscale one image file into another, streaming the network's output when it is large.

    Parameters
    ----------
    source : str or os.PathLike
        Input image (anything :func:`mgbp_classic.imaging.io.read_image` reads).
    target : str or os.PathLike, optional
        Output file; default ``<stem>_x<factor><ext>`` beside the input (see :func:`output_name`).
    levels, scale, width, height
        The output size, as in :func:`mgbp_classic.pipeline.upscale.upscale` (one of them).
    method, mu, iterations, **method_options
        As in :func:`mgbp_classic.pipeline.upscale.upscale`.
    format : {"png", "tiff", "jpeg", "webp"}, optional
        Output format (default: from the target's extension).
    quality : int, optional
        JPEG/WebP quality 1..100.
    strip_metadata : bool, optional
        Write no ICC profile and no EXIF (default: carry the input's).
    memory : int or str, optional
        Memory budget (e.g. ``"2GiB"``; default :func:`mgbp_classic.pipeline.plan.default_memory`); sets the
        network's tile size.
    tile : int, optional
        Network tile side (overrides the budget's choice).
    overwrite : bool, optional
        Replace an existing target (default: refuse with a ``ValueError`` naming it).
    progress : callable, optional
        ``progress(done, total)`` over the network's tiles.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> from mgbp_classic.pipeline.batch import upscale_file                       # doctest: +SKIP
    >>> upscale_file("photo.jpg", scale=3, method="bicubic")               # doctest: +SKIP
    PosixPath('photo_x3.jpg')
    """

    source = Path(source)
    if not source.is_file():
        raise ImageError(f"cannot read image {os.fspath(source)!r}: no such file")
    target_size(probe(source)[0], levels=levels, scale=scale, width=width, height=height)     # one size given
    settings = Settings(levels=levels, scale=scale, width=width, height=height, method=method, mu=mu,
                        iterations=iterations, format=format, quality=quality, strip_metadata=strip_metadata,
                        memory=memory, tile=tile, options=dict(method_options))
    jobs = plan_batch([Source(source, Path(source.name))], None if target is None else Path(target),
                      into_directory=False, name=lambda p: upscale_name(p, settings),
                      existing="overwrite" if overwrite else "error")
    return settings.run(jobs[0], progress=progress)[0]


@dataclass
class Settings:
    """Options shared by every file of a batch (see :func:`upscale_file`)."""

    levels: int = None
    scale: float = None
    width: int = None
    height: int = None
    method: str = None
    mu: int = 2
    iterations: int = None
    format: str = None
    quality: int = None
    strip_metadata: bool = False
    memory: object = None
    tile: int = None
    save_levels: bool = False
    options: dict = field(default_factory=dict)

    def factor(self):
        """``"x4"``, ``"x2.5"``: the factor of every output; ``None`` when a width or height is asked
        (each output's size then depends on its input's)."""
        if self.width is not None or self.height is not None:
            return None
        return f"x{float(self.scale):g}" if self.scale is not None else f"x{2 ** self.levels}"

    def describe(self):
        """``"x4"``, ``"to 3000x2000"``, ``"to width 3000"``: the size asked, for progress lines."""
        w, h = self.width, self.height
        return self.factor() or ("to " + (f"{w}x{h}" if w and h else (f"width {w}" if w else f"height {h}")))

    def name(self, source):
        """The default output name for ``source`` (:func:`upscale_name`)."""
        return upscale_name(source, self)

    def extra(self, source, target):
        """The further outputs of ``source``: every intermediate level's image with ``save_levels``."""
        return level_names(target, self.levels) if self.save_levels else []

    def run(self, job, *, progress=None):
        """Upscale one job (:func:`run_job`); ``(path, (rows, cols))``."""
        return run_job(job, self, progress=progress)


def plan_job(job, settings, shape):
    """The :class:`mgbp_classic.pipeline.plan.Plan` of one job for an input of ``shape``: a method that tiles
    is streamed (unless every level is saved), the others work on whole images."""

    entry = get_method(settings.method)
    n, out_shape = target_size(shape, levels=settings.levels, scale=settings.scale, width=settings.width,
                               height=settings.height)
    memory = None if settings.memory is None else parse_memory(settings.memory)
    streamed = entry.tiles and not settings.save_levels
    streaming = streaming_methods()
    if settings.levels is not None:                    # the familiar message for too many levels, with the cap
        if streamed:
            cap = f"method {entry.name!r} streams at most 2**30 pixels"
        else:
            cap = f"method {entry.name!r} works on whole images, at most 2**26 pixels out"
            cap += f"; {', '.join(map(repr, streaming))} stream{'s' * (len(streaming) == 1)} up to 2**30" \
                if streaming else ""
        check_levels(settings.levels, shape, max_pixels=MAX_STREAM_PIXELS if streamed else CLASSIC_MAX_PIXELS,
                     why=cap)
    return plan_upscale(shape, method=entry, levels=n, output_shape=out_shape, memory=memory,
                        tile=settings.tile, streamed=streamed, margin=_tiler_options(entry, settings).get("margin"),
                        format=format_for(job.target, settings.format), streaming=streaming)


def _tiler_options(entry, settings):
    """The options of ``settings`` for the method's tiler (its defaults where not given); a ParamError
    for an option the tiler does not take."""
    takes = entry.tile_options
    for key, value in settings.options.items():
        if key not in takes:
            raise ParamError(key, f"{key} is not an option of the streamed method {entry.name!r} (options: "
                                  f"{', '.join([*takes, 'tile'])}), got {key}={value!r}", subject="")
    return {**takes, **settings.options}


def _info(info, key):
    """A field of the reader's info record (a dict or an object with attributes)."""
    return info.get(key) if isinstance(info, dict) else getattr(info, key, None)


def run_job(job, settings, *, progress=None):
    """Upscale one job; returns ``(path, (rows, cols))``, written atomically."""

    header = read_header(job.source.path)                 # refused for its size before any pixel is decoded
    plan = plan_job(job, settings, header.shape)
    image, info = read_image(job.source.path, return_info=True, max_pixels=None,
                             dtype=np.float32 if plan.streamed else np.float64)
    meta = None if settings.strip_metadata else _info(info, "metadata")
    fmt = format_for(job.target, settings.format)
    depth = output_bit_depth(fmt, 16 if _info(info, "bit_depth") == 16 else 8)
    entry = get_method(settings.method)
    rows, cols = plan.output_shape
    if job.make_parent:
        job.target.parent.mkdir(parents=True, exist_ok=True)
    if plan.streamed:
        tiler = entry.tiler(mu=settings.mu, **_tiler_options(entry, settings))
        image = check_image(image)
        channels = 1 if image.ndim == 2 else {1: 1, 2: 4, 3: 3, 4: 4}[image.shape[2]]
        icc = meta.icc_profile if meta is not None else None
        exif = output_exif(meta.exif, width=cols, height=rows) if meta is not None else None
        with ImageWriter(job.target, height=rows, width=cols, channels=channels, bit_depth=depth, format=fmt,
                         quality=settings.quality, icc_profile=icc, exif=exif) as writer:
            for band in upscale_bands(image, tiler.tile, levels=plan.levels, output_shape=plan.output_shape,
                                      tile=plan.tile, margin=tiler.margin, progress=progress):
                if band.ndim == 3 and band.shape[2] == 2:                    # grey + alpha -> RGBA
                    band = band[..., [0, 0, 0, 1]]
                writer.write(band)
        return job.target, (rows, cols)
    options = dict(settings.options)
    if progress is not None and "progress" in (entry.options or ()):
        options["progress"] = progress
    if settings.tile is not None:
        options["tile"] = settings.tile
    result = upscale(image, levels=plan.levels if settings.save_levels else settings.levels,
                     scale=None if settings.save_levels else settings.scale,
                     width=None if settings.save_levels else settings.width,
                     height=None if settings.save_levels else settings.height,
                     method=entry.name, mu=settings.mu, iterations=settings.iterations,
                     return_levels=settings.save_levels, **options)
    outs = result if settings.save_levels else [result]
    for out, target in zip(outs, [*job.extra, job.target]):
        if out.ndim == 3 and out.shape[2] == 2:
            out = out[..., [0, 0, 0, 1]]
        write_image(target, out, bit_depth=depth, format=settings.format, quality=settings.quality, metadata=meta)
    return job.target, (rows, cols)


def record_skip(job, summary, on_skipped=None):
    """Record ``job`` as skipped in ``summary`` if its output exists (``--skip-existing``).

    Returns True when the job is skipped (``on_skipped(target, "exists")`` has then been called).
    """
    if not job.skip:
        return False
    summary.skipped.append((job.target, "exists"))
    if on_skipped:
        on_skipped(job.target, "exists")
    return True


def run_batch(jobs, settings, *, on_written=None, on_failed=None, on_skipped=None, progress=None,
              stop_on_error=False):
    """Upscale every job; one failing file does not stop the others.

    Parameters
    ----------
    jobs : list of Job
    settings : Settings or mgbp_classic.pipeline.downscale.Downscale
        What to do with each job: ``settings.run(job, progress=...)`` returns ``(path, (rows, cols))``.
    on_written, on_failed, on_skipped : callable, optional
        Called as each file is written ``(path, (rows, cols), seconds)``, fails ``(source, reason)`` or
        is skipped ``(target, reason)``, so a caller can report it at once.
    progress : callable, optional
        ``progress(job)`` returning a per-tile callback (or None) for that job.
    stop_on_error : bool, optional
        Re-raise the first failure instead of recording it.

    Returns
    -------
    Summary
    """
    summary = Summary()
    for job in jobs:
        if record_skip(job, summary, on_skipped):
            continue
        start = time.perf_counter()
        try:
            path, size = settings.run(job, progress=progress(job) if progress else None)
        except (ImageError, ValueError, OSError, MemoryError) as exc:
            if stop_on_error:
                raise
            reason = " ".join(str(exc).split()) or type(exc).__name__
            summary.failed.append((job.source.path, reason))
            if on_failed:
                on_failed(job.source.path, reason)
            continue
        summary.written.append((path, size))
        if on_written:
            on_written(path, size, time.perf_counter() - start)
    return summary


def describe_existing(job):
    """``" (exists: skipped)"``-style note for a dry-run line."""
    if job.skip:
        return " (exists: would be skipped)"
    if job.target.exists():
        return " (exists: would be overwritten)"
    return ""
