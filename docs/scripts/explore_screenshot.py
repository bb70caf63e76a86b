"""Screenshot of ``mgbp-classic explore`` for the README: docs/figures/explore.png.

Serves the explorer (in this process, on 127.0.0.1) on a 64×64 crop of Set14 *baboon*'s
protocol LR image (bicubic ×1/4, around the left eye) at ×4, µ = 2, with the shipped model; opens
the page in headless Chromium (Playwright's Python package, the system's ``/usr/bin/chromium``),
clicks an output pixel on the contour of the eye, waits for its filter and saves the page.

Needs ``pip install -e ".[browser]"`` and ``apt-get install chromium``; not run by the tests.

Usage: python docs/scripts/explore_screenshot.py [--out docs/figures/explore.png] [--pixel X,Y]
"""
import argparse
from pathlib import Path
import tempfile
import threading

from mgbp_classic.explore import Explorer, make_server
from mgbp_classic.inference import load_model
from mgbp_classic.imaging.io import read_image
from mgbp_classic.metrics import make_lr

ROOT = Path(__file__).resolve().parents[2]
BABOON = ROOT.parent / "shared" / "data" / "test" / "Set14" / "baboon.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures" / "explore.png"))
    ap.add_argument("--pixel", default="104,92", help="output pixel X,Y to click (of the x4 crop)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    lr = make_lr(read_image(BABOON), 4)[4:68, 0:64]
    net, _ = load_model()
    server = make_server(Explorer(net, lr, name="baboon (LR, 64x64 crop)", model_name="shipped model"),
                         port=0, initial=(2, 2))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    px, py = (int(v) for v in args.pixel.split(","))
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=args.chromium, headless=True,
                                                   args=ARGS, viewport={"width": 1480, "height": 900})
        page = ctx.new_page()
        page.goto(server.url)
        page.wait_for_selector("#status[data-status=ready]", timeout=1_800_000)
        page.click("#zoom-in")
        view = page.evaluate("window.explore.view")
        box = page.locator("#c-output").bounding_box()
        x = box["x"] + box["width"] / 2 + (px + 0.5 - view["cx"]) * view["zoom"]
        y = box["y"] + box["height"] / 2 + (py + 0.5 - view["cy"]) * view["zoom"]
        page.mouse.click(x, y)
        page.wait_for_function("() => document.getElementById('filter-panel').dataset.status === 'ready'",
                               timeout=1_800_000)
        page.wait_for_timeout(300)
        page_pixel = page.get_attribute("#filter-panel", "data-pixel")
        page.screenshot(path=args.out, full_page=True)
        ctx.close()
    server.shutdown()
    print(f"wrote {args.out} (output pixel {page_pixel})")


if __name__ == "__main__":
    main()
