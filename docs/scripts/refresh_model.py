"""Refresh everything lessons 6 and 7 say about the shipped model — one command.

    python docs/scripts/refresh_model.py [--model PATH]

1. measures the model (Set5 ×4 PSNR, the results crop of lesson 6, the filters, residuals and colour
   filters of lesson 7) while redrawing the figures of lessons 6 and 7 at full size;
2. writes the measurements with the model's SHA-256 to ``docs/figures/model_measurements.json``;
3. writes today's values into the sentences of ``lesson6_network.md`` and ``lesson7_deepfilter.md``
   that quote them (through the claim registry, ``claims.py``) and prints every change.

Re-read the printed sentences: the registry keeps the numbers right, not the readings built on them.
Takes several minutes on two cores.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import claims as C  # noqa: E402


def measure(model=None, figures=C.DOCS / "figures"):
    import lesson6
    import lesson7
    from mgbp_classic.inference import default_model_path
    path = Path(model or default_model_path())
    m = {"model": path.name, "model_sha256": C.model_hash(path)}
    print("Set5 ×4 with the network …", flush=True)
    m["set5_x4_net"] = lesson6.set5_network_psnr()
    print("lesson 6 figures …", flush=True)
    lesson6.make_figures(figures, measurements=m)
    print("lesson 7 figures …", flush=True)
    lesson7.make_figures(figures, model=path, measurements=m)
    return m


def write_json(m, target=C.MEASUREMENTS):
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(m, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, target)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the one shipped in the package)")
    args = parser.parse_args(argv)
    m = measure(args.model)
    write_json(m)
    C.model_measurements.cache_clear()
    changes = C.rewrite("l6.") + C.rewrite("l7.")
    for cid, old, new in changes:
        print(f"{cid}:\n  - {old!r}\n  + {new!r}")
    print(f"{len(changes)} sentence(s) changed; measurements in {C.MEASUREMENTS}")


if __name__ == "__main__":
    main()
