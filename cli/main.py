"""Entry point: the click group ``mgbp-classic``; each subcommand lives in its own module."""
import click

from mgbp_classic import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mgbp-classic")
def cli():
    """Multi-Grid Back-Projection super-resolution (AAAI 2019) on the CPU."""


COMMANDS = ("upscale", "downscale", "evaluate", "convergence", "train", "info", "visualize", "explore",
            "upscale-zarr")


def _register():
    import importlib
    for name in COMMANDS:
        cli.add_command(importlib.import_module(f"mgbp_classic_cli.{name.replace('-', '_')}").command)


_register()
