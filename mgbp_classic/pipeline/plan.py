"""Planning an upscale before doing it: output size, levels, memory budget, tiles, threads, time.

Everything here is cheap arithmetic on shapes, so the command line can check and print a whole batch
(``--dry-run``) before any pixel is computed.

* **Size** (:func:`target_size`): ``levels`` (factor ``2**levels``), any ``scale > 1``, or a
  ``width`` and/or ``height`` (one given: the aspect ratio is kept). The methods run the smallest
  ``2**N`` at least as large, and MATLAB's anti-aliased bicubic ``imresize`` brings the result down to
  the exact size.
* **Memory** (:func:`default_memory`, :func:`tile_for_budget`): a method that tiles (the learned
  network) is run on square low-resolution tiles whose side follows the budget and the memory the
  method declares per tile pixel; its output is streamed band by band, so the budget bounds the peak
  memory whatever the output size (up to :data:`MAX_STREAM_PIXELS`). The other methods hold whole
  images (:data:`CLASSIC_MAX_PIXELS`).
* **Time** (:func:`plan_upscale`): the seconds per megapixel the method declares, shared by the cores.

The checks of the sizes, the memory and the threads are :mod:`mgbp_classic._validate`'s
(:func:`~mgbp_classic._validate.parse_memory`, :func:`~mgbp_classic._validate.check_threads`).
"""
import math
import os
from dataclasses import dataclass

from .._parallel import machine_threads
from .._validate import ParamError, check_int, check_scale

__all__ = ["MAX_STREAM_PIXELS", "CLASSIC_MAX_PIXELS", "Plan", "target_size", "default_memory",
           "format_bytes", "tile_for_budget", "plan_upscale"]

#: Largest output (pixels, height × width) of a streamed method: 2**30, e.g. 32768 × 32768.
MAX_STREAM_PIXELS = 2 ** 30

#: Largest output the whole-image methods (bicubic, ibp, mgbp, and any method not streamed) make:
#: 2**26 pixels (e.g. 8192 × 8192); they hold several float64 copies of the output.
CLASSIC_MAX_PIXELS = 2 ** 26

#: Bytes per output pixel of the streaming band buffers (float32 colour + alpha, premultiplied, the
#: resize's input rows and the quantised rows) for each row of tiles kept at a time.
BAND_BYTES_PER_PIXEL = 40

#: Fixed cost of a process running the network: interpreter, NumPy/SciPy/Numba and compiled kernels
#: (about 170 MiB measured after the first forward pass), with headroom.
BASE_BYTES = 256 * 2 ** 20

#: Bytes per input sample held while upscaling: the float64 image and the decoder's integer array.
INPUT_BYTES_PER_SAMPLE = 10

#: Bytes per output sample of the whole-image methods (a few float64 copies of the output).
CLASSIC_BYTES_PER_SAMPLE = 48


def format_bytes(n):
    """``1.50 GiB``-style text."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _available_memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_memory():
    """The default budget: half of the memory available now, between 1 GiB and 8 GiB.

    Returns
    -------
    int
        Bytes; 2 GiB when the machine does not say.
    """
    avail = _available_memory() or _physical_memory()
    if avail is None:
        return 2 * 2 ** 30
    return int(min(8 * 2 ** 30, max(2 ** 30, avail // 2)))


def target_size(shape, *, levels=None, scale=None, width=None, height=None):
    """Output size and the number of 2× levels that make it.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W, ...)`` of the input.
    levels : int, optional
        Output ``2**levels`` times larger.
    scale : float, optional
        Any factor > 1; the output is ``ceil(scale · H) × ceil(scale · W)`` (MATLAB ``imresize``'s rule).
    width, height : int, optional
        Output width and/or height in pixels; with one of them the other keeps the aspect ratio
        (``ceil``, as MATLAB). Give at most one of ``levels``, ``scale`` and ``width``/``height``.

    Returns
    -------
    (int, (int, int))
        ``(N, (rows, cols))``: the methods run ``N`` levels (the smallest ``2**N`` not smaller than
        the factor on either axis), then resize to ``(rows, cols)`` when that differs from
        ``(2**N H, 2**N W)``.

    Raises
    ------
    ParamError
        Conflicting or bad arguments, or an output not larger than the input.
    """
    h, w = int(shape[0]), int(shape[1])
    given = [name for name, v in (("levels", levels), ("scale", scale)) if v is not None]
    if width is not None or height is not None:
        given.append("width/height")
    if len(given) > 1:
        raise ParamError(given[1].split("/")[0], f"give one of levels, scale and width/height, got {' and '.join(given)}",
                         subject="")
    if not given:
        raise ParamError("levels", "give levels, scale or width/height, got none of them", subject="")
    if levels is not None:
        levels = check_int(levels, "levels", minimum=1)
        return levels, (h << levels, w << levels)
    if scale is not None:
        s = check_scale(scale)
        rows, cols = _ceil(s * h), _ceil(s * w)
    else:
        width = check_int(width, "width", minimum=1, optional=True)
        height = check_int(height, "height", minimum=1, optional=True)
        if width is not None and height is not None:
            rows, cols = height, width
        elif width is not None:
            rows, cols = _ceil(width / w * h), width
        else:
            rows, cols = height, _ceil(height / h * w)
    factor = max(rows / h, cols / w)
    if rows < h or cols < w or factor <= 1:
        raise ParamError("width" if width is not None else ("height" if height is not None else "scale"),
                         f"the output must be larger than the {w}x{h} input on both sides, got {cols}x{rows}",
                         subject="")
    n = max(1, math.ceil(math.log2(factor) - 1e-12))
    return n, (rows, cols)


def _ceil(x):
    return int(math.ceil(x - 1e-9))


def tile_for_budget(memory, *, width, levels, margin, bytes_per_tile_pixel, base=BASE_BYTES, minimum=8):
    """Side of the low-resolution tiles that keeps the peak within ``memory`` bytes.

    Parameters
    ----------
    memory : int
        Budget in bytes for the whole process.
    width : int
        Width of the input image (the band buffers span it).
    levels : int
        Number of 2× levels the method runs.
    margin : int
        Context pixels around each tile.
    bytes_per_tile_pixel : int
        The method's working memory per output pixel of one tile with its margins
        (:attr:`mgbp_classic.pipeline.upscale.UpscaleMethod.bytes_per_tile_pixel`).
    base, minimum : int, optional
        Fixed process cost; smallest tile accepted.

    Returns
    -------
    int or None
        The largest tile side ``t`` with ``base + tile cost + band buffers`` within budget; ``None``
        when even ``minimum`` does not fit.

    Notes
    -----
    Tile cost: ``bytes_per_tile_pixel · ((t + 2·margin) · 2**levels)²``; band buffers (one row of
    tiles, full width): ``BAND_BYTES_PER_PIXEL · (t · 2**levels) · (width · 2**levels)``.
    """
    def cost(t):
        return _tile_cost(t, width, levels, margin, bytes_per_tile_pixel)

    left = memory - base
    if cost(minimum) > left:
        return None
    lo, hi = minimum, max(minimum, 4096)
    while lo < hi:                                   # largest t with cost(t) <= left
        mid = (lo + hi + 1) // 2
        if cost(mid) <= left:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Plan:
    """What upscaling one image will do (see :func:`plan_upscale`)."""

    input_shape: tuple
    levels: int
    output_shape: tuple
    method: str
    streamed: bool
    tile: int
    tiles: int
    memory: int
    budget: int
    seconds: float

    @property
    def resized(self):
        """Whether the ``2**levels`` result is resized to the exact output size."""
        return self.output_shape != (self.input_shape[0] << self.levels, self.input_shape[1] << self.levels)

    def describe(self):
        """One line: size, levels, tiles, memory, estimated time."""
        h, w = self.input_shape[:2]
        rows, cols = self.output_shape
        how = f"x{2 ** self.levels}" + (f" then resized to {cols}x{rows}" if self.resized else "")
        plural = "s" if self.tiles != 1 else ""
        tiles = f"{self.tiles} tile{plural} of {self.tile}x{self.tile}" if self.streamed else "whole image"
        return (f"{w}x{h} -> {cols}x{rows} ({how}), {self.method}, {tiles}, "
                f"peak memory ~{format_bytes(self.memory)} of {format_bytes(self.budget)}, "
                f"~{_duration(self.seconds)}")


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_upscale(shape, *, method, levels, output_shape, memory=None, tile=None, threads=None, margin=None,
                 streamed=None, format="png", streaming=()):
    """The plan for one image: tile side and count, peak memory and estimated time.

    Parameters
    ----------
    shape : tuple of int
        Input ``(H, W)`` or ``(H, W, C)``.
    method : mgbp_classic.pipeline.upscale.UpscaleMethod
        The registered method (:func:`mgbp_classic.pipeline.upscale.get_method`): its name, whether it tiles
        and what it costs.
    levels : int
    output_shape : (int, int)
    memory : int, optional
        Budget in bytes (default :func:`default_memory`).
    tile : int, optional
        A tile side chosen by the caller (default: :func:`tile_for_budget`).
    threads : int, optional
        Cores used (for the time estimate; default: the machine's).
    margin : int, optional
        Context pixels around each tile (default: the tiler's own).
    streamed : bool, optional
        Whether the method is streamed tile by tile (default: whether it tiles).
    format : str, optional
        Output format: JPEG and WebP are encoded from the whole 8-bit image (counted in the memory).
    streaming : sequence of str, optional
        Names of the methods that stream, for the message of an output too large for a whole image.

    Returns
    -------
    Plan

    Raises
    ------
    ParamError
        The output exceeds the method's cap, or the budget is too small for the smallest tile or for
        the whole-image encoder of JPEG/WebP.
    """
    h, w = int(shape[0]), int(shape[1])
    channels = int(shape[2]) if len(shape) > 2 else 1
    rows, cols = output_shape
    budget = default_memory() if memory is None else int(memory)
    streamed = method.tiles if streamed is None else streamed
    s = 2 ** levels
    pixels = rows * cols
    big = (h * s) * (w * s)
    made = f"got {cols}x{rows} (made from {w * s}x{h * s})"
    cores = threads or machine_threads()
    fixed = BASE_BYTES + INPUT_BYTES_PER_SAMPLE * h * w * channels
    if format in ("jpeg", "webp"):
        fixed += 2 * pixels * min(channels, 4)                     # the 8-bit image and Pillow's copy
    if not streamed:
        if max(pixels, big) > CLASSIC_MAX_PIXELS:
            others = (f"; method {streaming[0]!r} streams up to 2**30" if len(streaming) == 1 else
                      f"; methods {', '.join(map(repr, streaming))} stream up to 2**30" if streaming else "")
            raise ParamError("output_shape", f"the output must have at most 2**26 pixels ({CLASSIC_MAX_PIXELS}) "
                                             f"with method {method.name!r} (it works on whole images{others}), "
                                             f"{made}", subject="")
        seconds = max(pixels, big) / 1e6 * method.seconds_per_megapixel / cores
        peak = fixed + CLASSIC_BYTES_PER_SAMPLE * max(pixels, big) * channels
        return Plan((h, w), levels, (rows, cols), method.name, False, 0, 1, int(peak), budget, seconds)
    if max(pixels, big) > MAX_STREAM_PIXELS:
        raise ParamError("output_shape", f"the output must have at most 2**30 pixels ({MAX_STREAM_PIXELS}) with "
                                         f"method {method.name!r}, {made}", subject="")
    margin = method.tile_options.get("margin", 0) if margin is None else margin
    per_pixel = method.bytes_per_tile_pixel
    if tile is None:
        tile = tile_for_budget(budget, width=w, levels=levels, margin=margin, bytes_per_tile_pixel=per_pixel,
                               base=fixed)
        if tile is None:
            need = fixed + _tile_cost(8, w, levels, margin, per_pixel)
            written = f" written as {format.upper()}" if format in ("jpeg", "webp") else ""
            raise ParamError("memory", f"must be at least {format_bytes(need)} for a {w}x{h} image at x{s}{written}, "
                                       f"got {format_bytes(budget)}")
    tile = max(1, min(int(tile), max(h, w)))
    tiles = math.ceil(h / tile) * math.ceil(w / tile)
    computed = tiles * ((tile + 2 * margin) * s) ** 2
    seconds = computed / 1e6 * method.seconds_per_megapixel / cores
    peak = fixed + _tile_cost(tile, w, levels, margin, per_pixel)
    return Plan((h, w), levels, (rows, cols), method.name, True, tile, tiles, int(peak), budget, seconds)


def _tile_cost(t, width, levels, margin, bytes_per_tile_pixel):
    s = 2 ** levels
    return (bytes_per_tile_pixel or 0) * ((t + 2 * margin) * s) ** 2 + BAND_BYTES_PER_PIXEL * (t * s) * (width * s)
