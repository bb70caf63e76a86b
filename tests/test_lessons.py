"""Every lesson's notebook runs top to bottom in a fresh interpreter (small size), without the image
data, and writes the figures its lesson shows; every figure a lesson shows exists; every page the
course links exists."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((DOCS / "notebooks").glob("lesson*.py"))
LESSONS = sorted(DOCS.glob("lesson*_*.md"))


def _lesson(notebook):
    return next(DOCS.glob(notebook.stem + "_*.md"))


def test_every_lesson_has_a_notebook():
    assert [n.stem for n in NOTEBOOKS] == [f"lesson{i}" for i in range(1, 8)]
    assert len(LESSONS) == 7


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_and_makes_the_lessons_figures(notebook, tmp_path):
    # without ../shared/data (MGBP_DATA names an empty folder): the path of a student without the sets
    env = dict(os.environ, MGBP_DOCS_SMALL="1", MGBP_DOCS_OUT=str(tmp_path), MPLBACKEND="Agg",
               MGBP_DATA=str(tmp_path / "no-data"))
    run = subprocess.run([sys.executable, str(notebook)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"{notebook.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    written = sorted(tmp_path.glob("*.png"))
    assert written, f"{notebook.name} wrote no figure"
    text = _lesson(notebook).read_text()
    shown = set(re.findall(r"figures/(lesson\d_[\w]+\.png)", text))
    for path in written:
        assert path.stat().st_size > 1000, path
        assert path.name in shown, f"{_lesson(notebook).name} does not show {path.name}"
    missing = shown - {p.name for p in written}
    assert not missing, f"{notebook.name} does not make {sorted(missing)}, which its lesson shows"
    if notebook.stem == "lesson6":          # the results figure falls back to the sample, and says so
        assert "monarch.png is not available: using the bundled sample image" in run.stdout


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_links_and_figures_exist(page):
    """Relative links and images of every page resolve inside the repository (no dangling
    references to files that are not part of it)."""
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"
    assert "DESIGN.md" not in text, f"{page.name} cites DESIGN.md, which is not in the repository"
    assert "data/README.md" not in text, f"{page.name} cites the data README, which is not in the repository"


def test_readme_links_the_syllabus():
    assert "docs/index.md" in (ROOT / "README.md").read_text()
