"""``mgbp-classic downscale``: MATLAB bicubic down-scaling, the degradation of the evaluation protocol."""
import click

from ._common import (ensure_directory, image_paths_argument, library_errors, output_option, plan_outputs,
                      progress, read_image_or_fail)


def _scale_text(scale):
    return f"{scale:g}"


def output_name(path, scale):
    """``<stem>_down<S>.png``."""
    return f"{path.stem}_down{_scale_text(scale)}.png"


class ScaleType(click.ParamType):
    """A down-scaling factor S > 1 (integer or decimal)."""

    name = "scale"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            scale = float(value)
        else:
            try:
                scale = float(str(value).strip())
            except ValueError:
                self.fail(f"scale must be a number > 1, got {value!r}", param, ctx)
        if not (scale > 1 and scale < float("inf")):
            self.fail(f"scale must be a number > 1, got {value!r}", param, ctx)
        return scale


@click.command("downscale")
@click.option("--scale", type=ScaleType(), required=True,
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
    from mgbp_classic.io import write_image
    from mgbp_classic.metrics import mod_crop as crop
    from mgbp_classic.resize import imresize

    images = list(images)
    plans = plan_outputs(images, output, lambda p: output_name(p, scale))
    ensure_directory(output, len(images))
    integer = float(scale).is_integer()
    written = []
    with progress(list(zip(images, plans)), f"downscaling /{_scale_text(scale)}") as items:
        for src, (target, _) in items:
            image, info = read_image_or_fail(src, return_info=True)
            with library_errors({"scale": "'--scale'"}, where=src.name):
                if min(image.shape[:2]) < scale:
                    raise ValueError(f"scale must be at most {min(image.shape[:2])} for a "
                                     f"{image.shape[0]}×{image.shape[1]} image, got {_scale_text(scale)}")
                if mod_crop and integer:
                    image = crop(image, int(scale))
                small = imresize(image, 1.0 / scale, kernel="cubic")
            with library_errors():
                write_image(target, small.clip(0.0, 1.0), bit_depth=16 if info.bit_depth == 16 else 8)
            written.append((target, small.shape))
    for target, shape in written:
        click.echo(f"wrote {target} ({shape[1]}x{shape[0]})")
