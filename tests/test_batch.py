"""Folders, globs, existing outputs, any scale, alpha premultiplication, memory plans and dry runs."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms

from mgbp_classic.pipeline.batch import Settings, collect_inputs, plan_batch, run_batch, upscale_file
from mgbp_classic.exceptions import ImageError
from mgbp_classic.imaging.io import read_image
from mgbp_classic._parallel import machine_threads
from mgbp_classic._validate import check_threads, parse_memory
from mgbp_classic.pipeline.plan import CLASSIC_MAX_PIXELS, plan_upscale, target_size, tile_for_budget
from mgbp_classic.resize import imresize
from mgbp_classic.pipeline.runner import NetRunner
from mgbp_classic.pipeline.stream import upscale_bands, upscale_whole
from mgbp_classic.pipeline.upscale import get_method, upscale
from mgbp_classic_cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def noise(h, w, c, seed=0):
    return (np.random.default_rng(seed).random((h, w, c)) * 255).astype(np.uint8)


@pytest.fixture
def tree(tmp_path):
    """photos/ with a PNG, a JPEG in sub/, an RGBA WebP in sub/deeper/ and a broken PNG in sub/."""
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(noise(10, 14, 3, 1)).save(root / "a.png")
    Image.fromarray(noise(12, 9, 3, 2)).save(root / "sub" / "b.jpg", quality=90)
    Image.fromarray(noise(8, 11, 4, 3)).save(root / "sub" / "deeper" / "c.webp", lossless=True)
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image")
    return root


def test_recursive_folder_is_mirrored_and_a_broken_file_reported(tree, tmp_path):
    out = tmp_path / "out"
    result = run("upscale", "--method", "bicubic", "--levels", 1, "-r", tree, "-o", out)
    assert result.exit_code == 1, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a_x2.png", "sub/b_x2.jpg", "sub/deeper/c_x2.webp"]
    with Image.open(out / "sub" / "deeper" / "c_x2.webp") as im:
        assert im.size == (22, 16) and im.mode == "RGBA"
    assert "3 written, 0 skipped, 1 failed" in result.output
    assert "broken.png" in result.stderr and "Traceback" not in result.stderr + result.output
    assert sum(line.startswith("wrote ") for line in result.output.splitlines()) == 3
    assert sorted(p.name for p in tree.rglob("*") if p.is_file()) == ["a.png", "b.jpg", "broken.png", "c.webp",
                                                                      "notes.txt"]


def test_folder_without_recursive_takes_its_top_level_only(tree, tmp_path):
    out = tmp_path / "flat"
    result = run("upscale", "--method", "bicubic", "--levels", 1, tree, "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png"]


def test_globs_and_existing_outputs(tree, tmp_path):
    out = tmp_path / "globbed"
    pattern = str(tree / "**" / "*.jp*g")
    assert [s.path.name for s in collect_inputs([pattern], recursive=True)] == ["b.jpg"]
    first = run("upscale", "--method", "bicubic", "--levels", 1, str(tree / "*.png"), str(tree / "sub" / "*.jpg"),
                "-o", out)
    assert first.exit_code == 0, first.output
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run("upscale", "--method", "bicubic", "--levels", 1, str(tree / "*.png"), str(tree / "sub" / "*.jpg"),
                "-o", out)
    assert again.exit_code == 2 and "a_x2.png' exists (and 1 more)" in again.stderr
    assert "--skip-existing or --overwrite" in again.stderr
    skipped = run("upscale", "--method", "bicubic", "--levels", 1, "--skip-existing", str(tree / "*.png"),
                  str(tree / "sub" / "*.jpg"), "-o", out)
    assert skipped.exit_code == 0 and "0 written, 2 skipped, 0 failed" in skipped.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    replaced = run("upscale", "--method", "bicubic", "--levels", 1, "--overwrite", tree / "a.png", "-o",
                   out / "a_x2.png")
    assert replaced.exit_code == 0 and (out / "a_x2.png").stat().st_mtime_ns >= stamp["a_x2.png"]
    single = run("upscale", "--method", "bicubic", "--levels", 1, tree / "a.png", "-o", out / "a_x2.png")
    assert single.exit_code == 2 and "a_x2.png' exists" in single.stderr
    assert run("upscale", "--skip-existing", "--overwrite", tree / "a.png").exit_code == 2
    missing = run("upscale", tmp_path / "nope*.png")
    assert missing.exit_code == 2 and "matches no file" in missing.stderr


def test_scale_3_and_width_500_give_exact_sizes(tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(noise(67, 101, 3)).save(src)
    r3 = run("upscale", "--method", "bicubic", "--scale", 3, src)
    assert r3.exit_code == 0, r3.output
    with Image.open(tmp_path / "p_x3.png") as im:
        assert im.size == (303, 201)
    rw = run("upscale", "--method", "bicubic", "--width", 500, src, "-o", tmp_path / "w.jpg")
    assert rw.exit_code == 0, rw.output
    with Image.open(tmp_path / "w.jpg") as im:
        assert im.size == (500, 332)                                       # ceil(500 / 101 * 67)
    rh = run("upscale", "--method", "bicubic", "--width", 250, "--height", 90, src, "--format", "webp")
    assert rh.exit_code == 0, rh.output
    with Image.open(tmp_path / "p_250x90.webp") as im:
        assert im.size == (250, 90)
    bad = run("upscale", "--levels", 2, "--scale", 3, src)
    assert bad.exit_code == 2 and "exclude each other" in bad.stderr


def test_any_scale_is_power_of_two_then_matlab_resize():
    x = np.random.default_rng(4).random((13, 17, 3))
    assert target_size(x.shape, scale=3) == (2, (39, 51))
    assert target_size(x.shape, scale=1.5) == (1, (20, 26))
    assert target_size(x.shape, width=40) == (2, (31, 40))
    assert target_size(x.shape, height=100) == (3, (100, 131))
    out = upscale(x, scale=3, method="bicubic")
    ref = imresize(imresize(x, 4), output_shape=(39, 51))           # the 4x result resized before clipping
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-12)
    with pytest.raises(ValueError, match="scale must be a number > 1, got 0.5"):
        target_size(x.shape, scale=0.5)
    with pytest.raises(ValueError, match="must be larger than the 17x13 input"):
        target_size(x.shape, width=10)


def _edge_image(n=24):
    """An opaque red disc (anti-aliased edge) on a transparent *black* background."""
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    r = np.hypot(yy - n / 2, xx - n / 2)
    alpha = np.clip(n / 3 - r + 0.5, 0, 1)
    rgb = np.zeros((n, n, 3))
    rgb[alpha > 0] = (1.0, 0.0, 0.0)                                    # colour only where visible
    return np.dstack([rgb, alpha])


@pytest.mark.parametrize("method", ["bicubic", "ibp", "mgbp"])
def test_rgba_edge_has_no_dark_fringe(method):
    image = _edge_image()
    out = upscale(image, levels=2, method=method)
    edge = (out[..., 3] > 0.1) & (out[..., 3] < 0.9)                    # the semi-transparent rim
    assert edge.sum() > 50
    red = out[..., 0][edge]
    # not premultiplied: colour and alpha upscaled separately; the black of the background bleeds in
    separate = upscale(image[..., :3], levels=2, method=method)[..., 0][edge]
    assert red.mean() > 0.97 and red.min() > 0.9, (red.mean(), red.min())
    assert separate.mean() < 0.85                                       # the fringe the premultiplication removes
    assert np.abs(out[..., 1:3][edge]).max() < 0.1                      # and no colour cast either


def test_streamed_bands_equal_the_whole_image_path():
    """Tiles + bands + band-wise exact resize + alpha == the whole-image pipeline (bicubic: exact)."""
    rng = np.random.default_rng(5)
    image = np.dstack([rng.random((19, 23, 3)), np.clip(rng.random((19, 23)) * 2 - 0.5, 0, 1)])
    bicubic = get_method("bicubic").function
    for levels, shape in [(1, None), (2, (57, 69)), (2, (40, 90))]:
        whole = upscale_whole(image, bicubic, levels=levels, output_shape=shape, mu=2)
        bands = list(upscale_bands(image, lambda p, n: imresize(p, 2 ** n), levels=levels, output_shape=shape,
                                   tile=6, margin=3))
        assert len(bands) > 2
        np.testing.assert_allclose(np.concatenate(bands), whole, atol=2e-5)


def test_streamed_network_equals_the_untiled_network(tmp_path):
    from mgbp_classic.inference import load_model, upscale_rgb
    image = read_image(_sample_crop(tmp_path, 14, 18))
    net, _ = load_model()
    whole = upscale_rgb(net, image, levels=1, mu=2, tile=None)[0]
    runner = NetRunner(mu=2)
    bands = np.concatenate(list(upscale_bands(image, runner.tile, levels=1, tile=9, margin=runner.margin)))
    assert np.abs(bands - whole).max() < 1 / 255


def _sample_crop(tmp_path, h, w):
    from importlib import resources
    src = resources.files("mgbp_classic").joinpath("assets", "sample_gulls.png")
    path = tmp_path / "crop.png"
    with Image.open(src) as im:
        im.convert("RGB").crop((20, 20, 20 + w, 20 + h)).save(path)
    return path


def test_upscale_file_streams_the_network_into_any_format(tmp_path):
    src = _sample_crop(tmp_path, 12, 16)
    out = upscale_file(src, tmp_path / "net.tif", scale=1.5, memory="1GiB", tile=7)
    with Image.open(out) as im:
        assert im.size == (24, 18)
    with pytest.raises(ValueError, match="net.tif' exists"):
        upscale_file(src, tmp_path / "net.tif", scale=1.5)
    with pytest.raises(ImageError, match="no such file"):
        upscale_file(tmp_path / "missing.png", levels=1)


def test_rotated_jpeg_through_the_command_line(tmp_path):
    stored = np.zeros((10, 16, 3), np.uint8)
    stored[:, :8] = (220, 30, 30)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    ex = Image.Exif()
    ex[0x0112] = 6
    ex[0x010F] = "Phone"
    src = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(src, quality=95, icc_profile=icc, exif=ex.tobytes())
    result = run("upscale", "--method", "bicubic", "--levels", 1, src)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "phone_x2.jpg") as im:
        assert im.size == (20, 32)                                           # upright: portrait
        assert im.info.get("icc_profile") == icc and im.getexif().get(0x0112) == 1
        assert np.asarray(im)[4, 10, 0] > 150 and np.asarray(im)[28, 10, 0] < 100   # red on top
    stripped = run("upscale", "--method", "bicubic", "--levels", 1, "--strip-metadata", src, "-o",
                   tmp_path / "bare.png")
    assert stripped.exit_code == 0, stripped.output
    with Image.open(tmp_path / "bare.png") as im:
        assert "icc_profile" not in im.info and not len(im.getexif())


def test_memory_budget_sets_the_tile_and_is_checked():
    assert parse_memory("2GiB") == 2 ** 31 and parse_memory("1.5 GB") == 1_500_000_000
    with pytest.raises(ValueError, match="memory must be a positive size"):
        parse_memory("lots")
    net, mgbp = get_method("net"), get_method("mgbp")         # what each method declares it costs
    per_pixel = dict(margin=16, bytes_per_tile_pixel=net.bytes_per_tile_pixel)
    small = tile_for_budget(parse_memory("1GiB"), width=2000, levels=2, **per_pixel)
    large = tile_for_budget(parse_memory("4GiB"), width=2000, levels=2, **per_pixel)
    assert 16 <= small < large
    plan = plan_upscale((1500, 2000, 3), method=net, levels=2, output_shape=(6000, 8000), memory=2 ** 30)
    assert plan.memory <= 2 ** 30 and plan.tiles == -(-1500 // plan.tile) * -(-2000 // plan.tile)
    big = plan_upscale((3000, 4000, 3), method=net, levels=2, output_shape=(12000, 16000), memory=2 ** 31)
    assert big.streamed and big.memory <= 2 ** 31
    with pytest.raises(ValueError, match="at most 2\\*\\*26 pixels .* method 'net' streams up to 2\\*\\*30"):
        plan_upscale((3000, 4000, 3), method=mgbp, levels=2, output_shape=(12000, 16000), streaming=["net"])
    assert CLASSIC_MAX_PIXELS == 2 ** 26
    with pytest.raises(ValueError, match="memory must be at least"):
        plan_upscale((3000, 4000, 3), method=net, levels=2, output_shape=(12000, 16000), memory=2 ** 27)
    with pytest.raises(ValueError, match="at most 2\\*\\*30 pixels"):
        plan_upscale((20000, 20000, 3), method=net, levels=1, output_shape=(40000, 40000))


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    src = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (90, 120, 150)).save(src, quality=50)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run("upscale", "--levels", 2, "--memory", "2GiB", "--dry-run", src, "-o", tmp_path / "big_x4.png")
    assert result.exit_code == 0, result.output
    assert "4000x3000 -> 16000x12000 (x4), net" in result.output and " tiles of " in result.output
    assert "of 2.00 GiB" in result.output and "nothing written" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    classic = run("upscale", "--levels", 2, "--method", "mgbp", "--dry-run", src)
    assert classic.exit_code == 1 and "at most 2**26 pixels" in classic.output


def test_threads_are_checked_against_the_machine(tmp_path):
    assert check_threads(1) == 1
    with pytest.raises(ValueError, match=f"between 1 and {machine_threads()}"):
        check_threads(machine_threads() + 1)
    src = tmp_path / "t.png"
    Image.fromarray(noise(6, 6, 3)).save(src)
    for command in (["upscale", "--method", "bicubic", src], ["evaluate", "--dataset", tmp_path, "--scale", 2],
                    ["visualize", "--pixel", "0,0", "-o", tmp_path / "f.png", src]):
        result = run(*command, "--threads", 0)
        assert result.exit_code == 2, (command, result.output, result.stderr)
        assert "'--threads'" in result.stderr and "Traceback" not in result.stderr


def test_each_file_is_reported_as_soon_as_it_exists(tree, tmp_path):
    sources = collect_inputs([tree], recursive=True)
    jobs = plan_batch(sources, tmp_path / "out", name=lambda p: p.stem + "_x2.png", into_directory=True)
    events = []

    def written(path, size, seconds):
        later = [j.target for j in jobs if j.target != path]
        events.append((path.name, path.exists(), [p.exists() for p in later]))

    summary = run_batch(jobs, Settings(levels=1, method="bicubic"), on_written=written,
                        on_failed=lambda path, reason: events.append((path.name, "failed", reason)))
    assert [e[0] for e in events] == ["a_x2.png", "b_x2.png", "broken.png", "c_x2.png"]  # in order
    assert [e[0] for e in events if e[1] is True] == ["a_x2.png", "b_x2.png", "c_x2.png"]
    assert events[0][2] == [False, False, False]               # the first is reported before the others exist
    assert "cannot read image" in events[2][2] and "broken.png" in events[2][2]
    assert summary.line() == "3 written, 0 skipped, 1 failed"
