"""``mgbp-classic downscale``: MATLAB bicubic down-scaling, the degradation of the evaluation protocol."""
import click

from mgbp_classic._validate import check_scale
from mgbp_classic.pipeline.batch import plan_files
from mgbp_classic.pipeline.downscale import Downscale

from ._common import existing_options, existing_policy, library_errors, output_option, run_jobs


def _scale(ctx, param, value):
    """``--scale S``: a number > 1 (:func:`mgbp_classic._validate.check_scale`)."""
    try:
        number = float(value)
    except ValueError:
        number = value                                # refused below, as received
    with library_errors():
        return check_scale(number)


@click.command("downscale")
@click.option("--scale", metavar="S", required=True, callback=_scale,
              help="Down-scaling factor S > 1 (the output is S times smaller).")
@click.option("--mod-crop/--no-mod-crop", default=True, show_default=True,
              help="For an integer S, first crop the bottom/right so both sides are multiples of S "
                   "(as the evaluation protocol does), making the output exactly S times smaller.")
@output_option("Output file (one image) or directory (several images, a folder, a pattern; -r mirrors "
               "the tree under it). Default: <stem>_down<S>.png beside each input.")
@click.option("-r", "--recursive", is_flag=True,
              help="Descend into the subdirectories of directory inputs, mirroring the tree under -o.")
@existing_options
@click.argument("images", nargs=-1, required=True)
def command(scale, mod_crop, output, recursive, skip_existing, overwrite, images):
    """Downscale IMAGES (files, directories, glob patterns) by SCALE with MATLAB's bicubic imresize
    (anti-aliased, symmetric padding).

    This is the degradation of the standard evaluation protocol: up-scaling the result by the same
    factor and comparing with the (mod-cropped) original measures a super-resolution method. The
    result is written with the input's bit depth (8 or 16). Outputs follow the rules of upscale:
    written atomically, never over an input, an existing output is an error unless --skip-existing
    or --overwrite, and with several images a file that fails is reported and the others are written.
    """
    work = Downscale(scale, mod_crop=mod_crop)
    with library_errors():
        jobs, single = plan_files(images, output, name=work.name, recursive=recursive,
                                  existing=existing_policy(skip_existing, overwrite))
    run_jobs(jobs, work, single=single, label=f"downscaling /{scale:g}")
