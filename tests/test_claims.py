"""Every number a lesson quotes is the number the code computes today (docs/scripts/claims.py)."""
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS / "scripts"))

import claims as C  # noqa: E402

CLAIMS, CHECKS, EXEMPT = C.load_all()
SOLUTION_PAGES = sorted(C.SOLUTIONS.values())
PAGES = sorted(set(C.LESSONS.values())) + SOLUTION_PAGES + ["index.md"]


def _skip_without_instructors_edition(page):
    """The student pack has no docs/instructor/: the claims of the solution pages are skipped there."""
    if page in SOLUTION_PAGES and not (DOCS / page).exists():
        pytest.skip(f"{page} is part of the instructor's edition, not of this copy")



def test_registry_is_well_formed():
    ids = [c.id for c in CLAIMS] + [c.id for c in CHECKS]
    assert len(ids) == len(set(ids)), "claim ids must be unique"
    for c in CLAIMS:
        assert c.lesson in PAGES, c.id
        assert C.PLACEHOLDER in c.text, f"{c.id}: no {C.PLACEHOLDER} in its text"


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_quoted_number_is_computed(claim):
    _skip_without_instructors_edition(claim.lesson)
    text = C.lesson_text(claim.lesson)
    matches = claim.find(text)
    assert matches, f"{claim.lesson} no longer contains the fragment of claim {claim.id!r}: {claim.text!r}"
    try:
        values = claim.values()
    except C.MissingData as exc:
        pytest.skip(str(exc))
    for m in matches:
        printed = m.groups()
        assert len(printed) == len(values), f"{claim.id}: {len(printed)} numbers in the text, {len(values)} computed"
        tols = claim.tol if isinstance(claim.tol, (list, tuple)) else [claim.tol] * len(values)
        for number, value, tol in zip(printed, values, tols):
            quoted = C.parse_number(number)
            if claim.kind == "bound":
                assert value <= quoted, f"{claim.lesson}: {m.group(0)!r} bounds by {number}, the code computes {value:.6g}"
                continue
            limit = C.half_unit(number) * (1 + 1e-9) if tol is None else tol
            assert abs(quoted - value) <= limit, (
                f"{claim.lesson}: {m.group(0)!r} quotes {number}, the code computes {value:.6g} "
                f"(claim {claim.id}; tolerance {limit:.2g})")


@pytest.mark.parametrize("chk", CHECKS, ids=[c.id for c in CHECKS])
def test_statement_about_the_code_holds(chk):
    _skip_without_instructors_edition(chk.lesson)
    assert chk.text in C.lesson_text(chk.lesson), f"{chk.lesson} no longer says {chk.text!r}"
    assert chk.run() is not False, f"{chk.lesson}: {chk.text!r} is no longer true ({chk.id})"


@pytest.mark.parametrize("page", PAGES)
def test_every_quoted_number_is_registered(page):
    """No decimal number, exponent or percentage in a lesson escapes the registry."""
    _skip_without_instructors_edition(page)
    loose = C.loose_numbers(page)
    assert not loose, f"{page}: numbers without a claim (docs/scripts/claims.py):\n" + "\n".join(loose)


def test_model_measurements_are_of_the_shipped_model():
    """Lessons 6–7 quote the shipped model; the recorded measurements must be of that model."""
    recorded = C.model_measurements()["model_sha256"]
    assert recorded == C.model_hash(), (
        "the shipped model changed since the numbers of lessons 6-7 were measured: "
        "run python docs/scripts/refresh_model.py")
