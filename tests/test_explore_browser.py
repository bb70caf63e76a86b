"""The explorer's page in a real headless browser (Chromium from the system packages, driven by Playwright).

Loads the page from the server, clicks an output pixel, waits for its filter and checks that the
drawn values (``window.explore.drawn``, the arrays the canvases were painted from, and the
canvas's colour at the strongest tap) equal the library's row of F for that pixel
(:meth:`DeepFilter.filters`); changes µ and checks that the filter changed (and is µ = 1's row);
checks that moving the mouse on aborts the request in flight and that the server drops it;
and opens the static export from a file URL.

Skipped where Playwright's Python package or the Chromium binary is missing: ``.ci/run`` installs
both (``apt-get install -y chromium``, ``pip install -e ".[browser]"``). Playwright's own browser
downloads are never used.
"""
from pathlib import Path
import shutil
import threading

import numpy as np
import pytest

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright is not installed (pip install -e '.[browser]')")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from mgbp_classic.deepfilter import DeepFilter                       # noqa: E402
from mgbp_classic.explore import Explorer, export, make_server      # noqa: E402

from test_explore import smooth_image, tiny_net                      # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
        "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"]
TIMEOUT = 120_000                                                    # ms
MARGIN = 4                                                           # LR pixels of reflection (small: quick)


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def image():
    return smooth_image(24, 24)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=ARGS, viewport={"width": 1400, "height": 900})
        yield context
        context.close()


@pytest.fixture()
def page(browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture()
def server(net, image):
    explorer = Explorer(net, image, name="smooth.png", margin=MARGIN)
    srv = make_server(explorer, port=0, initial=(2, 2))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def library_filter(net, image, levels, mu, pixel, window):
    rows = DeepFilter(net, image, levels=levels, mu=mu, margin=MARGIN).filters([tuple(pixel)])[0]
    y0, y1, x0, x1 = window
    return rows.sum(axis=2)[y0:y1, x0:x1]


def expected_colour(v, vmax):
    """The page's diverging colour (RdBu_r, linear between 11 anchors), as the JavaScript computes it."""
    anchors = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in RDBU], dtype=float)
    t = (max(-1.0, min(1.0, v / vmax)) + 1) / 2 * (len(RDBU) - 1)
    i = min(int(np.floor(t)), len(RDBU) - 2)
    return np.floor(anchors[i] + (t - i) * (anchors[i + 1] - anchors[i]) + 0.5)


def wait_filter(page, **want):
    cond = " && ".join([f"p.dataset.{k} === {v!r}" for k, v in want.items()] + ["p.dataset.status === 'ready'"])
    page.wait_for_function(f"() => {{ const p = document.getElementById('filter-panel'); return {cond}; }}",
                           timeout=TIMEOUT)
    return page.evaluate("window.explore.drawn")


def click_output(page, fx, fy):
    box = page.locator("#c-output").bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def check_canvas(page, drawn):
    """The effective-filter canvas shows a strong tap in the colour of its value.

    The tap is the largest in magnitude at least two cells from the centre cell, whose centre is
    clear of the ``+`` marker and of the dashed 99 % square (drawn on cell borders).
    """
    cur = page.evaluate("window.explore.current")
    rad, (cy, cx), (y0, _, x0, _) = cur["radius"], cur["center"], cur["window"]
    f = np.asarray(drawn["filter"])
    yy, xx = np.mgrid[y0:y0 + f.shape[0], x0:x0 + f.shape[1]]
    far = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) >= 2
    a, b = np.unravel_index(np.argmax(np.where(far, np.abs(f), -1)), f.shape)
    n = 2 * rad + 1
    side = page.evaluate("document.getElementById('f-net').width")
    cell = side // n
    assert cell >= 4
    off = (side - cell * n) // 2
    i, j = a + y0 - cy + rad, b + x0 - cx + rad
    px, py = off + j * cell + cell // 2, off + i * cell + cell // 2
    rgb = page.evaluate(f"Array.from(document.getElementById('f-net').getContext('2d').getImageData({px}, {py}, 1, 1).data)")
    np.testing.assert_allclose(rgb[:3], expected_colour(float(f[a, b]), drawn["scale"]), atol=1)
    assert abs(f[a, b]) > 0.01 * drawn["scale"]                     # a visible tap, not the white of zero


def test_page_draws_the_librarys_filter_and_follows_mu(page, server, net, image):
    page.goto(server.url)
    page.wait_for_selector("#status[data-status=ready]", timeout=TIMEOUT)
    click_output(page, 0.43, 0.57)
    first = wait_filter(page, mu="2", levels="2")
    y, x = first["pixel"]
    assert page.get_attribute("#filter-panel", "data-pixel") == f"{y},{x}"
    assert 0.3 * 96 < y < 0.8 * 96 and 0.2 * 96 < x < 0.7 * 96       # about where the click was
    ref = library_filter(net, image, 2, 2, (y, x), first["window"])
    np.testing.assert_array_equal(np.float32(first["filter"]), ref)
    check_canvas(page, first)
    assert "|F X + R − net|" in page.inner_text("#check")

    page.select_option("#mu", "1")                                   # µ = 1: the filters are recomputed
    second = wait_filter(page, mu="1", levels="2", pixel=f"{y},{x}")
    ref1 = library_filter(net, image, 2, 1, (y, x), second["window"])
    np.testing.assert_array_equal(np.float32(second["filter"]), ref1)
    y0 = max(first["window"][0], second["window"][0])
    x0 = max(first["window"][2], second["window"][2])
    y1 = min(first["window"][1], second["window"][1])
    x1 = min(first["window"][3], second["window"][3])

    def crop(d):
        return np.asarray(d["filter"])[y0 - d["window"][0]:y1 - d["window"][0], x0 - d["window"][2]:x1 - d["window"][2]]
    assert np.max(np.abs(crop(first) - crop(second))) > 1e-5          # the filter changed (rounding: ~1e-8)
    check_canvas(page, second)

    page.click("#tab-residual")                                      # the second view: R over the image
    assert page.is_visible("#c-residual") and not page.is_visible("#c-bicubic")
    assert "max |R|" in page.inner_text("#cap-residual")


def test_moving_on_aborts_the_request_in_flight(page, server):
    explorer = server.explorer
    page.goto(server.url)
    page.wait_for_selector("#status[data-status=ready]", timeout=TIMEOUT)
    failed = []
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
    box = page.locator("#c-output").bounding_box()
    with explorer.lock:                                              # the server is busy: requests wait
        with page.expect_request(lambda r: "api/filter" in r.url, timeout=TIMEOUT) as first:
            page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
        with page.expect_request(lambda r: "api/filter" in r.url, timeout=TIMEOUT) as second:
            page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.7 * box["height"])
        page.wait_for_function("() => true")                         # let the abort reach the network
        for _ in range(100):
            if failed:
                break
            page.wait_for_timeout(50)
    assert [u for u, _ in failed] == [first.value.url] and "ABORTED" in failed[0][1]
    drawn = wait_filter(page)
    target = second.value.url
    assert f"y={drawn['pixel'][0]}&x={drawn['pixel'][1]}" in target
    for _ in range(100):
        if explorer.stats["cancelled"]:
            break
        page.wait_for_timeout(50)
    assert explorer.stats["cancelled"] == 1 and explorer.stats["rows_computed"] == 1   # the first was never computed


def test_static_export_works_from_a_file(page, net, image, tmp_path):
    explorer = Explorer(net, image, name="smooth.png", margin=MARGIN)
    export(explorer, tmp_path / "site", states=[(1, 2), (1, 1)], grid=3)
    page.goto((tmp_path / "site" / "index.html").as_uri())
    page.wait_for_selector("#status[data-status=ready]", timeout=TIMEOUT)
    click_output(page, 0.5, 0.5)                                     # snaps to the grid's centre pixel
    drawn = wait_filter(page, mu="2", levels="1")
    assert drawn["pixel"] == [24, 24]
    np.testing.assert_array_equal(np.float32(drawn["filter"]), library_filter(net, image, 1, 2, (24, 24), drawn["window"]))
    assert page.inner_text("#timing") == "precomputed (static export)"
    page.select_option("#mu", "1")
    other = wait_filter(page, mu="1", levels="1", pixel="24,24")
    np.testing.assert_array_equal(np.float32(other["filter"]), library_filter(net, image, 1, 1, (24, 24), other["window"]))
    assert other["filter"] != drawn["filter"]
