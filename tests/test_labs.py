"""The labs and their autograder: the reference solutions score full marks, the templates zero, each
lab's typical mistake partial marks with the message that names it; the templates are the solutions
with the answers removed; the solutions run top to bottom without the image sets; the grader reads
``.ipynb`` files too, writes a class's marks as CSV and refuses the package's own implementations."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "docs" / "labs"
SOLUTIONS = ROOT / "docs" / "instructor" / "labs"
if not SOLUTIONS.is_dir():
    pytest.skip("the labs' reference solutions are part of the instructor's edition, not of this copy",
                allow_module_level=True)
sys.path.insert(0, str(LABS))
sys.path.insert(0, str(SOLUTIONS))
sys.path.insert(0, str(ROOT / "docs" / "scripts"))

import grader  # noqa: E402
import lab_checks  # noqa: E402
import make_labs  # noqa: E402
import mistakes  # noqa: E402

KEYS = sorted(lab_checks.LABS)


@pytest.fixture(autouse=True)
def _generous_time_limits(monkeypatch):
    # the limit catches endless loops; on a shared machine a normal check can take a while
    monkeypatch.setenv("MGBP_LAB_TIMEOUT", "600")


def test_five_labs_of_ten_points_each_with_solution_and_template():
    assert KEYS == ["lab1", "lab2", "lab3", "lab4", "lab5"]
    for key in KEYS:
        lab = lab_checks.LABS[key]
        assert lab.points == 10, key
        assert (LABS / lab.template).exists() and (SOLUTIONS / lab.template).exists(), key


def test_templates_are_the_solutions_without_the_answers():
    for path, text in make_labs.templates().items():
        assert path.read_text() == text, f"{path.name} is out of date: python docs/scripts/make_labs.py"
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError" in text


@pytest.mark.parametrize("key", KEYS)
def test_reference_solution_scores_full_marks(key):
    report = grader.grade(key, SOLUTIONS / lab_checks.LABS[key].template)
    assert report.earned == report.points == 10, report.text()


@pytest.mark.parametrize("key", KEYS)
def test_template_scores_zero_and_says_not_written(key):
    report = grader.grade(key, LABS / lab_checks.LABS[key].template)
    assert report.earned == 0, report.text()
    assert all("not written yet" in i.message for i in report.items), report.text()


@pytest.mark.parametrize("key", KEYS)
def test_typical_mistake_scores_partial_marks_with_its_message(key, tmp_path):
    m = mistakes.MISTAKES[key]
    report = grader.grade(key, mistakes.write_mistake(key, tmp_path))
    assert 0 < report.earned < report.points, report.text()
    assert report.earned == pytest.approx(m.score), report.text()
    assert any(m.says in i.message for i in report.items if i.earned < i.points), report.text()


@pytest.mark.parametrize("key", KEYS)
def test_solution_runs_top_to_bottom_without_the_image_sets(key, tmp_path):
    env = dict(os.environ, MGBP_LAB_QUICK="1", MGBP_DATA=str(tmp_path / "no-data"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(LABS), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, str(SOLUTIONS / lab_checks.LABS[key].template)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not written yet" not in run.stdout
    if key == "lab4":
        assert "training on the left 64 columns of the bundled sample image" in run.stdout


def _as_ipynb(py_text):
    """A jupytext percent file as a minimal .ipynb (code and markdown cells)."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            src = "\n".join(lines).strip("\n")
            if kind == "markdown":
                src = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in src.splitlines())
            cells.append({"cell_type": kind, "metadata": {}, "source": src,
                          **({"outputs": [], "execution_count": None} if kind == "code" else {})})
    for line in py_text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_grader_reads_ipynb_and_writes_a_class_csv(tmp_path):
    sol = SOLUTIONS / "lab1_ibp.py"
    nb = tmp_path / "alice.ipynb"
    cells = _as_ipynb(sol.read_text())
    cells["cells"].insert(1, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": "%matplotlib inline\n!echo a shell line"})
    nb.write_text(json.dumps(cells))
    bob = tmp_path / "bob.py"
    bob.write_text(mistakes.mistaken_source("lab1"))
    carol = tmp_path / "carol.py"
    carol.write_text("def ibp(x, steps, D, P):\n    return (\n")           # does not parse
    out = tmp_path / "marks.csv"
    reports = grader.main(["lab1", str(nb), str(bob), str(carol), "--csv", str(out)])
    assert [r.earned for r in reports] == [10, 7.5, 0]
    assert "no function ibp (a cell that does not parse was left out: line 2" in reports[2].items[0].message
    # a broken experiment cell costs nothing: the functions of the other cells are graded
    dave = tmp_path / "dave.py"
    dave.write_text(sol.read_text() + "\n# %%\nprint(ibp(x, 3, D, P)\n")
    assert grader.grade("lab1", dave).earned == 10
    rows = list(csv.reader(out.open()))
    assert rows[0][:3] == ["submission", "total", "out of"] and len(rows) == 4
    assert [float(r[1]) for r in rows[1:]] == [10, 7.5, 0]


def test_grader_refuses_the_packages_own_implementation(tmp_path):
    sub = tmp_path / "lazy.py"
    sub.write_text((SOLUTIONS / "lab1_ibp.py").read_text().replace(
        "import labkit  # noqa: F401", "from mgbp_classic.ibp import ibp as library_ibp\nimport labkit  # noqa: F401"
    ).replace("    y = P(x)\n    history = []", "    library_ibp(x, 2)\n    y = P(x)\n    history = []"))
    report = grader.grade("lab1", sub)
    item = report.items[0]
    assert item.earned == 0 and "mgbp_classic.ibp" in item.message and "write it yourself" in item.message
    assert report.earned == 6


def test_a_crash_is_reported_with_the_submissions_line(tmp_path):
    sub = tmp_path / "crash.py"
    sub.write_text((SOLUTIONS / "lab2_multigrid.py").read_text().replace(
        "    return 0 if k == 1 else mu * (1 + down_projections(k - 1, mu))", "    return {}[k]"))
    item = grader.grade("lab2", sub).items[3]
    assert item.earned == 0 and "raised KeyError" in item.message and "(in down_projections: return {}[k])" in item.message


def test_the_checks_references_are_the_packages():
    from mgbp_classic.ibp import ibp
    from mgbp_classic.resize import Downscale, Upscale
    import lesson2
    x = np.random.default_rng(0).random((8, 6))
    y, hist = lab_checks.ref_ibp(x, 4, Downscale(2, mode="reflect"), Upscale(2, mode="reflect"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = ibp(x, 2, iterations=4, tol=None, mode="reflect")
    assert np.allclose(y, lib.image, atol=1e-12) and np.allclose(hist, lib.history, atol=1e-12)
    w = np.linspace(0, np.pi, 9)
    for s in (2, 4):
        assert np.allclose(lab_checks.ref_symbol(w, s), lesson2.dp_symbol(s, w), atol=1e-12)
    from mgbp_classic import nn
    store = nn.ParamStore(seed=0, dtype=np.float64)
    nn.Conv2d(store, "c", 2, 2, 1)
    store.finalize()
    p, m, v = store.params.copy(), np.zeros(store.size), np.zeros(store.size)
    adam = nn.Adam(store, lr=1e-2)
    for t in (1, 2, 3):
        store.grads[...] = np.random.default_rng(t).standard_normal(store.size)
        adam.step()
        lab_checks.ref_adam(p, store.grads.copy(), m, v, t, 1e-2)
    assert np.allclose(p, store.params, atol=1e-12)
