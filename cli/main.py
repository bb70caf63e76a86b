"""Entry point: the click group ``mgbp-classic``; each subcommand lives in its own module."""
import os

# A setting of the command's process, made before anything loads NumPy (and with it OpenBLAS, which
# reads it once, at load): OpenBLAS's idle threads stop spinning after 2^4 cycles instead of 2^28
# (~0.1 s), so that they do not take the cores from the Numba kernels that follow each product (the
# register-tiled 3×3 kernels ran at half speed between products: docs/appendix_timings.md). A value
# the user has set is kept; the package never sets it on import.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import click  # noqa: E402

from mgbp_classic import __version__  # noqa: E402
from mgbp_classic._heap import retain_freed_memory  # noqa: E402
from mgbp_classic._parallel import sleeping_idle_threads  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mgbp-classic")
def cli():
    """Multi-Grid Back-Projection super-resolution (AAAI 2019) on the CPU."""
    retain_freed_memory()            # the command owns its process: no page faults for every new array,
    sleeping_idle_threads()          # and no spinning Numba threads in the way of the BLAS products
    _printable_stdout()
    _one_line_warnings()


def _one_line_warnings():
    """Show a warning as one line ``warning: <message>`` on stderr (not Python's file:line and source)."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"warning: {' '.join(str(message).split())}", err=True)

    warnings.showwarning = show


def _printable_stdout():
    """Print what the terminal's encoding cannot show (e.g. a file name of invalid UTF-8 bytes,
    which Python holds as surrogate escapes) as backslash escapes instead of failing."""
    import sys
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a closed or detached stream: nothing to print to anyway
            pass


COMMANDS = ("upscale", "downscale", "evaluate", "convergence", "train", "info", "visualize", "explore",
            "upscale-zarr")


def _register():
    import importlib
    for name in COMMANDS:
        cli.add_command(importlib.import_module(f"mgbp_classic_cli.{name.replace('-', '_')}").command)


_register()
