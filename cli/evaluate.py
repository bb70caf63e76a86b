"""``mgbp-classic evaluate``: PSNR/SSIM of a method on a folder of HR images, under the standard protocol."""
import csv
import io
import json
from pathlib import Path

import click
import numpy as np

from mgbp_classic.pipeline import upscale as _up
from mgbp_classic._parallel import use_threads
from mgbp_classic._validate import check_output_path
from mgbp_classic.atomic import atomic_write

from ._cluster import cluster_options, evaluate_rows, open_cluster, wanted
from ._common import library_errors, one_line, progress, read_image_or_fail, same_file, threads_option
from .upscale import iterations_option, method_kwargs, method_option, mu_option, net_options, resolve_method

#: File name endings read from ``--dataset``.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def dataset_images(folder):
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


@click.command("evaluate")
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Folder of high-resolution test images (e.g. ../shared/data/test/Set5).")
@click.option("--scale", type=click.IntRange(min=2), default=None,
              help="Scale factor s (a power of two except for bicubic). Default: 2**levels.")
@method_option()
@click.option("--levels", type=click.IntRange(min=1), default=None,
              help="Number of 2x levels (must equal log2 of --scale when both are given).")
@mu_option()
@iterations_option()
@net_options()
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the per-image scores and the mean as CSV.")
@threads_option()
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the settings, per-image scores and the mean as JSON.")
@cluster_options
def command(dataset, scale, method, levels, mu, iterations, model, tile, csv_path, threads, json_path, scheduler,
            workers):
    """PSNR/SSIM of METHOD on every image of DATASET under the standard protocol.

    HR is mod-cropped to a multiple of s, LR = MATLAB bicubic imresize(HR, 1/s) rounded to 8 bit,
    SR = method(LR) rounded to 8 bit; PSNR and SSIM on the luma channel (BT.601) with s pixels cropped
    from every border. Prints a per-image table, the mean and the run time of the method.
    """
    click.get_current_context().with_resource(use_threads(threads))   # restored when the command ends
    method = resolve_method(method)
    options = method_kwargs(method, model, tile, iterations)
    if scale is None and levels is None:
        raise click.UsageError("Missing option '--scale' (or '--levels').")
    if scale is None:
        scale = 2 ** levels
    with library_errors():
        power_levels = _up.evaluation_levels(scale, method=method, levels=levels)
    files = dataset_images(dataset)
    if not files:
        raise click.BadParameter(f"must contain images ({', '.join(IMAGE_SUFFIXES)}), found none in "
                                 f"'{dataset}'", param_hint="'--dataset'")
    with library_errors():                              # before the run, not after it
        for path, name in ((csv_path, "csv_path"), (json_path, "json_path")):
            if path is not None:
                check_output_path(path, name)
    if csv_path is not None and json_path is not None and same_file(csv_path, json_path):
        raise click.BadParameter("must differ from --csv", param_hint="'--json'")

    rows = []
    if wanted(scheduler, workers):
        with open_cluster(scheduler, workers) as client, library_errors():
            rows = evaluate_rows(client, files, label=f"{method} x{scale} on {dataset.name}", scale=scale,
                                 method=method, levels=levels, mu=mu, iterations=iterations, options=options)
    with progress([] if rows else files, f"{method} x{scale} on {dataset.name}") as items:
        for path in items:
            hr = read_image_or_fail(path)
            with library_errors(where=path.name):
                score = _up.evaluate_image(hr, scale=scale, method=method, levels=levels, mu=mu,
                                           iterations=iterations, **options)
            rows.append({"image": path.name, **score})

    mean = {key: float(np.mean([r[key] for r in rows])) for key in ("psnr", "ssim", "seconds")}
    used_iterations = iterations if iterations is not None else _up.get_method(method).default_iterations
    click.echo(f"{method} x{scale} on {dataset} ({len(rows)} images; mu={mu}, "
               f"iterations={used_iterations if used_iterations is not None else '-'})")
    click.echo(format_table(rows, mean))
    click.echo(f"mean PSNR {mean['psnr']:.2f} dB, SSIM {mean['ssim']:.4f}, "
               f"total time {sum(r['seconds'] for r in rows):.2f} s")
    settings = {"dataset": str(dataset), "scale": scale, "method": method,
                "levels": power_levels,
                "mu": mu, "iterations": used_iterations}
    if csv_path is not None:
        _write_atomic(csv_path, _csv_text(rows, mean))
        click.echo(f"wrote {csv_path}")
    if json_path is not None:
        doc = {**settings, "images": [{k: (list(v) if k == "shape" else v) for k, v in r.items()} for r in rows],
               "mean": mean}
        _write_atomic(json_path, json.dumps(doc, indent=2) + "\n")
        click.echo(f"wrote {json_path}")


def format_table(rows, mean):
    """A Markdown table: image, PSNR, SSIM, seconds; the mean in the last row."""
    width = max(len("image"), len("mean"), *(len(r["image"]) for r in rows))
    lines = [f"| {'image':<{width}} | PSNR (dB) |   SSIM | time (s) |",
             f"|{'-' * (width + 2)}|----------:|-------:|---------:|"]
    for r in [*rows, {"image": "mean", **mean}]:
        lines.append(f"| {r['image']:<{width}} | {r['psnr']:9.2f} | {r['ssim']:.4f} | {r['seconds']:8.3f} |")
    return "\n".join(lines)


def _csv_text(rows, mean):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "psnr", "ssim", "seconds"])
    for r in [*rows, {"image": "mean", **mean}]:
        writer.writerow([r["image"], f"{r['psnr']:.6f}", f"{r['ssim']:.6f}", f"{r['seconds']:.6f}"])
    return buffer.getvalue()


def _write_atomic(path, text):
    """Write ``text`` to ``path`` atomically (:func:`mgbp_classic.atomic.atomic_write`)."""
    path = Path(path)
    try:
        with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write '{path}': {exc.strerror or one_line(exc)}") from None
