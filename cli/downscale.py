"""``mgbp-classic downscale``: MATLAB bicubic down-scaling, the degradation of the evaluation protocol."""
import click

from mgbp_classic._validate import check_scale

from ._common import (ensure_directory, image_paths_argument, library_errors, output_option, plan_outputs,
                      progress, read_image_or_fail)


def _scale_text(scale):
    return f"{scale:g}"


def output_name(path, scale):
    """``<stem>_down<S>.png``."""
    return f"{path.stem}_down{_scale_text(scale)}.png"


def _check_scale(ctx, param, value):
    """``--scale S``: a number > 1 (:func:`mgbp_classic._validate.check_scale`)."""
    try:
        number = float(value)
    except ValueError:
        number = value                                # refused below, as received
    with library_errors():
        return check_scale(number)


@click.command("downscale")
@click.option("--scale", metavar="S", required=True, callback=_check_scale,
              help="Down-scaling factor S > 1 (the output is S times smaller).")
@click.option("--mod-crop/--no-mod-crop", default=True, show_default=True,
              help="For an integer S, first crop the bottom/right so both sides are multiples of S "
                   "(as the evaluation protocol does), making the output exactly S times smaller.")
@output_option("Output file (one image) or directory (several images). "
               "Default: <stem>_down<S>.png beside each input.")
@image_paths_argument()
def command(scale, mod_crop, output, images):
    """Downscale IMAGES by SCALE with MATLAB's bicubic imresize (anti-aliased, symmetric padding).

    This is the degradation of the standard evaluation protocol: up-scaling the result by the same
    factor and comparing with the (mod-cropped) original measures a super-resolution method. The
    result is written with the input's bit depth (8 or 16).
    """
    from mgbp_classic.downscale import downscale
    from mgbp_classic.io import write_image

    images = list(images)
    plans = plan_outputs(images, output, lambda p: output_name(p, scale))
    ensure_directory(output, len(images))
    written = []
    with progress(list(zip(images, plans)), f"downscaling /{_scale_text(scale)}") as items:
        for src, (target, _) in items:
            image, info = read_image_or_fail(src, return_info=True)
            with library_errors(where=src.name):
                small = downscale(image, scale, mod_crop=mod_crop)
            with library_errors():
                write_image(target, small, bit_depth=16 if info.bit_depth == 16 else 8)
            written.append((target, small.shape))
    for target, shape in written:
        click.echo(f"wrote {target} ({shape[1]}x{shape[0]})")
