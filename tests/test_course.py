"""What a lecturer adopts besides the lessons: slides made from the lessons (up to date, every figure
there, every slide rendering), the notebooks and lesson 7's full-size scene without the image data,
controls that print no function, the student pack without the instructor's edition, the [course]
extra and the pages that plan the module."""
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

import slides  # noqa: E402
import student_pack  # noqa: E402

DECKS = sorted((DOCS / "slides").glob("lesson*.html"))


def test_a_deck_per_lesson_up_to_date(tmp_path):
    built = slides.build(tmp_path)
    assert [p.name for p in built] == [f"lesson{i}.html" for i in range(1, 8)]
    for p in built:
        committed = DOCS / "slides" / p.name
        assert committed.exists() and committed.read_text() == p.read_text(), \
            f"docs/slides/{p.name} is out of date: python docs/scripts/slides.py"


@pytest.mark.parametrize("lesson", slides.LESSONS, ids=lambda p: p.stem)
def test_every_slide_has_content_and_every_figure_exists(lesson):
    title, deck = slides.lesson_slides(lesson)
    assert deck[0].kind == "title" and deck[0].title == title
    kinds = {s.kind for s in deck}
    assert {"figure", "list"} <= kinds, kinds                       # figures, self-checks and exercises
    for s in deck:
        assert s.title and s.body and any(payload for _, payload in s.body), f"empty slide {s.title!r}"
    shown = {payload for s in deck for kind, payload in s.body if kind == "img"}
    for src in shown:
        assert (DOCS / src).exists(), f"a slide of {lesson.name} shows {src}, which does not exist"
    in_lesson = set(re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", lesson.read_text()))
    assert shown == in_lesson, f"figures of {lesson.name} not on a slide: {sorted(in_lesson - shown)}"
    page = slides.deck_html(lesson)
    assert page.count('<section class="slide') == len(deck)
    assert "http://" not in page and "https://" not in page, "a deck must work offline"


def test_theorems_and_equations_reach_the_slides():
    _, deck = slides.lesson_slides(next(DOCS.glob("lesson4_*.md")))
    results = [s.title for s in deck if s.kind == "result"]
    for label in ("Theorem 4.1", "Lemma 4.2", "Theorem 4.3", "Lemma 4.4", "Theorem 4.5", "Proposition 4.6"):
        assert any(r.startswith(label) for r in results), (label, results)
    _, deck2 = slides.lesson_slides(next(DOCS.glob("lesson2_*.md")))
    assert any("e_{t+1} = (I − D P) e_t" in payload for s in deck2 for k, payload in s.body if k == "code")


def test_embedded_deck_has_its_figures_inside(tmp_path):
    (path,) = [p for p in slides.build(tmp_path, embed=True) if p.name == "lesson3.html"]
    text = path.read_text()
    assert "data:image/png;base64," in text and 'src="../figures/' not in text


@pytest.mark.skipif(slides.chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("deck", DECKS, ids=lambda p: p.stem)
def test_every_slide_renders_in_a_browser(deck):
    report = slides.render_check(deck)
    assert len(report) == len(re.findall(r'<section class="slide', deck.read_text()))
    for r in report:
        assert not r["broken"], f"{deck.name} slide {r['slide']}: images not loaded {r['broken']}"
        assert not r["overflow"], f"{deck.name} slide {r['slide']} overflows even at the smallest text"
        assert r["text"] > 0


def test_rendered_pages_of_two_decks_are_in_the_figures():
    pages = sorted((DOCS / "figures" / "slides").glob("lesson*_*.png"))
    for n in (2, 4):
        deck = DOCS / "slides" / f"lesson{n}.html"
        count = len(re.findall(r'<section class="slide', deck.read_text()))
        assert len([p for p in pages if p.name.startswith(f"lesson{n}_")]) == count, \
            f"render them: python docs/scripts/slides.py --png lesson{n} -o docs/figures/slides"


def test_lesson7_full_scene_without_the_data_uses_the_sample(monkeypatch, tmp_path, capsys):
    import course
    import lesson7
    monkeypatch.setattr(course, "DATA", tmp_path / "no-data")
    course._said.clear()
    net, label, x4, px4, x8, px8, where, mu_pixels = lesson7._scene(False)
    assert where == "bundled sample image" and x4.shape[:2] == (48, 48) and x8.shape[:2] == (28, 43)
    for (y, x) in px4:
        assert 0 <= y < 4 * 48 and 0 <= x < 4 * 48
    for (y, x) in px8:
        assert 0 <= y < 8 * 28 and 0 <= x < 8 * 43
    for (y, x) in mu_pixels:                             # drawn on the ×4 crop's columns 8 … 39
        assert 0 <= y < 4 * 32 and 32 <= x < 4 * 40
    out = capsys.readouterr().out
    assert "Set14/baboon.png is not available: using a 48 × 48 crop of the bundled sample image" in out
    assert "docs/data.md" in out


def test_every_lesson_notebook_has_controls():
    for nb in sorted((DOCS / "notebooks").glob("lesson*.py")):
        assert re.search(r"^controls\(", nb.read_text(), re.M), f"{nb.name} has no controls (the index promises them)"


def _course_extra():
    try:
        import ipywidgets  # noqa: F401
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
        import ipykernel  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_course_extra() is not None, reason=f"the [course] extra is not installed ({_course_extra()})")
@pytest.mark.parametrize("name", ["lesson1", "lesson6"])
def test_controls_show_widgets_and_print_no_function(name, tmp_path):
    import jupytext
    import nbclient
    nb = jupytext.read(DOCS / "notebooks" / f"{name}.py")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env = {"MGBP_DOCS_SMALL": "1", "MGBP_DOCS_OUT": str(tmp_path)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(DOCS / "notebooks")}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    widgets, texts = 0, []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            widgets += "application/vnd.jupyter.widget-view+json" in data
            texts.append(out.get("text", "") + data.get("text/plain", ""))
    assert widgets >= 1, "the controls cell shows no widget"
    assert not any("<function" in t for t in texts), [t for t in texts if "<function" in t]


def test_student_pack_leaves_the_instructors_edition_out(tmp_path):
    out = tmp_path / "pack.zip"
    files = student_pack.build(out)
    names = zipfile.ZipFile(out).namelist()
    assert len(names) == len(files) > 50
    assert not [n for n in names if "/docs/instructor/" in n]
    for needed in ("docs/labs/grader.py", "docs/labs/lab1_ibp.py", "docs/slides/lesson1.html", "docs/index.md",
                   "mgbp_classic/__init__.py", "setup.cfg"):
        assert f"mgbp-course/{needed}" in names, needed
    zf = zipfile.ZipFile(out)
    for n in names:
        if re.search(r"docs/lesson\d_\w+\.md$", n):
            text = zf.read(n).decode()
            assert "<details>" not in text and "## Exercises" in text and "(★" in text, n


def test_course_extra_and_install_line():
    cfg = (ROOT / "setup.cfg").read_text()
    extra = re.search(r"^course =\n((?:    .+\n)+)", cfg, re.M)
    assert extra, "setup.cfg has no [course] extra"
    for pkg in ("jupyter", "jupytext", "ipywidgets"):
        assert re.search(rf"^    {pkg}\b", extra.group(1), re.M), pkg
    assert '.[course]"' in (ROOT / "README.md").read_text()
    assert '.[test,course]"' in (DOCS / "index.md").read_text()


def test_module_plan_places_every_lesson_and_lab():
    plan = (DOCS / "plan.md").read_text()
    weeks = re.findall(r"^\| (\d+) \|", plan, re.M)
    assert 7 <= len(weeks) <= 10 and weeks == [str(i) for i in range(1, len(weeks) + 1)]
    for n in range(1, 8):
        assert re.search(rf"\[Lesson {n}\]\(lesson{n}_\w+\.md\)", plan), n
    assert len(re.findall(r"\[Lesson 4\]\(lesson4_", plan)) == 2, "lesson 4 is taught over two weeks"
    for n in range(1, 6):
        assert f"**lab {n}**" in plan, n
    assert "## Prerequisites" in plan and "## The final project" in plan


def test_data_page_names_every_set_with_its_terms():
    page = (DOCS / "data.md").read_text()
    for name in ("Set5", "Set14", "BSD100", "T91", "BSDS200", "City100", "Facades"):
        row = next((line for line in page.splitlines() if line.startswith(f"| **{name}**")), None)
        assert row is not None, name
        assert len([c for c in row.split("|") if c.strip()]) == 5, name      # what, source, where, terms
    assert "MGBP_DATA" in page
