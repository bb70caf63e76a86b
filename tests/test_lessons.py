"""Every lesson's figure script runs (small) and writes the figures its lesson shows."""
import importlib.util
import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCRIPTS = sorted((DOCS / "scripts").glob("lesson*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_lesson_figures_render(script, tmp_path):
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.make_figures(tmp_path, small=True)
    assert written, f"{script.name} wrote no figure"
    for path in written:
        assert Path(path).is_file() and Path(path).stat().st_size > 1000, path
    # every figure the script makes is referenced by its lesson
    lesson = next(DOCS.glob(script.stem + "_*.md"))
    text = lesson.read_text()
    for path in written:
        assert re.search(re.escape("figures/" + Path(path).name), text), f"{lesson.name} does not show {Path(path).name}"
