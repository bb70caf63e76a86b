"""The deep-filter explorer's compute layer, server and static export (``mgbp_classic.explore``).

References: the library's rows of F (:meth:`DeepFilter.filters`, the windowed backward pass),
its bicubic filters, mass radius and residual; the server is driven over real sockets (http.client
and raw requests) for its security checks. The page itself is tested in a real browser in
``test_explore_browser.py``.
"""
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mgbp_classic.color import LUMA_WEIGHTS
from mgbp_classic.deepfilter import DeepFilter, bicubic_filter
from mgbp_classic.plotting import mass_radius
from mgbp_classic.explore import Explorer, ExploreError, export, make_server
from mgbp_classic.explore.export import grid_pixels
from mgbp_classic.imaging.io import write_image
from mgbp_classic.net import MGBPNet, NetConfig
from mgbp_classic_cli.main import cli

TINY = NetConfig(features=4, growth=2, bottleneck=4, seed=3)


def tiny_net():
    """A tiny float32 network with non-zero biases (a non-trivial residual)."""
    net = MGBPNet(TINY)
    net.store.params[...] += 0.05 * np.random.default_rng(0).standard_normal(net.store.size).astype(np.float32)
    return net


def smooth_image(h=12, w=14, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(yy / 2.5)[..., None] * np.cos(xx / 3.0)[..., None] * np.array([1.0, 0.7, 0.4])
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def image():
    return smooth_image()


@pytest.fixture()
def explorer(net, image):
    return Explorer(net, image, name="smooth.png", margin=4)


def window(arr, f):
    y0, y1, x0, x1 = f["window"]
    return np.asarray(arr)[..., y0:y1, x0:x1] if np.ndim(arr) > 2 else np.asarray(arr)[y0:y1, x0:x1]


# ----------------------------------------------------------------------------------------------
# compute layer
# ----------------------------------------------------------------------------------------------
def test_filter_is_the_librarys_row_of_F(explorer, net, image):
    levels, mu, (y, x) = 1, 2, (9, 17)
    f = explorer.filter(levels, mu, y, x)
    df = DeepFilter(net, image, levels=levels, mu=mu, margin=4)
    rows = df.filters([(y, x)])[0]                                   # (H, W, 3) windowed backward pass
    luma = rows.sum(axis=2)
    cy, cx = y // 2, x // 2
    assert f["center"] == [cy, cx] and f["pixel"] == [y, x] and f["cached"] is False
    y0, y1, x0, x1 = f["window"]
    assert (y0, x0) == (max(cy - f["radius"], 0), max(cx - f["radius"], 0))
    # the sent window holds the drawn values exactly (float32 round trip)
    np.testing.assert_array_equal(np.float32(f["filter"]), luma[y0:y1, x0:x1])
    np.testing.assert_array_equal(np.float32(f["channels"]), np.moveaxis(rows, -1, 0)[:, y0:y1, x0:x1])
    bic = bicubic_filter(image.shape[:2], [(y, x)], scale=2)[0]
    np.testing.assert_allclose(f["bicubic"], bic[y0:y1, x0:x1], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(f["difference"], (luma - bic)[y0:y1, x0:x1], rtol=1e-6, atol=1e-9)
    assert f["radius99"] == mass_radius(luma, (y, x), scale=2, mass=0.99)
    assert f["bicubic_radius99"] == mass_radius(bic, (y, x), scale=2, mass=0.99)
    assert f["sum"] == pytest.approx(float(luma.sum(dtype=np.float64)), rel=1e-6)
    np.testing.assert_allclose(f["residual"], df.residual[y, x], rtol=1e-6, atol=1e-9)
    # Theorem 1 at the pixel, as the library checks it
    assert f["check"]["error"] == pytest.approx(float(df.pixel_errors([(y, x)], rows[None])[0]), abs=1e-7)
    assert f["check"]["error"] < 1e-5
    assert f["check"]["net"] == pytest.approx(float(df.output[y, x] @ LUMA_WEIGHTS), rel=1e-6)
    # the window holds 99.9 % of the filter's absolute sum
    assert np.abs(f["filter"]).sum() >= 0.999 * np.abs(luma).sum() - 1e-6


def test_color_filter_is_the_3x3_grid(explorer, net, image):
    f = explorer.filter(1, 1, 4, 5, mode="color")
    rows = DeepFilter(net, image, levels=1, mu=1, margin=4).filters([(4, 5)], color=True)[0]   # (3, H, W, 3)
    np.testing.assert_array_equal(np.float32(f["channels"]), window(np.moveaxis(rows, -1, 1), f))
    assert len(f["check"]["error_rgb"]) == 3 and max(f["check"]["error_rgb"]) < 1e-5


def test_rows_are_cached_per_pixel(explorer):
    a = explorer.filter(1, 2, 3, 3)
    assert explorer.stats["rows_computed"] == 1
    b = explorer.filter(1, 2, 3, 3)
    assert b["cached"] is True and explorer.stats["rows_computed"] == 1
    assert {k: v for k, v in b.items() if k != "cached"} == {k: v for k, v in a.items() if k != "cached"}
    c = explorer.filter(1, 1, 3, 3)                                  # another µ: another row
    assert explorer.stats["rows_computed"] == 2
    assert np.max(np.abs(np.subtract(c["filter"], a["filter"]))) > 1e-4
    recorded = explorer.stats["states_recorded"]
    explorer.filter(1, 2, 3, 3)                                      # back to µ = 2: free
    assert explorer.stats["rows_computed"] == 2 and explorer.stats["states_recorded"] == recorded
    explorer.filter(1, 2, 4, 3)                                      # a new pixel re-records µ = 2's gains
    assert explorer.stats["rows_computed"] == 3 and explorer.stats["states_recorded"] == recorded + 1


def test_state_images_and_residual(explorer, net, image):
    meta = explorer.state(1, 2)
    assert (meta["height"], meta["width"], meta["scale"]) == (24, 28, 2)
    df = DeepFilter(net, image, levels=1, mu=2, margin=4)
    assert meta["residual_max"] == pytest.approx(float(np.abs(df.residual).max()), rel=1e-6)
    for kind in ("input", "output", "bicubic", "residual"):
        png = explorer.image_png(kind, 1, 2)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import imageio.v3 as iio
    out = iio.imread(explorer.image_png("output", 1, 2))
    np.testing.assert_array_equal(out, np.round(np.clip(df.output, 0, 1) * 255).astype(np.uint8))


@pytest.mark.parametrize("call, message", [
    (lambda e: e.filter(1, 2, 24, 0), "pixel must lie in the 28x24 output (x in 0..27, y in 0..23), got (x=0, y=24)"),
    (lambda e: e.filter(1, 2, 0, -1), "pixel must lie in the 28x24 output"),
    (lambda e: e.filter(1, 2, 1.5, 0), "pixel must lie"),
    (lambda e: e.filter(0, 2, 0, 0), "levels must be an integer between 1 and 3"),
    (lambda e: e.filter(1, 9, 0, 0), "mu must be an integer between 1 and 4, got 9"),
    (lambda e: e.filter(1, 2, 0, 0, mode="hsv"), "mode must be one of luma, color, got 'hsv'"),
    (lambda e: e.image_png("secret", 1, 2), "image must be one of input, output, bicubic, residual"),
])
def test_bad_requests_are_one_line_errors(explorer, call, message):
    with pytest.raises(ExploreError) as info:
        call(explorer)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_levels_bounded_by_the_network_size(net):
    big = Explorer(net, np.zeros((400, 400, 3)))                     # (400 + 32)² · 4² > the bound
    assert big.levels_allowed == [1]
    with pytest.raises(ExploreError, match="levels must be an integer between 1 and 1 for a 400x400 image, got 2"):
        big.state(2, 2)


# ----------------------------------------------------------------------------------------------
# server
# ----------------------------------------------------------------------------------------------
@pytest.fixture()
def server(explorer):
    srv = make_server(explorer, port=0, initial=(1, 2))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(srv, target, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=300)
    conn.request("GET", target, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


def raw(srv, data):
    """Send raw bytes, return (status code, body)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_server_is_bound_to_loopback(server):
    assert server.server_address[0] == "127.0.0.1"


def test_server_filter_equals_compute_layer(server, explorer):
    status, headers, body = get(server, "/api/filter?levels=1&mu=2&y=9&x=17")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    f = json.loads(body)
    ref = explorer.filter(1, 2, 9, 17)
    assert f["filter"] == ref["filter"] and f["check"] == ref["check"] and ref["cached"] is True
    status, _, body = get(server, "/api/info")
    info = json.loads(body)
    assert info["initial"] == {"levels": 1, "mu": 2} and info["width"] == 14 and info["image"] == "smooth.png"


def test_server_serves_the_page_and_nothing_else(server):
    status, headers, body = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"explore.js" in body
    for name in ("/explore.js", "/explore.css", "/data.js"):
        assert get(server, name)[0] == 200
    for target in ("/../../etc/passwd", "/static/explore.js", "/%2e%2e/setup.cfg", "/api/image/..%2fserver.py.png",
                   "/server.py", "/api/image/../compute.py"):
        status, _, body = get(server, target)
        assert status == 404, target
    # nothing in the page loads from outside (no CDN): every src/href is a relative name
    page = get(server, "/")[2].decode()
    assert set(re.findall(r'(?:src|href)="([^"]+)"', page)) == {"explore.css", "data.js", "explore.js"}
    for name in ("/", "/explore.js", "/explore.css"):
        assert not re.search(r"https?:|[\"'`]//|@import|(?<![A-Za-z])url\(", get(server, name)[2].decode()), name


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1", "127.0.0.1:1", "localhost.evil.example:{port}", ""])
def test_server_refuses_other_hosts(server, host):
    host = host.format(port=server.port)
    status, body = raw(server, f"GET /api/info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status == 403 and b"not allowed" in body


def test_server_accepts_its_own_hosts(server):
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        status, _ = raw(server, f"GET /api/info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert status == 200


def test_server_refuses_foreign_origins(server):
    status, _, body = get(server, "/api/info", headers={"Origin": "http://evil.example"})
    assert status == 403 and b"origin" in body
    assert get(server, "/api/info", headers={"Origin": f"http://127.0.0.1:{server.port}"})[0] == 200


def test_server_bounds_request_size(server):
    h = f"Host: 127.0.0.1:{server.port}\r\nConnection: close\r\n"
    status, body = raw(server, f"GET /api/info?{'a' * 3000} HTTP/1.1\r\n{h}\r\n".encode())
    assert status == 414 and b"2048" in body
    status, body = raw(server, f"GET /api/info HTTP/1.1\r\n{h}Content-Length: 100000000\r\n\r\n".encode())
    assert status == 413
    status, body = raw(server, f"POST /api/filter HTTP/1.1\r\n{h}Content-Length: 5\r\n\r\nhello".encode())
    assert status == 405
    fields = "&".join(f"y={i}" for i in range(20))
    status, body = raw(server, f"GET /api/filter?{fields} HTTP/1.1\r\n{h}\r\n".encode())
    assert status == 400


@pytest.mark.parametrize("query, message", [
    ("levels=1&mu=2&y=24&x=0", "pixel must lie in the 28x24 output (x in 0..27, y in 0..23), got (x=0, y=24)"),
    ("levels=1&mu=2&y=-3&x=0", "y must be a non-negative integer, got '-3'"),
    ("levels=1&mu=2&y=1e3&x=0", "y must be a non-negative integer, got '1e3'"),
    ("levels=1&mu=2&y=99999999&x=0", "y must be a non-negative integer, got '99999999'"),
    ("levels=1&mu=2&y=1", "missing parameter x"),
    ("levels=1&mu=2&y=1&x=1&y=2", "parameter 'y' given 2 times"),
    ("levels=1&mu=2&y=1&x=1&path=/etc/passwd", "unknown parameter 'path'"),
    ("levels=1&mu=2&y=1&x=1&mode=rgb", "mode must be one of luma, color, got 'rgb'"),
    ("levels=7&mu=2&y=1&x=1", "levels must be an integer between 1 and 3"),
])
def test_bad_pixel_coordinates_are_400_with_one_line(server, query, message):
    status, headers, body = get(server, f"/api/filter?{query}")
    text = body.decode()
    assert status == 400 and headers["Content-Type"].startswith("text/plain")
    assert text.startswith(message) and text.count("\n") == 1


def test_request_withdrawn_before_computing_is_dropped(server, explorer):
    with explorer.lock:                                              # the computation is busy
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(f"GET /api/filter?levels=1&mu=2&y=5&x=6 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        time.sleep(0.3)
        s.close()                                                    # what fetch's abort() does
        time.sleep(0.2)
    deadline = time.time() + 20
    while explorer.stats["cancelled"] == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert explorer.stats["cancelled"] == 1 and explorer.stats["rows_computed"] == 0
    assert not explorer.is_cached(1, 2, 5, 6)
    assert get(server, "/api/filter?levels=1&mu=2&y=5&x=6")[0] == 200 and explorer.stats["rows_computed"] == 1


# ----------------------------------------------------------------------------------------------
# static export
# ----------------------------------------------------------------------------------------------
def read_static(directory):
    text = (directory / "data.js").read_text()
    prefix = "window.EXPLORE_STATIC = "
    assert text.startswith(prefix) and text.rstrip().endswith(";")
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


def test_export_writes_a_self_contained_folder(explorer, tmp_path):
    out = tmp_path / "site"
    written = export(explorer, out, states=[(1, 2), (1, 1)], grid=2)
    names = sorted(p.name for p in written)
    assert names == sorted(["input.png", "data.js", "index.html", "explore.js", "explore.css"]
                           + [f"x2_mu{m}_{k}.png" for m in (1, 2) for k in ("output", "bicubic", "residual")])
    assert sorted(p.name for p in out.iterdir()) == names             # no temporary file left
    data = read_static(out)
    assert data["info"]["initial"] == {"levels": 1, "mu": 2} and data["info"]["mu"] == [1, 2]
    st = data["states"]["1,2"]
    assert st["grid"] == [list(p) for p in grid_pixels(24, 28, 2)] == [[6, 7], [6, 21], [18, 7], [18, 21]]
    f = st["filters"]["luma"]["18,21"]
    assert f["filter"] == explorer.filter(1, 2, 18, 21)["filter"]
    assert data["states"]["1,1"]["filters"]["luma"]["6,7"]["mu"] == 1
    html = (out / "index.html").read_text()
    assert set(re.findall(r'(?:src|href)="([^"]+)"', html)) == {"explore.css", "data.js", "explore.js"}


def test_export_validates(explorer, tmp_path):
    with pytest.raises(ValueError, match="grid must be an integer between 1 and 32, got 0"):
        export(explorer, tmp_path, states=[(1, 2)], grid=0)
    with pytest.raises(ExploreError, match="mu must be"):
        export(explorer, tmp_path, states=[(1, 0)])


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, net):
    d = tmp_path_factory.mktemp("explore")
    net.save(d / "tiny.npz")
    write_image(d / "small.png", smooth_image(10, 10))
    return d


def test_cli_export(files, tmp_path):
    out = tmp_path / "web"
    result = CliRunner().invoke(cli, ["explore", str(files / "small.png"), "--model", str(files / "tiny.npz"),
                                      "--levels", "1", "--mu", "1", "--mu", "2", "--grid", "2", "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 states, 2x2 pixels each" in result.output
    data = read_static(out)
    assert sorted(data["states"]) == ["1,1", "1,2"] and data["info"]["model"] == "tiny.npz"


@pytest.mark.parametrize("args, message", [
    (["--levels", "1", "--levels", "2"], "may be repeated only with --export"),
    (["--grid", "3"], "--grid and --color apply only with --export"),
    (["--levels", "5"], "'--levels': must be an integer between 1 and 3 for a 10x10 image, got 5"),
    (["--mu", "7"], "'--mu': must be an integer between 1 and 4, got 7"),
    (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
])
def test_cli_bad_options(files, args, message):
    result = CliRunner().invoke(cli, ["explore", str(files / "small.png"), "--model", str(files / "tiny.npz"),
                                      "--no-browser", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_port_in_use(files):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["explore", str(files / "small.png"), "--model", str(files / "tiny.npz"),
                                          "--no-browser", "--port", str(port)])
    assert result.exit_code == 2 and f"port {port} is in use" in result.output


def test_cli_export_refuses_a_file(files, tmp_path):
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(cli, ["explore", str(files / "small.png"), "--model", str(files / "tiny.npz"),
                                      "--export", str(tmp_path / "f")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_cli_serves_and_stops_cleanly_on_ctrl_c(files):
    exe = Path(sys.executable).with_name("mgbp-classic")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mgbp_classic_cli.main"]
    proc = subprocess.Popen(cmd + ["explore", str(files / "small.png"), "--model", str(files / "tiny.npz"),
                                   "--levels", "1", "--no-browser", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        # generous timeouts: on a fresh install the first request compiles the kernels (a minute or
        # more on a loaded machine); a hang still fails
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("GET", "/api/filter?levels=1&mu=2&y=3&x=4")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["pixel"] == [3, 4]
        conn.close()
        proc.send_signal(signal.SIGINT)                              # Ctrl-C
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "explore: stopped" in out and "Traceback" not in err
    with pytest.raises(OSError):                                     # the port is closed
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
