"""The explorer as a static, self-contained folder: filters precomputed on a grid of pixels.

``export(explorer, directory, states=[(2, 1), (2, 2)], grid=8)`` writes

==================  =============================================================================
``index.html``      the page (the same one the server sends)
``explore.js/.css`` its script and style
``data.js``         ``window.EXPLORE_STATIC = {...}``: the image's description, every state's
                    numbers and the filters of its grid pixels (a script, not JSON, so that the
                    page also works when opened as a file: browsers refuse ``fetch`` on file URLs)
``*.png``           the input, and for every state the network output, bicubic and residual
==================  =============================================================================

The folder needs no server: open ``index.html`` from disk or put the folder on any static host
(e.g. a course web page). The pointer snaps to the nearest exported pixel (marked in yellow).
Every file is written to a temporary name and renamed into place.
"""
import json
from pathlib import Path

from ..atomic import atomic_write
from .._validate import ParamError, check_int
from .server import static_bytes

__all__ = ["export", "grid_pixels", "MAX_GRID"]

#: Largest grid side (the number of rows grows with its square).
MAX_GRID = 32


def grid_pixels(height, width, grid):
    """``grid × grid`` output pixels at the centres of equal cells of an (height, width) output."""
    ys = sorted({min(height - 1, int((i + 0.5) * height / grid)) for i in range(grid)})
    xs = sorted({min(width - 1, int((j + 0.5) * width / grid)) for j in range(grid)})
    return [(y, x) for y in ys for x in xs]


def _write(path, data):
    with atomic_write(path) as f:
        f.write(data)


def export(explorer, directory, *, states, grid=8, modes=("luma",), progress=None):
    """Write the static explorer for ``states`` into ``directory`` (created if missing).

    Parameters
    ----------
    explorer : Explorer
    directory : str or os.PathLike
    states : sequence of (int, int)
        The (levels, µ) pairs to export; the first is the one the page opens with.
    grid : int
        Pixels per side of the grid of output pixels whose filters are precomputed (1 … 32).
    modes : sequence of str
        Filter views to precompute (``"luma"``, ``"color"``: three times the cost).
    progress : callable, optional
        ``progress(done, total)`` after each state and each filter.

    Returns
    -------
    list of Path
        The files written.
    """
    states = [explorer.check_levels_mu(lv, mu) for lv, mu in states]
    if not states:
        raise ParamError("states", "must name at least one (levels, mu) pair")
    grid = check_int(grid, "grid", minimum=1, maximum=MAX_GRID)
    modes = [explorer.check_mode(m) for m in modes]
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def put(name, data):
        _write(out / name, data)
        written.append(out / name)

    h, w = explorer.image.shape[:2]
    total = sum(len(grid_pixels(h << lv, w << lv, grid)) * len(modes) + 1 for lv, _ in states)
    done = 0
    put("input.png", explorer.input_png())
    data = {"info": dict(explorer.info(), levels=sorted({lv for lv, _ in states}),
                         mu=sorted({mu for _, mu in states}),
                         initial={"levels": states[0][0], "mu": states[0][1]}),
            "images": {"input": "input.png"}, "modes": modes, "states": {}}
    for lv, mu in states:
        meta = explorer.state(lv, mu)
        names = {}
        for kind in ("output", "bicubic", "residual"):
            names[kind] = f"x{1 << lv}_mu{mu}_{kind}.png"
            put(names[kind], explorer.image_png(kind, lv, mu))
        done += 1
        if progress is not None:
            progress(done, total)
        pixels = grid_pixels(meta["height"], meta["width"], grid)
        filters = {}
        for mode in modes:
            filters[mode] = {}
            for y, x in pixels:
                f = explorer.filter(lv, mu, y, x, mode=mode)
                f.pop("cached", None)
                f.pop("seconds", None)
                filters[mode][f"{y},{x}"] = f
                done += 1
                if progress is not None:
                    progress(done, total)
        data["states"][f"{lv},{mu}"] = {"meta": meta, "images": names, "grid": [list(p) for p in pixels],
                                         "filters": filters}
    script = "window.EXPLORE_STATIC = " + json.dumps(data, separators=(",", ":"), allow_nan=False) + ";\n"
    put("data.js", script.encode("utf-8"))
    for name in ("index.html", "explore.js", "explore.css"):
        put(name, static_bytes(name))
    return written
