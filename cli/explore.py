"""``mgbp-classic explore``: the network's effective filters under the mouse, in the browser (or as static files)."""
import errno
import sys
from pathlib import Path

import click

from ._common import library_errors, read_image_or_fail, same_file
DEFAULT_PORT = 8765


@click.command("explore")
@click.option("--levels", type=click.IntRange(min=1), multiple=True,
              help="Number N of 2x levels (the output is 2**N larger) the page opens with [default: 2]; "
                   "with --export, repeat it to export several.")
@click.option("--mu", type=click.IntRange(min=1), multiple=True,
              help="Back-projection steps per level the page opens with [default: 2, as the model is trained]; "
                   "with --export, repeat it to export several (e.g. --mu 1 --mu 2 --mu 3).")
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file (default: the pretrained model shipped in the package).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Only serve and print the address; do not open a browser.")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write a static, self-contained explorer into this directory instead of serving "
                   "(filters precomputed on a grid of pixels; open index.html from disk or any static host).")
@click.option("--grid", type=click.IntRange(1, 32), default=8, show_default=True,
              help="With --export: output pixels per side of the grid of precomputed filters.")
@click.option("--color", "color", is_flag=True,
              help="With --export: also precompute the 3x3 colour filters (three times the cost).")
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
def command(levels, mu, model, port, no_browser, export_dir, grid, color, verbose, image):
    """Explore the network's effective filter at every output pixel of IMAGE in the browser.

    Starts a local server on 127.0.0.1 and opens its page: the input, the network's output and the
    bicubic output side by side (zoom with the wheel, pan by dragging). Pointing at an output pixel
    shows its effective filter -- the row of F of Theorem 1, Y = F X + R, computed with one
    backward pass of the frozen network -- beside the bicubic filter at the same pixel and their
    difference, the radius holding 99% of the filter, the effective residual R there and the check
    F X + R = net(X). Levels and mu can be changed on the page; a second view shows R over the whole
    image. Ctrl-C stops the server.
    """
    from mgbp_classic.explore import Explorer, export, make_server, serve
    from mgbp_classic.explore.compute import MAX_NETWORK_PIXELS
    from mgbp_classic.pipeline.runner import NetRunner

    levels = list(dict.fromkeys(levels)) or [2]
    mus = list(dict.fromkeys(mu)) or [2]
    if export_dir is None and (len(levels) > 1 or len(mus) > 1):
        raise click.UsageError("--levels and --mu may be repeated only with --export (the page changes them)")
    if export_dir is None and (grid != 8 or color):
        raise click.UsageError("--grid and --color apply only with --export")
    img = read_image_or_fail(image)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]                                    # the alpha channel is not the network's
    with library_errors():
        runner = NetRunner(model, mu=mus[0])
    explorer = Explorer(runner.net, img, name=image.name, margin=runner.margin,
                        model_name=Path(model).name if model else "pretrained model")
    if not explorer.levels_allowed:
        raise click.BadParameter(f"is too large for the explorer ({img.shape[1]}x{img.shape[0]}: even x2 needs more "
                                 f"than {MAX_NETWORK_PIXELS} network output pixels with the reflection margin); "
                                 f"crop it first", param_hint="'IMAGE'")
    with library_errors():
        for lv in levels:
            explorer.check_levels_mu(lv, mus[0])
        for m in mus:
            explorer.check_levels_mu(levels[0], m)

    if export_dir is not None:
        if export_dir.exists() and not export_dir.is_dir():
            raise click.BadParameter(f"'{export_dir}' exists and is not a directory", param_hint="'--export'")
        if export_dir.exists() and any(same_file(export_dir / n, image) for n in ("input.png",)):
            raise click.BadParameter("would overwrite the input image; choose another directory",
                                     param_hint="'--export'")
        states = [(lv, m) for lv in levels for m in mus]
        modes = ("luma", "color") if color else ("luma",)
        with click.progressbar(length=1, label="export", file=sys.stderr, show_pos=True) as bar, \
                library_errors():
            def progress(done, total):
                bar.length = total
                bar.update(done - bar.pos)
            written = export(explorer, export_dir, states=states, grid=grid, modes=modes, progress=progress)
        click.echo(f"wrote {export_dir}/index.html and {len(written) - 1} more files "
                   f"({len(states)} state{'s' * (len(states) > 1)}, {grid}x{grid} pixels each)")
        return

    try:
        server = make_server(explorer, port=port, initial=(levels[0], mus[0]), verbose=verbose)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.BadParameter(f"port {port} is in use on 127.0.0.1; choose another (0 picks a free one)",
                                     param_hint="'--port'") from None
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    serve(server, open_browser=not no_browser, echo=click.echo)
