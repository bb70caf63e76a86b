"""PSNR of bicubic and of network models on the held-out urban validation split, standard protocol.

The split is the one of ``benchmarks/train_shipped_model.sh urban-split val``: every 10th image of
``../shared/data/train_urban/City100`` and of ``Facades`` (39 images of buildings, windows and
streets), never trained on. Each model's gain over bicubic there is the signal, next to Set5, by
which the urban training data is judged (appendix C).

    python benchmarks/urban_val.py                                  # the shipped model
    python benchmarks/urban_val.py --model A.npz --model B.npz      # models side by side

Prints one Markdown table: mean PSNR (Y) per scale for bicubic and each model, and each model's
gain over bicubic.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from mgbp_classic.inference import default_model_path
from mgbp_classic.imaging.io import read_image
from mgbp_classic.pipeline.upscale import evaluate_image

ROOT = Path(__file__).resolve().parents[1]


def split_files():
    """The held-out urban images, from the training recipe (one definition of the split)."""
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "train_shipped_model.sh"), "urban-split", "val"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return [ROOT / line for line in out.stdout.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", type=Path, help="model file (repeatable; default: the shipped one)")
    ap.add_argument("--scales", default="2,4,8")
    ap.add_argument("--limit", type=int, default=None, help="at most this many images")
    args = ap.parse_args()
    models = args.model or [Path(default_model_path())]
    scales = [int(s) for s in args.scales.split(",")]
    files = split_files()[:args.limit]
    images = [read_image(p) for p in files]
    rows = {}
    for scale in scales:
        rows[scale] = [np.mean([evaluate_image(hr, scale=scale, method="bicubic")["psnr"] for hr in images])]
        for model in models:
            rows[scale].append(np.mean([evaluate_image(hr, scale=scale, method="net", model=str(model), tile=None)["psnr"]
                                        for hr in images]))
        print(f"x{scale}: " + " ".join(f"{v:.2f}" for v in rows[scale]), file=sys.stderr, flush=True)
    print(f"\nurban validation split: {len(images)} images (mean PSNR, Y, dB; gain over bicubic)\n")
    print("| scale | bicubic | " + " | ".join(m.name for m in models) + " |")
    print("|---|---:|" + "---:|" * len(models))
    for scale in scales:
        b = rows[scale][0]
        cells = [f"{v:.2f} ({v - b:+.2f})" for v in rows[scale][1:]]
        print(f"| ×{scale} | {b:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
