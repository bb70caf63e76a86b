"""``mgbp-classic info``: what a model file holds (config, training record, provenance)."""
import json
from pathlib import Path

import click

from mgbp_classic.inference import default_model_path
from mgbp_classic.net import MGBPNet
from mgbp_classic.train import training_stages

from ._common import library_errors


@click.command("info")
@click.argument("model", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def command(model, as_json):
    """Describe MODEL (default: the pretrained model shipped in the package)."""
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
    steps = meta.get("steps", "unknown")
    hours = f"{meta['train_seconds'] / 3600:.2f} h" if "train_seconds" in meta else "unknown"
    lines = [
        ("file", str(path)),
        ("network", ", ".join(f"{k}={v}" for k, v in net.config.to_dict().items())),
        ("parameters", f"{net.num_parameters:,}"),
        ("training steps", steps),
        ("recipe", _recipe(tc)),
        ("data", f"{', '.join(data.get('roots', [])) or 'unknown'} ({data.get('images', '?')} images)"),
        ("training time", hours),
        ("git revision", meta.get("git_revision", "unknown")),
    ]
    stages = training_stages(meta)
    if len(stages) > 1:
        # a run started (train --init) from another model's weights, which may have been one too:
        # say what came before, stage by stage
        counts = [st["steps"] for st in stages]
        if all(isinstance(c, int) for c in counts):
            before = " + ".join(str(c) for c in counts[:-1])
            lines[3] = ("training steps", f"{steps} after the {before} of the initial model ({sum(counts)} in all)")
        if len(stages) == 2:
            lines += _stage_lines("init", ("init from", f"{stages[1]['from'] or 'unknown'} ({_steps(stages[0])} steps)"),
                                  stages[0])
        else:
            for i, st in enumerate(stages[:-1], 1):
                origin = f" from {st['from']}" if st["from"] else ""
                lines += _stage_lines(f"stage {i}", (f"stage {i}", f"{_steps(st)} steps{origin}"), st)
            lines.append(("init from", f"{stages[-1]['from'] or 'unknown'} (stages 1-{len(stages) - 1})"))
    lines += [
        ("saved", meta.get("saved", "unknown")),
        ("validation PSNR", ", ".join(f"{k} {v:.2f} dB" for k, v in (meta.get("validation") or {}).items()) or "none"),
    ]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k:<{width}}  {v}")


def _recipe(train_config):
    keys = ("levels", "mu", "patch", "batch", "lr", "lr_decay", "seed")
    return ", ".join(f"{k}={train_config[k]}" for k in keys if k in train_config) or "unknown"


def _steps(stage):
    return stage["steps"] if stage["steps"] is not None else "?"


def _stage_lines(name, head, stage):
    """``head`` (its label and text), then the recipe, time and revision of an earlier ``stage``."""
    hours = f"{stage['train_seconds'] / 3600:.2f} h" if stage["train_seconds"] else "unknown"
    return [head, (f"{name} recipe", _recipe(stage["train_config"] or {})), (f"{name} time", hours),
            (f"{name} revision", stage["git_revision"] or "unknown")]
