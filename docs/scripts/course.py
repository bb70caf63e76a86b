"""What every lesson notebook shares: the size switch, the output folder, the data, optional controls.

``MGBP_DOCS_SMALL=1`` makes every notebook run its small, fast version (the tests do this);
``MGBP_DOCS_OUT=DIR`` writes the figures into ``DIR`` instead of ``docs/figures/``;
``MGBP_DATA=DIR`` reads the image sets from ``DIR`` instead of ``../shared/data`` (beside the
project folder; ``docs/data.md`` says where the sets come from). A notebook that wants an image
that is not there uses the package's bundled sample image instead, and says so.
"""
import os
import sys
from pathlib import Path

SMALL = os.environ.get("MGBP_DOCS_SMALL", "") not in ("", "0")
OUT = Path(os.environ.get("MGBP_DOCS_OUT") or Path(__file__).resolve().parents[1] / "figures")
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("MGBP_DATA") or ROOT.parent / "shared" / "data")

_said = set()


def data_file(*parts, fallback="the bundled sample image"):
    """``DATA/parts…`` if it exists; otherwise ``None``, after printing (once per file) that the
    notebook uses ``fallback`` instead — so a run without the image sets says what it shows."""
    path = DATA.joinpath(*parts)
    if path.exists():
        return path
    if path not in _said:
        _said.add(path)
        print(f"({path} is not available: using {fallback} instead; docs/data.md says how to get the sets)")
    return None


def in_notebook():
    """True inside a Jupyter kernel (where controls and inline figures make sense)."""
    return "ipykernel" in sys.modules


def controls(function, **options):
    """``ipywidgets.interact(function, **options)`` in a notebook with ipywidgets; otherwise call
    ``function`` once with the first value of every option, so that the file also runs as a script.

    Each option is a list of values (a drop-down or slider in the notebook). Returns nothing, so
    that the cell that calls it shows only the widgets and the plot (``interact`` returns the
    function, which a notebook would print as ``<function …>`` under the widgets).
    """
    if in_notebook():
        try:
            from ipywidgets import interact
        except ImportError:
            print("(install ipywidgets for the controls — pip install -e \".[course]\"; showing the first setting)")
        else:
            interact(function, **options)
            return None
    function(**{name: values[0] for name, values in options.items()})
    return None


def show(paths):
    """Display the written figures inline in a notebook; print their paths otherwise."""
    paths = [Path(p) for p in paths]
    if in_notebook():
        from IPython.display import Image, display
        for p in paths:
            display(Image(filename=str(p)))
    else:
        for p in paths:
            print("wrote", p)
    return paths


def done(fig):
    """End of an interactive plot: show it in a notebook, close it in a script."""
    import matplotlib.pyplot as plt
    if in_notebook():
        plt.show()
    else:
        plt.close(fig)
