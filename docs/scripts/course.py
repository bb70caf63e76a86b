"""What every lesson notebook shares: the size switch, the output folder, optional controls.

``MGBP_DOCS_SMALL=1`` makes every notebook run its small, fast version (the tests do this);
``MGBP_DOCS_OUT=DIR`` writes the figures into ``DIR`` instead of ``docs/figures/``.
"""
import os
import sys
from pathlib import Path

SMALL = os.environ.get("MGBP_DOCS_SMALL", "") not in ("", "0")
OUT = Path(os.environ.get("MGBP_DOCS_OUT") or Path(__file__).resolve().parents[1] / "figures")


def in_notebook():
    """True inside a Jupyter kernel (where controls and inline figures make sense)."""
    return "ipykernel" in sys.modules


def controls(function, **options):
    """``ipywidgets.interact(function, **options)`` in a notebook with ipywidgets; otherwise call
    ``function`` once with the first value of every option, so that the file also runs as a script.

    Each option is a list of values (a drop-down or slider in the notebook).
    """
    if in_notebook():
        try:
            from ipywidgets import interact
        except ImportError:
            print("(install ipywidgets for the controls; showing the first setting)")
        else:
            return interact(function, **options)
    return function(**{name: values[0] for name, values in options.items()})


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
