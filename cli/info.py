"""``mgbp-classic info``: what a model file holds (config, training record, provenance)."""
import json
from pathlib import Path

import click

from ._common import library_errors


@click.command("info")
@click.argument("model", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def command(model, as_json):
    """Describe MODEL (default: the pretrained model shipped in the package)."""
    from mgbp_classic.inference import default_model_path
    from mgbp_classic.net import MGBPNet
    path = model if model is not None else Path(default_model_path())
    with library_errors():
        net, meta = MGBPNet.load(path)
    record = {"file": str(path), "network": net.config.to_dict(), "parameters": net.num_parameters,
              **meta}
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
        return
    tc = meta.get("train_config", {})
    data = meta.get("data", {})
    lines = [
        ("file", str(path)),
        ("network", ", ".join(f"{k}={v}" for k, v in net.config.to_dict().items())),
        ("parameters", f"{net.num_parameters:,}"),
        ("training steps", meta.get("steps", "unknown")),
        ("recipe", ", ".join(f"{k}={tc[k]}" for k in ("levels", "mu", "patch", "batch", "lr", "lr_decay", "seed")
                             if k in tc) or "unknown"),
        ("data", f"{', '.join(data.get('roots', [])) or 'unknown'} ({data.get('images', '?')} images)"),
        ("training time", f"{meta.get('train_seconds', 0) / 3600:.2f} h" if "train_seconds" in meta else "unknown"),
        ("git revision", meta.get("git_revision", "unknown")),
        ("saved", meta.get("saved", "unknown")),
        ("validation PSNR", ", ".join(f"{k} {v:.2f} dB" for k, v in (meta.get("validation") or {}).items()) or "none"),
    ]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k:<{width}}  {v}")
