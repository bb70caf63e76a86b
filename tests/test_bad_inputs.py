"""Bad input and faults, as a hostile but realistic user brings them, through the command line.

Every case is built in the test. Each asserts the exit status, the one-line message (it names the
file or option and says what is allowed), that the inputs are untouched and that no partial or
temporary file is left behind.
"""
import hashlib
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import mgbp_classic
from mgbp_classic.inference import default_model_path
from mgbp_classic.imaging.io import read_image
from mgbp_classic_cli.main import cli

SAMPLE = Path(mgbp_classic.sample_image_path())


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result, code, *fragments):
    """The run ended through click with exit status ``code`` and exactly one ``Error:`` line, which
    holds every fragment; a Python exception other than click's exit is a failure (it would have
    been a traceback)."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def snapshot(folder):
    """Every file under ``folder`` (hidden ones too) with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture
def folder(tmp_path):
    """A working folder holding a copy of the sample image as ``gulls.png``."""
    shutil.copy(SAMPLE, tmp_path / "gulls.png")
    return tmp_path


def small_model(path, edit=None):
    """A copy of the shipped model, optionally changed by ``edit(net, meta)`` before saving."""
    from mgbp_classic.net import MGBPNet
    net, meta = MGBPNet.load(default_model_path())
    if edit is not None:
        edit(net, meta)
    net.save(path, meta=meta)
    return path


# ----------------------------------------------------------------------------------------------
# images that are not what their names say
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, what", [
    (b"", "the file is empty (0 bytes)"),
    (b"this is a text file, not a picture\n", "it is a text file, not an image file (supported: PNG, JPEG"),
    (b"<html><body>Not Found</body></html>", "it is an HTML/XML text file, not an image file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG file with a corrupt header"),
])
@pytest.mark.parametrize("command", [["upscale", "--method", "bicubic"], ["downscale", "--scale", "2"]])
def test_not_an_image(folder, content, what, command):
    bad = folder / "photo.png"
    bad.write_bytes(content)
    before = snapshot(folder)
    result = run(*command, bad)
    line = error_line(result, 1, "photo.png", what)
    assert not line.endswith(("...", "-")) and "plugin" not in line      # never imageio's cut hint
    assert snapshot(folder) == before


def test_truncated_image(folder):
    bad = folder / "cut.jpg"
    Image.open(SAMPLE).convert("RGB").save(bad, quality=90)
    blob = bad.read_bytes()
    for cut, what in [(300, "its header is truncated or corrupt"), (len(blob) // 2, "JPEG data is truncated or corrupt")]:
        bad.write_bytes(blob[:cut])
        before = snapshot(folder)
        error_line(run("upscale", "--method", "bicubic", bad), 1, "cut.jpg", what)
        assert snapshot(folder) == before


def test_cmyk_jpeg_upscaled_as_rgb_not_transparent(folder):
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))[:16, :16]
    cmyk = np.concatenate([255 - rgb, np.zeros((16, 16, 1), np.uint8)], axis=2)
    path = folder / "print.jpg"
    Image.fromarray(cmyk, "CMYK").save(path, quality=100)        # Adobe CMYK, as Photoshop writes
    result = run("upscale", "--method", "bicubic", "--levels", "1", path)
    assert result.exit_code == 0, result.output
    out = read_image(folder / "print_x2.jpg")                   # the input's format (JPEG) by default
    assert out.shape == (32, 32, 3)                              # RGB: no alpha channel at all
    np.testing.assert_allclose(out[::2, ::2].mean(axis=(0, 1)), (rgb / 255).mean(axis=(0, 1)), atol=0.03)


def test_multi_frame_gif_warns_on_one_line(folder):
    frames = [Image.new("RGB", (8, 6), (v, v, v)) for v in (40, 160)]
    path = folder / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    result = run("upscale", "--method", "bicubic", "--levels", "1", path)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {str(path)!r} holds 2 frames (GIF); only the first is read"]
    np.testing.assert_allclose(read_image(folder / "anim_x2.png"), 40 / 255, atol=1 / 255)


def test_16bit_interlaced_png_stays_16_bit(folder):
    data = np.random.default_rng(1).integers(0, 65536, size=(6, 7, 3), dtype=np.uint16)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes()
                   for x0, y0, dx, dy in passes for row in data[y0::dy, x0::dx] if row.size)

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    path = folder / "deep.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 6, 16, 2, 0, 0, 1))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    result = run("upscale", "--method", "bicubic", "--levels", "1", path)
    assert result.exit_code == 0, result.output
    out, info = read_image(folder / "deep_x2.png", return_info=True)
    assert info.bit_depth == 16 and out.shape == (12, 14, 3)


def test_int32_tiff_refused_not_darkened(folder):
    path = folder / "scan.tif"
    Image.fromarray((np.arange(48, dtype=np.int32).reshape(6, 8) * 5)).save(path)
    before = snapshot(folder)
    error_line(run("upscale", "--method", "bicubic", path), 1, "scan.tif",
               "32-bit signed integer samples (their range is unknown")
    assert snapshot(folder) == before


# ----------------------------------------------------------------------------------------------
# model files
# ----------------------------------------------------------------------------------------------
def nan_weights(net, meta):
    net.store.params[5] = np.nan


@pytest.mark.parametrize("make, what", [
    (lambda p: Image.new("RGB", (5, 4)).save(p, format="PNG"),
     "not an mgbp-classic model file (an .npz archive): it is a PNG image (5×4)"),
    (lambda p: p.write_text("weights go here\n"), "not an mgbp-classic model file (an .npz archive): it is a text file"),
    (lambda p: p.write_bytes(b""), "the file is empty"),
    (lambda p: np.savez(p, _format=np.array([{"a": 1}], dtype=object), _layout="[]", _config="{}",
                        _params=np.zeros(0, np.float32)),
     "entry '_format' holds pickled Python objects, which are never loaded"),
    (lambda p: np.savez(p, weights=np.zeros(3)), "not an mgbp-classic model file (it lacks the entries"),
    (lambda p: small_model(p, nan_weights),
     "parameter 'analysis.conv.weight' holds 1 NaN or infinite value of 1296; the model is unusable"),
    (lambda p: p.write_bytes(Path(default_model_path()).read_bytes()[:5000]), "truncated or corrupt model file"),
])
@pytest.mark.parametrize("command", ["upscale", "info", "visualize"])
def test_bad_model_file(folder, make, what, command):
    model = folder / "model.npz"
    with open(model, "wb"):
        pass
    make(model)
    if not model.exists() and Path(str(model) + ".npz").exists():      # np.savez adds .npz to names without
        Path(str(model) + ".npz").rename(model)
    before = snapshot(folder)
    args = {"upscale": ["upscale", "--method", "net", "--model", model, folder / "gulls.png"],
            "info": ["info", model],
            "visualize": ["visualize", "--model", model, "--pixel", "3,3", "-o", folder / "f.png",
                          folder / "gulls.png"]}[command]
    line = error_line(run(*args), 1, "model.npz", what)
    assert "allow_pickle" not in line and "gulls.png" not in line      # never blamed on the image
    assert snapshot(folder) == before


def model_with_config(path, **network):
    """The shipped model's file with keys of its network config replaced."""
    import json
    arrays = dict(np.load(default_model_path(), allow_pickle=False))
    config = json.loads(str(arrays["_config"]))
    config["network"].update(network)
    arrays["_config"] = np.array(json.dumps(config))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


@pytest.mark.parametrize("network, words", [
    ({"features": 10 ** 6}, "network config key 'features' must be an integer from 1 to 256, got 1000000"),
    ({"growth": "sixteen"}, "network config key 'growth' must be an integer from 1 to 64, got 'sixteen'"),
    ({"channels": True}, "network config key 'channels' must be an integer from 1 to 4, got True"),
    ({"colour": 3}, "unknown network config key 'colour'"),
])
@pytest.mark.parametrize("command", ["upscale", "info"])
def test_bad_model_config_named_with_its_key_before_building(folder, network, words, command, monkeypatch):
    from mgbp_classic import net as net_module
    model = model_with_config(folder / "model.npz", **network)

    def no_building(*args, **kwargs):                   # the refusal comes before any allocation
        raise AssertionError("the network was built")
    monkeypatch.setattr(net_module.MGBPNet, "__init__", no_building)
    before = snapshot(folder)
    args = (["upscale", "--method", "net", "--model", model, folder / "gulls.png"] if command == "upscale"
            else ["info", model])
    line = error_line(run(*args), 1, "model.npz", words)
    assert "gulls.png" not in line
    assert snapshot(folder) == before


# ----------------------------------------------------------------------------------------------
# options a method does not take: one place decides, before any image is read
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--method", "bicubic", "--tile", "8"], ["'--tile'", "tile is not an option of method 'bicubic' (it takes none; "
                                                          "tile is an option of: net), got tile=8"]),
    (["--method", "ibp", "--model", "m.npz"], ["'--model'", "model is not an option of method 'ibp'",
                                               "model is an option of: net"]),
    (["--method", "mgbp", "--tile", "32"], ["'--tile'", "method 'mgbp'"]),
    (["--method", "bicubic", "--iterations", "3"], ["'--iterations'", "iterations is not an option of method "
                                                    "'bicubic' (it does not iterate; methods that do: ibp, mgbp), got 3"]),
])
@pytest.mark.parametrize("command", ["upscale", "evaluate"])
def test_option_the_method_does_not_take(folder, args, words, command, monkeypatch):
    import mgbp_classic.imaging.reader as reader

    def no_reading(*a, **k):
        raise AssertionError("an image was read")
    monkeypatch.setattr(reader, "read_image", no_reading)
    before = snapshot(folder)
    target = ([folder / "gulls.png"] if command == "upscale" else ["--dataset", folder, "--scale", "2"])
    line = error_line(run(command, *args, *target), 2, *words)
    assert "TypeError" not in line and "must be None" not in line
    assert snapshot(folder) == before


@pytest.mark.parametrize("side, words", [
    (8000, ["image must have at most 16777216 pixels to be upscaled, got a 8000×8000 image (huge.png)"]),
    (3000, ["'--levels': must be between 1 and 1 for a 3000×3000 image, got 2"]),
])
def test_too_large_for_the_levels_refused_from_the_header(folder, side, words):
    # a 16-bit RGB PNG header with almost no data: decoding 8000 x 8000 would cost 384 MB (and fail on
    # the missing data); the refusal must come from the header
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    path = folder / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    before = snapshot(folder)
    error_line(run("upscale", "--method", "bicubic", "--levels", "2", path), 2, *words)
    assert snapshot(folder) == before


# ----------------------------------------------------------------------------------------------
# output paths checked before the work; printing any path
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def dataset(tmp_path):
    """A one-image test set (16 x 16 RGB)."""
    folder = tmp_path / "set"
    folder.mkdir()
    Image.open(SAMPLE).convert("RGB").crop((0, 0, 16, 16)).save(folder / "one.png")
    return folder


def sys_is_unwritable():
    import tempfile
    try:
        os.close(tempfile.mkstemp(dir="/sys")[0])
    except OSError:
        return True
    return False


@pytest.mark.parametrize("where, code, words", [
    (lambda tmp: tmp / "missing" / "scores.csv", 2, ["'--csv'", "directory", "missing", "does not exist"]),
    (lambda tmp: tmp / ("s" * 300 + ".csv"), 2, ["'--csv'", "file name is 304 bytes long, more than the 255"]),
    (lambda tmp: tmp, 2, ["'--csv'", "is a directory"]),
    (lambda tmp: tmp / "one.png" / "x.csv", 2, ["'--csv'", "does not exist"]),
    pytest.param(lambda tmp: Path("/sys/scores.csv"), 2, ["'--csv'", "cannot write into directory '/sys'",
                                                            "permission denied"],
                 marks=pytest.mark.skipif(not sys_is_unwritable(), reason="/sys is writable here")),
])
def test_evaluate_csv_refused_before_the_run(dataset, where, code, words):
    target = where(dataset)
    before = snapshot(dataset)
    result = run("evaluate", "--dataset", dataset, "--scale", "2", "--method", "bicubic", "--csv", target)
    error_line(result, code, *words)
    assert "mean PSNR" not in result.output                     # refused before the run
    assert snapshot(dataset) == before


def test_evaluate_csv_and_json_must_differ(dataset):
    result = run("evaluate", "--dataset", dataset, "--scale", "2", "--method", "bicubic",
                 "--csv", dataset / "s.txt", "--json", dataset / "s.txt")
    error_line(result, 2, "'--json'", "must differ from --csv")


@pytest.mark.parametrize("name, code, words", [
    ("o" * 251 + ".png", 0, []),                             # 255 bytes: legal, so it must work
    ("o" * 300 + ".png", 2, ["'-o' / '--output'", "file name is 304 bytes long, more than the 255"]),
])
def test_long_output_names(folder, name, code, words):
    result = run("upscale", "--method", "bicubic", "--levels", "1", "-o", folder / name, folder / "gulls.png")
    if code:
        error_line(result, code, *words)
        assert sorted(p.name for p in folder.iterdir()) == ["gulls.png"]
    else:
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in folder.iterdir()) == sorted(["gulls.png", name])      # no temporary left


@pytest.mark.skipif(not sys_is_unwritable(), reason="/sys is writable here")
def test_unwritable_output_refused_before_the_work(folder, monkeypatch):
    from mgbp_classic.pipeline import upscale as up

    def no_work(*a, **k):
        raise AssertionError("the image was upscaled")
    monkeypatch.setattr(up, "upscale", no_work)
    error_line(run("upscale", "--method", "bicubic", "-o", "/sys/out.png", folder / "gulls.png"), 2,
               "'-o' / '--output'", "cannot write into directory '/sys': permission denied")


def test_path_not_valid_in_the_terminal_encoding_is_printed(folder):
    name = os.fsdecode(b"gulls-\xff.png")                        # not UTF-8: a surrogate escape in Python
    shutil.copy(folder / "gulls.png", folder / name)
    result = run("downscale", "--scale", "2", folder / name)
    assert result.exit_code == 0, repr(result.exception)
    assert "wrote" in result.output and "gulls-\\udcff_down2.png" in result.output
    assert (folder / os.fsdecode(b"gulls-\xff_down2.png")).exists()


# ----------------------------------------------------------------------------------------------
# train: options refused before anything is built
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def train_data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    Image.open(SAMPLE).convert("RGB").save(folder / "a.png")
    return folder


@pytest.mark.parametrize("option, value, words", [
    ("--threads", "0", ["'--threads'", "must be between 1 and", "the cores this machine has", "got 0"]),
    ("--threads", "4096", ["'--threads'", "must be between 1 and", "got 4096"]),
    ("--steps", "-1", ["'--steps'", "-1"]),
    ("--batch", "0", ["'--batch'", "0"]),
    ("--lr", "inf", ["'--lr'", "must be a finite number > 0, got inf"]),
    ("--lr", "nan", ["'--lr'", "must be a finite number > 0, got nan"]),
    ("--lr", "-1e-3", ["'--lr'", "must be a finite number > 0, got -0.001"]),
    ("--lr-decay", "0", ["'--lr-decay'", "must be a finite number > 0, got 0.0"]),
    ("--seed", "-3", ["'--seed'", "-3"]),
    ("--patch", "20", ["'--patch'", "multiple of 8", "got 20"]),
    ("--checkpoint-minutes", "inf", ["'--checkpoint-minutes'", "finite"]),
    ("--val-every", "0", ["'--val-every'", "0"]),
])
def test_train_bad_options(train_data, tmp_path, option, value, words):
    before = snapshot(tmp_path)
    result = run("train", "--data", train_data, "--out", tmp_path / "run.npz", "--steps", "1", option, value)
    error_line(result, 2, *words)
    assert snapshot(tmp_path) == before                         # nothing written, not even a log


@pytest.mark.parametrize("where, words", [
    (lambda tmp: tmp / "no" / "run.npz", ["'--out'", "does not exist"]),
    (lambda tmp: tmp / ("r" * 252 + ".npz"), ["'--out'", "256 bytes long, more than the 255 bytes"]),
    (lambda tmp: tmp / ("r" * 248 + ".npz"), ["'--log'", "258 bytes long"]),     # OUT.log.jsonl
])
def test_train_bad_out(train_data, tmp_path, where, words):
    before = snapshot(tmp_path)
    error_line(run("train", "--data", train_data, "--out", where(tmp_path), "--steps", "1"), 2, *words)
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------
# properties: whatever the option values, a result or one clear error, never a traceback
# ----------------------------------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

from mgbp_classic.pipeline import upscale as up  # noqa: E402

ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.floats(allow_nan=True),
                      st.text(max_size=6), st.just(Path("m.npz")))


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(method=st.sampled_from(sorted(up.available_methods())), iterations=ANY_VALUE,
       options=st.dictionaries(st.sampled_from(["tile", "model", "tol", "margin", "color", "g", "progress"]),
                               ANY_VALUE, max_size=3))
def test_property_method_options_are_checked_in_one_place(method, iterations, options):
    entry = up.get_method(method)
    try:
        checked = up.check_method_options(method, iterations=iterations, **options)
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message and exc.param in {"iterations", *options}, message
        return
    assert set(checked) <= set(entry.options) | {"iterations"}
    assert ("iterations" in checked) == (entry.default_iterations is not None)


def option_text(values):
    return st.one_of(st.sampled_from(values), st.text(alphabet="0123456789-.abinf", min_size=1, max_size=4))


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(args=st.fixed_dictionaries({}, optional={           # values that keep any real work tiny
    "--levels": st.sampled_from(["1", "2", "0", "-1", "30", "x", "1.5", ""]),
    "--mu": st.sampled_from(["1", "2", "0", "-3", "two"]),
    "--method": st.sampled_from(["bicubic", "ibp", "mgbp", "net", "nope"]),
    "--iterations": st.sampled_from(["0", "2", "-1", "1e3", "x"]),
    "--tile": option_text(["8", "0", "-4"]),
    "--model": st.sampled_from(["missing.npz", "tiny.png"]),
}))
def test_property_upscale_options_never_a_traceback(tmp_path_factory, args):
    folder = tmp_path_factory.mktemp("props")
    image = folder / "tiny.png"
    Image.fromarray(np.full((5, 6, 3), 90, np.uint8)).save(image)
    argv = ["upscale", *[x for key, value in args.items() for x in (key, folder / value if key == "--model"
                                                                      else value)], image]
    result = run(*argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1, result.output
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []     # no temporary left


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(args=st.fixed_dictionaries({}, optional={
    "--levels": st.sampled_from(["1", "0", "-2", "x"]), "--mu": st.sampled_from(["1", "0", "x"]),
    "--patch": st.sampled_from(["16", "10", "0", "abc"]), "--batch": st.sampled_from(["1", "0", "-1"]), "--lr": option_text(["1e-3", "inf", "nan", "-1", "0"]),
    "--lr-decay": option_text(["500", "0"]), "--seed": option_text(["0", "-1"]),
    "--threads": option_text(["1", "0", "99"]), "--val-every": option_text(["1", "0"]),
    "--checkpoint-minutes": option_text(["1", "-1", "inf"]),
}))
def test_property_train_options_never_a_traceback(tmp_path_factory, args):
    folder = tmp_path_factory.mktemp("train-props")
    Image.open(SAMPLE).convert("RGB").save(folder / "a.png")
    argv = ["train", "--data", folder / "a.png", "--out", folder / "run.npz", "--steps", "0",
            *[x for item in args.items() for x in item]]
    result = run(*argv)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        assert len([line for line in result.output.splitlines() if line.startswith("Error:")]) == 1, result.output
