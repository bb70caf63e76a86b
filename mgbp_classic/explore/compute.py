"""What the deep-filter explorer shows, computed on demand: images, effective filters, residual.

An :class:`Explorer` holds one low-resolution image and one network. For every (levels, µ) the
page asks for it builds a *state* — the network output, the bicubic output and the effective
residual ``R`` (Theorem 1: the frozen network on a black image) — and for every output pixel the
page points at it computes that pixel's row of ``F`` with the windowed backward pass
(:meth:`mgbp_classic.deepfilter.DeepFilter.filters`), with the bicubic filter at the same pixel,
their difference, the radius holding 99 % of the filter's mass, ``R`` at the pixel and the
Theorem 1 check ``F X + R = net(X)`` there. Rows are cached per pixel, so moving back to a pixel
is free.

Everything here returns plain Python values (dicts of lists and floats, PNG bytes) that the server
sends as JSON and the static export writes into a file; nothing here knows about HTTP.

Costs (see ``benchmarks/explore_speed.py``): a state costs two forward passes of the network on
the reflection-padded image (the recording pass and the residual), a filter one windowed backward
pass in the luma view and three in the colour view. One :class:`~mgbp_classic.deepfilter.DeepFilter`
(the recorded gains, the largest object) is kept alive at a time; the images, the residual and the
cached rows of earlier states are kept, so switching back to an earlier (levels, µ) re-records the
gains only when a new pixel is asked for.
"""
from collections import OrderedDict
import threading
import time

import numpy as np

from ..color import LUMA_WEIGHTS
from ..deepfilter import DeepFilter, bicubic_filter
from .._validate import ParamError, check_choice, check_int, is_int
from ..inference import DEFAULT_MARGIN
from ..plotting import mass_radius
from ..resize import imresize

__all__ = ["Explorer", "ExploreError", "Cancelled", "MODES", "MAX_MU", "MAX_LEVELS",
           "MAX_NETWORK_PIXELS", "FILTER_MASS", "MAX_WINDOW_RADIUS", "png_bytes", "residual_png"]

#: Filter views: ``"luma"`` (output luma against a grey δ; one backward pass) or ``"color"``
#: (the 3×3 grid ``F[c_out, c_in]``; three backward passes).
MODES = ("luma", "color")
#: Largest µ offered (the recursion's cost grows like µ^levels).
MAX_MU = 4
#: Largest number of 2× levels offered (the shipped model serves ×2, ×4 and ×8).
MAX_LEVELS = 3
#: Largest network input × output factor², in output pixels of the *padded* image: a state at
#: 256×256 ×4 (margin 16: 288² · 16 = 1.33 M) records about 10 GB of gains and activations at
#: its peak, so larger inputs must be cropped first.
MAX_NETWORK_PIXELS = 2_100_000
#: The filter size shown: the radius of the window (around the LR pixel under the output pixel)
#: holding this fraction of the filter's absolute sum.
FILTER_MASS = 0.99
#: The filter is sent on the window holding 99.9 % of its absolute sum, at least 3 and at most
#: this many LR pixels around the centre.
MAX_WINDOW_RADIUS = 32
#: Rows kept in the cache (a few kB to a few hundred kB each).
CACHE_ROWS = 2048
#: States (images and residual of one (levels, µ)) kept.
CACHE_STATES = 6


#: A request the explorer cannot serve (bad level, µ, pixel or mode): the package's
#: :class:`~mgbp_classic.exceptions.ParamError`, whose ``param`` names the argument; the message is one line.
ExploreError = ParamError


class Cancelled(Exception):
    """The request was withdrawn before its computation started."""


def png_bytes(image):
    """An (H, W) or (H, W, 3) float image in [0, 1] (clipped) as 8-bit PNG bytes."""
    import imageio.v3 as iio
    arr = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    arr = np.round(arr * 255.0).astype(np.uint8)
    return iio.imwrite("<bytes>", arr, extension=".png")


def residual_png(residual_luma, vmax):
    """The residual's luma on the diverging scale ``±vmax`` (red positive, blue negative) as PNG bytes."""
    from matplotlib import colormaps
    norm = 0.5 + 0.5 * np.clip(np.asarray(residual_luma, dtype=np.float64) / vmax, -1.0, 1.0)
    return png_bytes(colormaps["RdBu_r"](norm)[..., :3])


def _f32_list(arr):
    """Nested lists of floats that round-trip the float32 values exactly (9 significant digits)."""
    a = np.asarray(arr, dtype=np.float32)
    flat = [float(f"{v:.9g}") for v in a.ravel().tolist()]
    if a.ndim <= 1:
        return flat
    out = np.empty(a.shape[:-1], dtype=object)
    n = a.shape[-1]
    for i, idx in enumerate(np.ndindex(a.shape[:-1])):
        out[idx] = flat[i * n:(i + 1) * n]
    return out.tolist()


def _num(value):
    return float(f"{float(value):.9g}")


class _State:
    """The images and residual of one (levels, µ); ``deepfilter`` only while it is the live one."""

    def __init__(self, levels, mu):
        self.levels, self.mu, self.scale = levels, mu, 1 << levels
        self.deepfilter = None
        self.output = None            # (sH, sW, 3) unclipped network output
        self.residual = None          # (sH, sW, 3)
        self.pngs = {}
        self.meta = None


class Explorer:
    """Effective filters of one image under one network, computed on demand and cached.

    Parameters
    ----------
    net : MGBPNet
        The network (e.g. ``mgbp_classic.inference.load_model()[0]``).
    image : ndarray
        (H, W, 3) RGB or (H, W) greyscale float image in [0, 1] (an alpha channel must be dropped
        before).
    name : str
        What the page calls the image (a file name; never used as a path).
    model_name : str
        What the page calls the model.
    margin : int
        LR pixels of reflection padding, as inference uses them.

    Notes
    -----
    Thread-safe: every computation runs under one lock (the network's ReLU gain tape is global
    state, and the two cores are better used by one computation at a time). A computation that
    waits for the lock can be withdrawn: the ``cancelled`` callable of :meth:`filter` is asked once
    the lock is held, before anything is computed.

    Examples
    --------
    >>> from mgbp_classic.inference import load_model
    >>> net, _ = load_model()
    >>> ex = Explorer(net, lr_image, name="photo.png")       # doctest: +SKIP
    >>> ex.state(2, 2)["scale"]                              # x4, µ = 2: two forward passes  # doctest: +SKIP
    4
    >>> f = ex.filter(2, 2, 40, 52)                          # output pixel y = 40, x = 52  # doctest: +SKIP
    >>> f["check"]["error"] < 1e-5                           # |F X + R - net(X)| there  # doctest: +SKIP
    True
    """

    def __init__(self, net, image, *, name="image", model_name="model", margin=DEFAULT_MARGIN):
        arr = np.asarray(image, dtype=np.float64)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
            raise ParamError("image", f"must be an (H, W, 3) or (H, W) array, got shape {np.shape(image)}")
        if not np.all(np.isfinite(arr)):
            raise ParamError("image", "must be finite, got NaN or infinity")
        self.net = net
        self.image = arr
        self.name, self.model_name, self.margin = str(name), str(model_name), int(margin)
        self.lock = threading.RLock()
        self._states = OrderedDict()
        self._rows = OrderedDict()
        self._input_png = None
        h, w = arr.shape[:2]
        self.levels_allowed = [n for n in range(1, MAX_LEVELS + 1)
                               if (h + 2 * self.margin) * (w + 2 * self.margin) * 4 ** n <= MAX_NETWORK_PIXELS]
        self.stats = {"rows_computed": 0, "rows_cached": 0, "states_recorded": 0, "cancelled": 0}

    # -- validation -------------------------------------------------------------------------------
    def check_levels_mu(self, levels, mu):
        """Validate (levels, µ) → ints, or raise :class:`ExploreError` with a one-line reason."""
        h, w = self.image.shape[:2]
        if not self.levels_allowed:
            raise ParamError("image", f"the image is too large for the explorer ({w}x{h}: with the {self.margin}-pixel "
                               f"margin even x2 needs more than {MAX_NETWORK_PIXELS} network output pixels); "
                               f"crop it first", subject="")
        levels = check_int(levels, "levels", minimum=1, maximum=max(self.levels_allowed), where=f" for a {w}x{h} image")
        return levels, check_int(mu, "mu", minimum=1, maximum=MAX_MU)

    def check_pixel(self, levels, y, x):
        """Validate an output pixel (row y, column x) at ``2**levels`` → ints, or raise :class:`ExploreError`."""
        h, w = self.image.shape[:2]
        s = 1 << levels
        if not is_int(y) or not is_int(x) or not (0 <= int(y) < s * h and 0 <= int(x) < s * w):
            raise ParamError("pixel", f"must lie in the {s * w}x{s * h} output (x in 0..{s * w - 1}, "
                               f"y in 0..{s * h - 1}), got (x={x!r}, y={y!r})")
        return int(y), int(x)

    @staticmethod
    def check_mode(mode):
        return check_choice(mode, "mode", MODES)

    # -- the page's description of the image --------------------------------------------------------
    def info(self):
        """What the page needs before any state: the image, the model, the allowed levels and µ."""
        h, w = self.image.shape[:2]
        return {"image": self.name, "model": self.model_name, "height": h, "width": w,
                "levels": self.levels_allowed, "mu": list(range(1, MAX_MU + 1)), "modes": list(MODES),
                "margin": self.margin, "mass": FILTER_MASS}

    def input_png(self):
        with self.lock:
            if self._input_png is None:
                self._input_png = png_bytes(self.image)
            return self._input_png

    # -- states -------------------------------------------------------------------------------------
    def _state(self, levels, mu, *, live):
        """The state of (levels, µ), built if needed; ``live``: with its DeepFilter (recorded gains)."""
        key = (levels, mu)
        st = self._states.get(key)
        if st is None:
            st = _State(levels, mu)
            self._states[key] = st
            while len(self._states) > CACHE_STATES:
                self._states.popitem(last=False)
        self._states.move_to_end(key)
        if st.deepfilter is None and (live or st.output is None):
            for other in self._states.values():            # one set of recorded gains at a time
                other.deepfilter = None
            t0 = time.perf_counter()
            st.deepfilter = DeepFilter(self.net, self.image, levels=levels, mu=mu, margin=self.margin)
            self.stats["states_recorded"] += 1
            if st.output is None:
                st.output = np.asarray(st.deepfilter.output, dtype=np.float64)
                st.residual = np.asarray(st.deepfilter.residual, dtype=np.float64)
                self._describe(st, time.perf_counter() - t0)
        return st

    def _describe(self, st, seconds):
        r_luma = st.residual @ LUMA_WEIGHTS
        vmax = float(np.percentile(np.abs(r_luma), 99.5)) or float(np.abs(r_luma).max()) or 1.0
        bicubic = imresize(self.image, st.scale)
        st.pngs = {"output": png_bytes(st.output), "bicubic": png_bytes(bicubic),
                   "residual": residual_png(r_luma, vmax)}
        sh, sw = st.output.shape[:2]
        st.meta = {"levels": st.levels, "mu": st.mu, "scale": st.scale, "height": sh, "width": sw,
                   "residual_scale": _num(vmax), "residual_max": _num(np.abs(st.residual).max()),
                   "residual_luma_max": _num(np.abs(r_luma).max()), "seconds": round(seconds, 3)}

    def state(self, levels, mu):
        """Describe the state of (levels, µ), computing it (two forward passes) if needed.

        Returns
        -------
        dict
            ``levels, mu, scale, height, width`` (of the output), ``residual_scale`` (the ``±v`` of
            the residual image), ``residual_max`` (max |R| over channels), ``residual_luma_max``,
            ``seconds`` (time the state took).
        """
        levels, mu = self.check_levels_mu(levels, mu)
        with self.lock:
            return dict(self._state(levels, mu, live=False).meta)

    def image_png(self, kind, levels, mu):
        """PNG bytes of ``kind`` in {"input", "output", "bicubic", "residual"} at (levels, µ)."""
        if kind == "input":
            return self.input_png()
        if kind not in ("output", "bicubic", "residual"):
            raise ParamError("kind", subject="image",
                             reason=f"must be one of input, output, bicubic, residual, got {kind!r}")
        levels, mu = self.check_levels_mu(levels, mu)
        with self.lock:
            return self._state(levels, mu, live=False).pngs[kind]

    # -- filters ------------------------------------------------------------------------------------
    def is_cached(self, levels, mu, y, x, mode="luma"):
        return (levels, mu, mode, y, x) in self._rows

    def filter(self, levels, mu, y, x, *, mode="luma", cancelled=None):
        """The effective filter of output pixel (y, x) at (levels, µ), with bicubic and the checks.

        Parameters
        ----------
        levels, mu : int
        y, x : int
            Output pixel (row, column) of the ``2**levels`` output.
        mode : {"luma", "color"}
            ``"luma"``: the output luma's filter against a grey δ (and its three input-channel
            parts); ``"color"``: the 3×3 grid of filters ``F[c_out, c_in]``.
        cancelled : callable, optional
            Asked (no arguments) once the computation lock is held; ``True`` raises
            :class:`Cancelled` without computing anything.

        Returns
        -------
        dict
            ``pixel`` [y, x]; ``center`` [cy, cx] (the LR pixel under it); ``window``
            [y0, y1, x0, x1] (LR rows y0…y1−1, columns x0…x1−1, clipped to the image) of the
            sent arrays, centred on ``center`` with half-width ``radius``; ``offset`` (where
            the output pixel's centre falls relative to ``center``, in LR pixels);
            ``filter`` (window, the luma view Σ_c of the luma row), ``channels`` (luma: the row's
            three input channels; colour: 3×3 windows ``[c_out][c_in]``), ``bicubic``,
            ``difference`` (filter − bicubic); ``sum``, ``abs_sum``, ``radius99`` of the filter
            and of bicubic (computed on the whole image, not the window); ``residual`` (R at
            the pixel, RGB) and ``residual_luma``; ``check``: ``fx`` (⟨row, X⟩), ``r``,
            ``fx_plus_r``, ``net`` and ``error`` = |F X + R − net(X)| for the luma (and per
            channel in the colour view); ``seconds`` (compute time) and ``cached``.
        """
        levels, mu = self.check_levels_mu(levels, mu)
        y, x = self.check_pixel(levels, y, x)
        mode = self.check_mode(mode)
        key = (levels, mu, mode, y, x)
        hit = self._rows.get(key)
        if hit is not None:                            # cached rows need not wait for the lock
            self.stats["rows_cached"] += 1
            return dict(hit, cached=True)
        with self.lock:
            hit = self._rows.get(key)
            if hit is not None:
                self._rows.move_to_end(key)
                self.stats["rows_cached"] += 1
                return dict(hit, cached=True)
            if cancelled is not None and cancelled():
                self.stats["cancelled"] += 1
                raise Cancelled()
            t0 = time.perf_counter()
            st = self._state(levels, mu, live=True)
            rows = st.deepfilter.filters([(y, x)], color=(mode == "color"))[0]
            result = self._describe_row(st, y, x, rows, mode)
            result["seconds"] = round(time.perf_counter() - t0, 3)
            self.stats["rows_computed"] += 1
            self._rows[key] = result
            while len(self._rows) > CACHE_ROWS:
                self._rows.popitem(last=False)
            return dict(result, cached=False)

    def _describe_row(self, st, y, x, rows, mode):
        s = st.scale
        h, w = self.image.shape[:2]
        x_img = self.image.astype(np.float32).astype(np.float64)   # what the network saw
        if mode == "luma":
            parts = np.moveaxis(rows, -1, 0)                         # (3 input channels, H, W)
            filt = rows.sum(axis=-1)                                 # (H, W) luma view
        else:
            parts = np.moveaxis(rows, -1, 1)                         # (3 out, 3 in, H, W)
            filt = np.tensordot(LUMA_WEIGHTS.astype(rows.dtype), rows.sum(axis=-1), axes=1)
        bic = bicubic_filter((h, w), [(y, x)], scale=s)[0]
        cy, cx = y // s, x // s
        r99 = mass_radius(filt, (y, x), scale=s, mass=FILTER_MASS)
        rad = int(min(max(mass_radius(filt, (y, x), scale=s, mass=0.999), 3), MAX_WINDOW_RADIUS))
        y0, y1, x0, x1 = max(cy - rad, 0), min(cy + rad + 1, h), max(cx - rad, 0), min(cx + rad + 1, w)
        win = (slice(y0, y1), slice(x0, x1))
        net_rgb = st.output[y, x]
        r_rgb = st.residual[y, x]
        if mode == "luma":
            fx = float(np.sum(rows.astype(np.float64) * x_img))
            check = {"fx": fx, "r": float(r_rgb @ LUMA_WEIGHTS)}
            check["net"] = float(net_rgb @ LUMA_WEIGHTS)
            channels = _f32_list(parts[(slice(None),) + win])
        else:
            fx_c = np.einsum("oyxc,yxc->o", rows.astype(np.float64), x_img)
            check = {"fx": float(fx_c @ LUMA_WEIGHTS), "r": float(r_rgb @ LUMA_WEIGHTS),
                     "net": float(net_rgb @ LUMA_WEIGHTS),
                     "fx_rgb": [_num(v) for v in fx_c], "r_rgb": [_num(v) for v in r_rgb],
                     "net_rgb": [_num(v) for v in net_rgb],
                     "error_rgb": [_num(v) for v in np.abs(fx_c + r_rgb - net_rgb)]}
            channels = _f32_list(parts[(slice(None), slice(None)) + win])
        check["fx_plus_r"] = check["fx"] + check["r"]
        check["error"] = abs(check["fx_plus_r"] - check["net"])
        for k in ("fx", "r", "net", "fx_plus_r", "error"):
            check[k] = _num(check[k])
        diff = filt.astype(np.float64) - bic
        return {
            "levels": st.levels, "mu": st.mu, "scale": s, "mode": mode, "pixel": [y, x],
            "center": [cy, cx], "radius": rad, "window": [y0, y1, x0, x1],
            "offset": [_num((y + 0.5) / s - 0.5 - cy), _num((x + 0.5) / s - 0.5 - cx)],
            "filter": _f32_list(filt[win]), "channels": channels,
            "bicubic": _f32_list(bic[win]), "difference": _f32_list(diff[win]),
            "sum": _num(filt.sum(dtype=np.float64)), "abs_sum": _num(np.abs(filt).sum(dtype=np.float64)),
            "radius99": int(r99),
            "bicubic_sum": _num(bic.sum()), "bicubic_abs_sum": _num(np.abs(bic).sum()),
            "bicubic_radius99": int(mass_radius(bic, (y, x), scale=s, mass=FILTER_MASS)),
            "difference_abs_sum": _num(np.abs(diff).sum()),
            "residual": [_num(v) for v in r_rgb], "residual_luma": _num(r_rgb @ LUMA_WEIGHTS),
            "net": [_num(v) for v in net_rgb], "check": check,
        }

