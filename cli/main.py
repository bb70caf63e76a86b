"""Entry point: the click group ``mgbp-classic``; each subcommand lives in its own module."""
import click

from mgbp_classic import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mgbp-classic")
def cli():
    """Multi-Grid Back-Projection super-resolution (AAAI 2019) on the CPU."""


def _register():
    import importlib
    for name in ("upscale", "downscale", "evaluate", "convergence", "train", "info", "visualize"):
        try:
            module = importlib.import_module(f"mgbp_classic_cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mgbp_classic_cli.{name}":
                raise
            continue
        cli.add_command(module.command)


_register()
