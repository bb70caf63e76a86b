"""One entry point for every upscaling method: ``upscale(image, levels=..., method=...)``.

The command line (``mgbp-classic upscale`` and ``evaluate``), the benchmarks and the lessons all call
:func:`upscale`, so colour handling, validation and the method registry live in one place:

* greyscale ``(H, W)`` and colour ``(H, W, 3)`` images go to the method unchanged;
* with an alpha channel (``(H, W, 2)`` grey + alpha, ``(H, W, 4)`` RGBA) the method gets the colour
  premultiplied by alpha, and the result is divided by the upscaled alpha (:mod:`mgbp_classic.pipeline.stream`);
* any size: ``levels`` (2**N), ``scale`` or ``width``/``height`` (:func:`mgbp_classic.pipeline.plan.target_size`);
* every output is clipped to [0, 1].

Methods are looked up by name in one explicit registry, ``_REGISTRY`` (name → :class:`UpscaleMethod`).
:func:`register_builtin_methods`, called once at the end of this module, fills it with the classic
upscalers of the paper (``bicubic``, ``ibp``, ``mgbp``) and the learned network
(:func:`mgbp_classic.pipeline.runner.upscale_net`); others are added with :func:`register_method` and then
appear automatically in the command line's ``--method`` choices. Importing any other module never
registers anything. A method says what it takes (its function's keyword parameters), whether it
works tile by tile (its ``tiler``: the network's :class:`~mgbp_classic.pipeline.runner.NetRunner`) and what
it costs; nothing else in the package treats a method by its name.
"""
import inspect
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import _validate
from .._validate import ParamError, check_image, check_int, check_levels, check_real
from ..ibp import upscale_ibp
from ..metrics import make_lr, mod_crop, protocol_scores
from ..multigrid import upscale_mgbp
from ..resize import imresize
from .plan import target_size
from .runner import NetRunner, upscale_net
from .stream import upscale_whole

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_MU",
    "MAX_OUTPUT_PIXELS",
    "UpscaleMethod",
    "available_methods",
    "check_method_options",
    "default_iterations",
    "evaluate_image",
    "get_method",
    "max_levels",
    "register_builtin_methods",
    "register_method",
    "streaming_methods",
    "upscale",
]

#: Default number µ of back-projection steps per level (2: the W-cycle of Figure 2, as in the paper).
DEFAULT_MU = 2

#: Largest output (height × width, per channel) :func:`upscale` agrees to make: 2**26 pixels,
#: e.g. 8192 × 8192 (:data:`mgbp_classic._validate.MAX_OUTPUT_PIXELS`). It bounds ``levels`` for a
#: given image size (memory: the classic methods hold a few float64 copies of the output).
MAX_OUTPUT_PIXELS = _validate.MAX_OUTPUT_PIXELS


#: Parameters of a method's function (or tiler) that are not its options: what :func:`upscale` passes.
_NOT_OPTIONS = frozenset({"levels", "mu", "iterations", "final_only"})


def _keywords(function):
    """``{name: default}`` of the keyword parameters of ``function`` after its first (the image)
    that are options (a ``**kwargs`` catch-all adds none)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):                    # e.g. a builtin without a signature
        return {}
    if params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD) \
            and params[0].default is params[0].empty:
        params = params[1:]                            # the image (a tiler has none: all keywords)
    return {p.name: (None if p.default is p.empty else p.default) for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _NOT_OPTIONS}


@dataclass(frozen=True)
class UpscaleMethod:
    """A registered upscaling method: what it computes, what it takes, whether it tiles, what it costs.

    Attributes
    ----------
    name : str
        The name used by ``upscale(method=...)`` and the command line's ``--method``.
    function : callable
        ``function(image, *, levels, mu, **options) -> [Y_2x, Y_4x, ..., Y_(2^levels)x]``; ``image`` is a
        greyscale ``(H, W)`` or colour ``(H, W, 3)`` float array in [0, 1] (no alpha). Its keyword
        parameters are the method's options (:attr:`options`); a ``final_only`` parameter means it
        may return ``None`` for every level but the last when only the final image is wanted.
    default_iterations : int or None
        Value passed as ``iterations`` when the caller gives none; ``None`` means ``iterations`` is
        not passed at all (the method has no such option).
    description : str
        One line for help texts.
    linear : bool
        The method is a linear map of the image (bicubic, IBP, classic MGBP): an alpha channel is then
        upscaled by the method itself, so that premultiplied colour divided by it is exact (a constant
        colour stays constant up to the edge). Other methods get a bicubic alpha.
    tiler : callable or None
        For a method that works tile by tile (its output can then be streamed to the file band by
        band, :func:`mgbp_classic.pipeline.batch.upscale_file`): ``tiler(*, mu, **options)`` returns an object
        with ``tile(piece, levels)`` (a piece with ``margin`` pixels of context on each side in, its
        upscaled last level out) and ``margin``. ``None``: the method works on whole images.
    seconds_per_megapixel : float
        CPU seconds per megapixel the method computes (order of magnitude, for ``--dry-run``); for
        a method that tiles, per megapixel of tiles with their margins.
    bytes_per_tile_pixel : int or None
        For a method that tiles: working memory per output pixel of one tile with its margins
        (sets the tile side that fits a memory budget, :func:`mgbp_classic.pipeline.plan.tile_for_budget`).
    """

    name: str
    function: object = field(repr=False)
    default_iterations: int = None
    description: str = ""
    linear: bool = False
    tiler: object = field(default=None, repr=False)
    seconds_per_megapixel: float = 5.0
    bytes_per_tile_pixel: int = None

    @property
    def options(self):
        """The keyword options ``function`` takes, read from its signature (``()``: none)."""
        return tuple(_keywords(self.function))

    @property
    def final_only(self):
        """Whether ``function`` takes ``final_only=True``."""
        try:
            return "final_only" in inspect.signature(self.function).parameters
        except (TypeError, ValueError):
            return False

    @property
    def tiles(self):
        """Whether the method works tile by tile (it has a :attr:`tiler`)."""
        return self.tiler is not None

    @property
    def tile_options(self):
        """``{name: default}`` of the options the tiler takes (e.g. ``model``, ``margin``)."""
        return _keywords(self.tiler) if self.tiler is not None else {}


#: The registry: method name → :class:`UpscaleMethod`, in registration order (built-in ones first).
_REGISTRY = {}


def register_method(name, function, *, default_iterations=None, description="", linear=False, tiler=None,
                    seconds_per_megapixel=5.0, bytes_per_tile_pixel=None, replace=False):
    """Add an upscaling method to the registry used by :func:`upscale` and the command line.

    Parameters
    ----------
    name : str
        Method name (lower case letters, digits, ``-`` or ``_``).
    function : callable
        ``function(image, *, levels, mu, **options)`` returning the list of level images
        ``[2×, 4×, ..., 2**levels ×]``, each float in [0, 1] (values outside are clipped afterwards).
        ``image`` is greyscale ``(H, W)`` or colour ``(H, W, 3)``; alpha is handled by :func:`upscale`.
        Its keyword parameters (besides ``levels``, ``mu``, ``iterations`` and ``final_only``) are
        the options it takes: :func:`check_method_options` refuses any other.
    default_iterations : int, optional
        Passed as ``iterations=`` when the caller does not give one; ``None`` (default) means the
        method takes no ``iterations`` option (``upscale`` then rejects an explicit one).
    description : str, optional
        One line shown in help texts.
    linear : bool, optional
        Whether ``function`` is linear in the image (see :class:`UpscaleMethod`).
    tiler, seconds_per_megapixel, bytes_per_tile_pixel : optional
        Whether the method tiles, and what it costs (see :class:`UpscaleMethod`).
    replace : bool, optional
        Allow replacing an already registered method of the same name.

    Returns
    -------
    UpscaleMethod
        The registry entry.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.pipeline.upscale import register_method, upscale
    >>> def nearest(image, *, levels, mu):
    ...     return [np.kron(image, np.ones((2 ** k, 2 ** k))) for k in range(1, levels + 1)]
    >>> _ = register_method("nearest-demo", nearest, replace=True)
    >>> upscale(np.zeros((4, 5)), levels=2, method="nearest-demo").shape
    (16, 20)
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name) \
            or name != name.lower():
        raise ParamError("name", f"must be a lower-case word of letters, digits, '-' or '_', got {name!r}")
    if not callable(function):
        raise ParamError("function", f"must be callable, got {type(function).__name__}")
    check_int(default_iterations, "default_iterations", minimum=1, optional=True)
    if name in _REGISTRY and not replace:
        raise ParamError("name", f"must not be registered already (use replace=True), got {name!r}")
    if tiler is not None and not callable(tiler):
        raise ParamError("tiler", f"must be callable or None, got {type(tiler).__name__}")
    entry = UpscaleMethod(name, function, default_iterations, description, bool(linear), tiler,
                          check_real(seconds_per_megapixel, "seconds_per_megapixel", minimum=0, strict=True),
                          check_int(bytes_per_tile_pixel, "bytes_per_tile_pixel", minimum=1, optional=True))
    _REGISTRY[name] = entry
    return entry


def available_methods():
    """Names of the registered methods, built-in ones first, in registration order.

    Returns
    -------
    list of str
    """
    return list(_REGISTRY)


def streaming_methods():
    """Names of the registered methods that work tile by tile (their output can be streamed).

    Returns
    -------
    list of str
    """
    return [m.name for m in _REGISTRY.values() if m.tiles]


def get_method(name=None):
    """The registry entry of method ``name``.

    Parameters
    ----------
    name : str, optional
        A registered name; ``None``: :data:`DEFAULT_METHOD` (read when called).

    Returns
    -------
    UpscaleMethod

    Raises
    ------
    ParamError
        ``name`` is not registered (the message lists the registered names).
    """
    name = DEFAULT_METHOD if name is None else name
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ParamError("method", f"must be one of {', '.join(_REGISTRY)}, got {name!r}")
    return _REGISTRY[name]


def check_method_options(method, *, iterations=None, **options):
    """Check the options given for ``method``: the one place that decides what a method takes.

    :func:`upscale` calls it; the command line calls it before reading any image, so that an
    option the chosen method does not take is refused at once.

    Parameters
    ----------
    method : str
        A registered method.
    iterations : int, optional
        Only for methods that iterate (``default_iterations`` is not ``None``); ``>= 0``.
    **options
        Further keyword options; each must be one the method registered.

    Returns
    -------
    dict
        The options to pass to the method's function: ``options`` plus ``iterations`` (the given
        value or the method's default) for the methods that iterate.

    Raises
    ------
    ValueError
        The method is not registered, or takes no such option, or ``iterations`` is not an integer
        ``>= 0``. The message starts with the option's name, says which methods take it and what was
        received, e.g. ``tile is not an option of method 'bicubic' (it takes none; tile is an option
        of: net), got tile=8``.

    Examples
    --------
    >>> check_method_options("ibp", iterations=3)
    {'iterations': 3}
    """
    entry = get_method(method)
    if iterations is not None:
        if entry.default_iterations is None:
            iterating = [m.name for m in _REGISTRY.values() if m.default_iterations is not None]
            raise ParamError("iterations", f"iterations is not an option of method {entry.name!r} (it does not "
                                           f"iterate; methods that do: {', '.join(iterating) or 'none'}), "
                                           f"got {iterations!r}", subject="")
        iterations = check_int(iterations, "iterations", minimum=0)
    for key, value in options.items():
        if key not in entry.options:
            takes = ", ".join(entry.options) if entry.options else "none"
            others = [m.name for m in _REGISTRY.values() if key in m.options]
            where = f"; {key} is an option of: {', '.join(others)}" if others else ""
            shown = str(value) if isinstance(value, os.PathLike) else repr(value)
            raise ParamError(key, f"{key} is not an option of method {entry.name!r} (it takes {takes}{where}), "
                                  f"got {key}={shown}", subject="")
    checked = dict(options)
    if entry.default_iterations is not None:
        checked["iterations"] = int(entry.default_iterations if iterations is None else iterations)
    return checked


def default_iterations(method):
    """The number of iterations ``method`` uses when none is given (``None``: not applicable).

    Parameters
    ----------
    method : str

    Returns
    -------
    int or None
    """
    return get_method(method).default_iterations


def max_levels(shape):
    """Largest ``levels`` accepted for an image of this shape.

    The output, ``2**levels`` times larger on each side, may have at most :data:`MAX_OUTPUT_PIXELS`
    pixels per channel.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.

    Returns
    -------
    int
        ``max(levels)``; 0 when the image is too large to be upscaled even once.
    """
    return _validate.max_levels(shape, MAX_OUTPUT_PIXELS)


def upscale(image, *, levels=None, scale=None, width=None, height=None, method=None, mu=DEFAULT_MU,
            iterations=None, return_levels=False, **method_options):
    """Upscale an image by ``2**levels``, by any ``scale`` or to a ``width``/``height``, with a registered method.

    Parameters
    ----------
    image : ndarray
        Float image in [0, 1]: greyscale ``(H, W)`` or ``(H, W, 1)``, grey + alpha ``(H, W, 2)``,
        RGB ``(H, W, 3)`` or RGBA ``(H, W, 4)`` (what :func:`mgbp_classic.imaging.io.read_image` returns).
    levels : int, optional
        Number N ≥ 1 of 2× levels; the output is ``2**N`` times larger on each side. At most
        :func:`max_levels` for the image's size.
    scale : float, optional
        Any factor > 1 instead of ``levels``: the method runs the smallest ``2**N ≥ scale`` and MATLAB's
        anti-aliased bicubic ``imresize`` brings the result to ``ceil(scale·H) × ceil(scale·W)``.
    width, height : int, optional
        Output size in pixels instead of ``levels``/``scale``; with only one, the aspect ratio is kept
        (see :func:`mgbp_classic.pipeline.plan.target_size`).
    method : str, optional
        A registered method (:func:`available_methods`); default :data:`DEFAULT_METHOD`. Built in:

        ``"bicubic"``
            MATLAB ``imresize(X, 2**N, 'bicubic')`` in one step (each level from the input).
        ``"ibp"``
            Iterative Back-Projection (eqs. 2–3) at factor ``2**N``, starting from the bicubic
            upscale; the down-scaling model is the bicubic one of the evaluation protocol.
            Default ``iterations``: :data:`IBP_DEFAULT_ITERATIONS`.
        ``"mgbp"``
            Classic Multi-Grid Back-Projection (Algorithm 1) through N levels of 2×, ``mu`` steps per
            level. Default ``iterations`` (MGBP cycles at the finest level):
            :data:`MGBP_DEFAULT_ITERATIONS`.
    mu : int, optional
        Back-projection steps µ ≥ 1 per level (1: V-cycle, 2: W-cycle). Used by ``mgbp`` (and the
        network); validated for every method.
    iterations : int, optional
        Iteration count of iterative methods (default: the method's own, :func:`default_iterations`).
    return_levels : bool, optional
        Return every level ``[2×, 4×, ..., 2**N ×]`` instead of the final image only.
    **method_options
        Passed to the method's function (e.g. ``tol`` for ``ibp``).

    Returns
    -------
    ndarray or list of ndarray
        The upscaled image, ``(2**N H, 2**N W)`` or ``(2**N H, 2**N W, C)`` with the input's channels,
        clipped to [0, 1]; float32 for float32 input, float64 otherwise. A list of every level when
        ``return_levels``.

    Raises
    ------
    ValueError
        Bad ``image``, ``levels``, ``mu``, ``method`` or ``iterations`` (one line naming the argument,
        the allowed values and the received value).

    Notes
    -----
    The method gets the colour premultiplied by alpha, and its result is divided by the upscaled
    alpha, so the arbitrary colour of transparent pixels never darkens the visible edges
    (:mod:`mgbp_classic.pipeline.stream`). Alpha is upscaled by the method itself when it is linear (bicubic,
    IBP, MGBP: the division is then exact), else (the network) with bicubic interpolation. Images larger than memory:
    :func:`mgbp_classic.pipeline.batch.upscale_file`.

    Examples
    --------
    >>> import numpy as np
    >>> from mgbp_classic.pipeline.upscale import upscale
    >>> x = np.random.default_rng(0).random((12, 16, 3))
    >>> upscale(x, levels=2, method="bicubic").shape
    (48, 64, 3)
    """
    image = check_image(image)
    entry = get_method(method)
    if levels is None and scale is None and width is None and height is None:
        raise ParamError("levels", "must be given (or scale, width or height), got none of them")
    if levels is not None:
        levels = check_int(levels, "levels", minimum=1)
    levels, output_shape = target_size(image.shape, levels=levels, scale=scale, width=width, height=height)
    if return_levels and output_shape != (image.shape[0] << levels, image.shape[1] << levels):
        raise ParamError("return_levels", f"must be False for an output size that is not 2**levels times "
                         f"the input's, got return_levels=True with a {output_shape[1]}x{output_shape[0]} output")
    levels = check_levels(levels, image.shape, max_pixels=MAX_OUTPUT_PIXELS)
    mu = check_int(mu, "mu", minimum=1)
    options = check_method_options(entry.name, iterations=iterations, **method_options)
    if entry.final_only and not return_levels:
        options["final_only"] = True

    return upscale_whole(image, entry.function, levels=int(levels), mu=int(mu), output_shape=output_shape,
                         return_levels=return_levels, alpha_by_method=entry.linear, name=f"method {entry.name!r}",
                         **options)


def evaluation_levels(scale, *, method=None, levels=None):
    """The number of 2× levels that make ``scale`` for ``method`` under the evaluation protocol.

    Parameters
    ----------
    scale : int
        Factor s ≥ 2: a power of two, or any integer for ``bicubic`` (one ``imresize``).
    method : str, optional
        A registered method (default :data:`DEFAULT_METHOD`).
    levels : int, optional
        When given, it must be ``log2(scale)``.

    Returns
    -------
    int or None
        ``log2(scale)``; ``None`` for a scale that is not a power of two (``bicubic`` only).

    Raises
    ------
    ParamError
        ``scale`` is not a power of two for a method other than ``bicubic``, or ``levels`` is not
        ``log2(scale)``.
    """
    entry = get_method(method)
    scale = check_int(scale, "scale", minimum=2)
    levels = check_int(levels, "levels", minimum=1, optional=True)
    power = scale & (scale - 1) == 0
    if not power and entry.name != "bicubic":
        raise ParamError("scale", f"must be a power of two (2, 4, 8, ...) for method {entry.name!r}, got {scale}")
    if levels is not None and (not power or 2 ** levels != scale):
        raise ParamError("levels", f"must be log2(scale) = {math.log2(scale):g} for scale {scale}, got {levels!r}")
    return scale.bit_length() - 1 if power else None


def evaluate_image(hr, *, scale, method=None, levels=None, mu=DEFAULT_MU, iterations=None, **method_options):
    """Score a method on one HR image under the standard protocol (``../shared/data/README.md``).

    Parameters
    ----------
    hr : ndarray
        High-resolution float image in [0, 1], greyscale or RGB (an alpha channel is dropped).
    scale : int
        Factor s ≥ 2; for methods other than ``bicubic`` a power of two (``levels = log2 s``).
    method : str, optional
        A registered method (default :data:`DEFAULT_METHOD`).
    levels : int, optional
        Must equal ``log2(scale)`` when given.
    mu, iterations, **method_options
        As in :func:`upscale`.

    Returns
    -------
    dict
        ``psnr`` and ``ssim`` (luma, border ``scale`` cropped), ``seconds`` (the method's run time
        alone) and ``shape`` (of the mod-cropped HR image).

    Notes
    -----
    Protocol: HR mod-cropped to a multiple of s; LR = MATLAB ``imresize(HR, 1/s, 'bicubic')`` rounded
    to 8 bit; SR = method(LR) rounded to 8 bit; PSNR/SSIM on Y (BT.601) of the 8-bit images after
    cropping s pixels from every border. ``bicubic`` at a scale that is not a power of two is one
    ``imresize(LR, s)``.
    """
    entry = get_method(method)
    scale = check_int(scale, "scale", minimum=2)
    power = evaluation_levels(scale, method=entry.name, levels=levels) is not None
    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim == 3 and hr.shape[2] in (2, 4):
        hr = hr[..., :-1]
    if hr.ndim == 3 and hr.shape[2] == 1:
        hr = hr[..., 0]
    hr = mod_crop(hr, scale)
    lr = make_lr(hr, scale)
    start = time.perf_counter()
    if power:
        sr = upscale(lr, levels=int(scale).bit_length() - 1, method=entry.name, mu=mu, iterations=iterations,
                     **method_options)
    else:
        sr = np.clip(_bicubic(lr, scale), 0.0, 1.0)
    seconds = time.perf_counter() - start
    psnr, ssim = protocol_scores(hr, sr, scale)          # rounds SR to 8 bit
    return {"psnr": float(psnr), "ssim": float(ssim), "seconds": seconds, "shape": tuple(hr.shape[:2])}


# ---------------------------------------------------------------------------------------------
# colour handling

def _bicubic(image, scale):
    return imresize(image, scale, kernel="cubic")


# ---------------------------------------------------------------------------------------------
# built-in methods

#: Default IBP steps (eqs. 2–3) for ``method="ibp"``. The LR residual shrinks by ρ ≈ 0.78 per step
#: (bicubic pair), and PSNR on Set5/Set14/BSD100 stops changing (< 0.01 dB) after about 10 steps at
#: ×2, ×4 and ×8 (``benchmarks/quality.py``); more steps only cost time.
IBP_DEFAULT_ITERATIONS = 10

#: Default number of BP^µ cycles at the finest level for ``method="mgbp"``: 1 is Algorithm 1 exactly
#: (``mgbp_classic.multigrid.mgbp``); the sharpness is set by ``mu`` (the paper's choice µ = 2).
MGBP_DEFAULT_ITERATIONS = 1


def _bicubic_method(image, *, levels, mu, final_only=False):
    return [None if final_only and k < levels else _bicubic(image, 2 ** k) for k in range(1, levels + 1)]


def register_builtin_methods():
    """Register the package's methods: ``bicubic``, ``ibp``, ``mgbp`` and the learned network (in this order).

    Called once when this module is imported; calling it again restores the built-in entries
    (replacing same-named ones). Their costs are orders of magnitude for ``--dry-run``: the
    network's was measured with the shipped model (a 100×76 image ×4 in one tile: about 60 CPU
    seconds per megapixel of tiles with their margins; the peak resident memory of one forward pass
    at µ = 2 grows by 2460–2660 bytes per output pixel of a tile at ×2, ×4 and ×8, so 3300 leaves
    25 % headroom, ``benchmarks/big_image.py``); the classic methods' figures are rougher.

    Returns
    -------
    list of str
        The names registered.
    """
    entries = [
        register_method("bicubic", _bicubic_method, linear=True, seconds_per_megapixel=0.1, replace=True,
                        description="MATLAB bicubic imresize by 2**levels"),
        register_method("ibp", upscale_ibp, default_iterations=IBP_DEFAULT_ITERATIONS, linear=True,
                        seconds_per_megapixel=2.0, replace=True,
                        description="Iterative Back-Projection (eqs. 2-3) at 2**levels from the bicubic start"),
        register_method("mgbp", upscale_mgbp, default_iterations=MGBP_DEFAULT_ITERATIONS, linear=True,
                        seconds_per_megapixel=3.0, replace=True,
                        description="classic Multi-Grid Back-Projection (Algorithm 1), mu steps per level"),
        register_method("net", upscale_net, tiler=NetRunner, seconds_per_megapixel=60.0, bytes_per_tile_pixel=3300,
                        replace=True,
                        description="the learned MGBP network (default: the pretrained model in the package)"),
    ]
    return [entry.name for entry in entries]


#: The method used when none is named (the command line's ``--method`` default): the learned
#: network, the last built-in method, with the pretrained model in the package, which beats
#: classic MGBP on Set5 and Set14 at ×2, ×4 and ×8 (``benchmarks/quality.py``).
DEFAULT_METHOD = register_builtin_methods()[-1]
