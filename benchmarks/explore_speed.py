"""Response time of the deep-filter explorer: one filter request at ×4 on a 256×256 input.

Starts the explorer's server (``mgbp_classic.explore``) in this process on 127.0.0.1, asks it
for the state (levels 2, µ 2: the network output and the effective residual, two forward passes
of the reflection-padded 288×288 input) and then, over HTTP exactly as the page does, for the
filters of several output pixels spread over the image, each one not cached yet; then asks for
the same pixels again (from the cache). Prints the time of every request and the medians.

The input is the top-left 256×256 crop of Set14 *baboon* (its full-resolution image, as a user
would explore a photograph), or ``--image PATH``.

Last line: ``state_s=<x> filter_median_s=<y> cached_median_ms=<z>``.

Usage: python benchmarks/explore_speed.py [--model PATH] [--image PATH] [--size 256] [--pixels 7] [--mu 2]
"""
import argparse
import http.client
import json
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from mgbp_classic.explore import Explorer, make_server
from mgbp_classic.inference import load_model
from mgbp_classic.imaging.io import read_image

ROOT = Path(__file__).resolve().parents[1]
BABOON = ROOT.parent / "shared" / "data" / "test" / "Set14" / "baboon.png"


def get(port, target):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    t0 = time.perf_counter()
    conn.request("GET", target)
    resp = conn.getresponse()
    body = resp.read()
    dt = time.perf_counter() - t0
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{target}: {resp.status} {body.decode()[:200]}")
    return dt, len(body), json.loads(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--image", default=str(BABOON))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--pixels", type=int, default=7)
    ap.add_argument("--levels", type=int, default=2)
    ap.add_argument("--mu", type=int, default=2)
    args = ap.parse_args()

    img = read_image(args.image)
    img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    img = img[:args.size, :args.size]
    net, _ = load_model(args.model)
    explorer = Explorer(net, img, name=Path(args.image).name)
    server = make_server(explorer, port=0, initial=(args.levels, args.mu))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.port
    s = 1 << args.levels
    h, w = img.shape[0] * s, img.shape[1] * s
    print(f"input {img.shape[1]}x{img.shape[0]}, x{s}, mu={args.mu}, output {w}x{h}")

    t_state, _, meta = get(port, f"/api/state?levels={args.levels}&mu={args.mu}")
    print(f"state (network output + residual R, two forward passes): {t_state:.1f} s")

    rng = np.random.default_rng(0)
    pixels = [(int(rng.integers(h // 8, 7 * h // 8)), int(rng.integers(w // 8, 7 * w // 8)))
              for _ in range(args.pixels + 1)]
    # the first request also compiles/warms the windowed pass's kernels: timed, not counted
    times, cached = [], []
    print(f"{'pixel (x, y)':>14} {'request s':>10} {'compute s':>10} {'bytes':>8} {'radius99':>8} {'|FX+R-net|':>11}")
    for i, (y, x) in enumerate(pixels):
        dt, size, f = get(port, f"/api/filter?levels={args.levels}&mu={args.mu}&y={y}&x={x}")
        note = "  (warm-up, not counted)" if i == 0 else ""
        print(f"{f'({x}, {y})':>14} {dt:10.2f} {f['seconds']:10.2f} {size:8d} {f['radius99']:8d} "
              f"{f['check']['error']:11.1e}{note}")
        if i:
            times.append(dt)
    for y, x in pixels[1:]:
        dt, _, f = get(port, f"/api/filter?levels={args.levels}&mu={args.mu}&y={y}&x={x}")
        assert f["cached"]
        cached.append(dt)
    server.shutdown()
    server.server_close()
    med, cmed = statistics.median(times), statistics.median(cached) * 1e3
    print(f"median of {len(times)} filter requests (not cached): {med:.2f} s; from the cache: {cmed:.1f} ms")
    print(f"state_s={t_state:.1f} filter_median_s={med:.2f} cached_median_ms={cmed:.1f}")


if __name__ == "__main__":
    main()
