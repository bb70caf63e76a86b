"""One network runner for every path: the same pixels from upscale(), the streamed file, upscale-zarr
and a Dask batch, on grey, RGB and RGBA images (alpha premultiplied everywhere)."""
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from mgbp_classic.pipeline.batch import Settings, collect_inputs, output_name, plan_batch, upscale_file
from mgbp_classic.imaging.io import read_image, write_image
from mgbp_classic.pipeline.runner import NetRunner
from mgbp_classic.pipeline.upscale import get_method, upscale
from mgbp_classic_cli.main import cli

#: The tile grid every path shares: 20 x 24 pixels in tiles of 12 (rows 12 + 8, columns 12 + 12, no
#: piece shorter than the margin, which the Zarr path would merge into its neighbour), 6 pixels of context.
TILE, MARGIN = 12, 6


def _image(kind):
    """A smooth picture on the 8-bit grid; RGBA with an alpha ramp, a transparent corner and, under
    it, colour that must not bleed into the visible pixels."""
    y, x = np.mgrid[0:20, 0:24] / 7.0
    rgb = np.stack([0.5 + 0.4 * np.sin(x + c + np.cos(y * (1 + c / 3))) for c in range(3)], axis=2)
    if kind == "grey":
        image = rgb.mean(axis=2)
    elif kind == "rgb":
        image = rgb
    else:
        alpha = np.clip(np.mgrid[0:20, 0:24][1] / 12.0 - 0.3, 0.0, 1.0)
        alpha[:8, :8] = 0.0
        colour = rgb.copy()
        colour[alpha == 0] = (1.0, 0.0, 1.0)                      # arbitrary colour of transparent pixels
        image = np.dstack([colour, alpha])
    return np.round(image * 255) / 255


@pytest.fixture(scope="module", params=["grey", "rgb", "rgba"])
def picture(request, tmp_path_factory):
    """``(kind, image, path of its PNG, the whole-image upscale() result)``."""
    folder = tmp_path_factory.mktemp(request.param)
    image = _image(request.param)
    path = folder / f"{request.param}.png"
    write_image(path, image)
    assert np.array_equal(read_image(path), image)
    local = upscale(image, levels=1, method="net", tile=TILE, margin=MARGIN)
    return request.param, image, path, local


def test_the_streamed_file_equals_upscale(picture, tmp_path):
    kind, image, path, local = picture
    assert get_method("net").tiles                                 # so upscale_file streams it
    written = upscale_file(path, tmp_path / "streamed.png", levels=1, method="net", tile=TILE, margin=MARGIN)
    assert np.abs(read_image(written) - local).max() <= 1 / 255


def test_premultiplied_alpha_is_what_makes_the_edges(tmp_path):
    # the check above has teeth: the colour under alpha = 0 changes the result where it is not premultiplied
    image = _image("rgba")
    good = upscale(image, levels=1, method="net", tile=TILE, margin=MARGIN)
    runner = NetRunner(mu=2, margin=MARGIN)
    naive = runner.levels(image[..., :3], levels=1, tile=TILE)[-1]                  # colour as it is
    visible = good[..., 3] > 0.25                                 # a quarter opaque or more: a fringe shows
    assert np.abs(good[..., :3] - naive)[visible].max() > 32 / 255


def test_a_runner_keeps_one_engine_per_thread():
    runner = NetRunner(mu=2)
    mine = runner.engine()
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(runner.engine()))
    thread.start()
    thread.join()
    assert runner.engine() is mine and theirs[0] is not mine
    other = NetRunner(mu=2)
    assert other.net is not runner.net                             # nobody else holds a runner's network


def test_zarr_and_a_dask_batch_equal_upscale(picture, tmp_path):
    dd = pytest.importorskip("mgbp_classic.distributed",
                             reason='Dask is not installed (the optional extra: pip install -e ".[dask]")')
    zarr = pytest.importorskip("zarr", reason='zarr is not installed (the optional extra: pip install -e ".[dask]")')
    kind, image, path, local = picture
    out = tmp_path / "out.zarr"
    result = CliRunner().invoke(cli, ["upscale-zarr", "--levels", "1", "--tile", str(TILE), "--margin", str(MARGIN),
                                      str(path), str(out)])
    assert result.exit_code == 0, result.output
    from_zarr = zarr.open_array(str(out), mode="r")[...] / 255.0
    assert from_zarr.shape == local.shape
    assert np.abs(from_zarr - local).max() <= 1 / 255

    jobs = plan_batch(collect_inputs([path]), tmp_path / "batch", into_directory=True,
                      name=lambda p: output_name(p, label="x2"))
    settings = Settings(levels=1, method="net", tile=TILE, options={"margin": MARGIN})
    with dd.connect(workers=1, processes=False) as client:
        summary = dd.run_batch(client, jobs, settings)
    assert summary.line() == "1 written, 0 skipped, 0 failed"
    from_batch = read_image(jobs[0].target)                        # grey stays grey, RGBA stays RGBA
    assert from_batch.shape == local.shape and np.abs(from_batch - local).max() <= 1 / 255


def test_upscale_zarr_levels_agree_with_every_other_entry_point(tmp_path):
    dd = pytest.importorskip("mgbp_classic.distributed",
                             reason='Dask is not installed (the optional extra: pip install -e ".[dask]")')
    zarr = pytest.importorskip("zarr", reason='zarr is not installed (the optional extra: pip install -e ".[dask]")')
    source = (np.random.default_rng(0).random((10, 10, 3)) * 255).astype(np.uint8)
    with pytest.raises(ValueError, match=r"^levels must be an integer >= 1, got True$"):
        dd.upscale_zarr(source, tmp_path / "a.zarr", levels=True, tile=8, margin=2)
    out = dd.upscale_zarr(source, tmp_path / "b.zarr", levels=np.int64(1), tile=8, margin=2)
    assert zarr.open_array(out, mode="r").shape == (20, 20, 3)
