"""Every number the lessons quote, recomputed by the code of the package.

The claims themselves are registered at the bottom of each lesson's figure module
(``docs/scripts/lessonN.py``), beside the functions that compute them.

A :class:`Claim` names a lesson, a fragment of its text with ``¤`` where each quoted number stands, and
a function that computes those numbers today. ``tests/test_claims.py`` finds every fragment in its
lesson, reads the numbers printed there and compares them with the computed ones (to the printed
precision unless a claim says otherwise), and checks that no decimal number in a lesson escapes the
registry (:data:`EXEMPT` lists the few that are definitions, not results: the luma weights, a learning
rate, a quotation from the paper).

Run ``python docs/scripts/claims.py`` to print every claim with the value it has today, or
``python docs/scripts/claims.py --rewrite [--only PREFIX]`` to write today's values into the lessons
(how ``refresh_model.py`` updates the numbers about the shipped model; re-read the sentences around
them afterwards — the registry checks numbers, not the readings built on them).

Model-dependent values (lessons 6 and 7) are too slow to recompute in a test; they are measured by
``refresh_model.py`` into ``docs/figures/model_measurements.json`` together with the SHA-256 of the
model file, and the claims read them from there. The test fails when the shipped model no longer
matches the recorded hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
DATA = Path(os.environ.get("MGBP_DATA") or ROOT.parent / "shared" / "data")     # as docs/scripts/course.py
MEASUREMENTS = DOCS / "figures" / "model_measurements.json"
PLACEHOLDER = "¤"

SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
TO_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")

#: A number as the lessons print it: optional sign (ASCII or Unicode minus), digits with optional
#: thousands commas, optional decimals, optional exponent written ``·10⁻⁵`` or ``e-5``.
NUMBER = r"[−\-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:·10[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+|e[−\-+]?\d+)?"


def parse_number(text: str) -> float:
    """The value of a number printed as :data:`NUMBER` matches it."""
    t = text.replace("−", "-").replace(",", "")
    if "·10" in t:
        mantissa, exponent = t.split("·10")
        return float(mantissa) * 10.0 ** int(exponent.translate(SUPERSCRIPT))
    return float(t)


def decimals(text: str) -> int:
    """Digits after the decimal point of the mantissa (0 for integers)."""
    mantissa = re.split(r"·10|e", text.replace("−", "-"))[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def half_unit(text: str) -> float:
    """Half a unit in the last printed digit: the rounding tolerance of a printed number."""
    t = text.replace("−", "-").replace(",", "")
    scale = 1.0
    if "·10" in t:
        scale = 10.0 ** int(t.split("·10")[1].translate(SUPERSCRIPT))
    elif "e" in t:
        scale = 10.0 ** int(t.split("e")[1])
    return 0.5 * 10.0 ** -decimals(text) * scale


def sci(value: float, digits: int = 1) -> str:
    """``3.9·10⁻⁵`` style."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{mantissa}·10{str(int(exponent)).translate(TO_SUPERSCRIPT)}"


def fixed(digits: int) -> Callable[[float], str]:
    def fmt(value):
        text = f"{value:.{digits}f}"
        return text.replace("-", "−") if text.startswith("-") else text
    return fmt


def thousands(value: float) -> str:
    return f"{int(round(value)):,}"


@dataclass
class Claim:
    """A fragment of a lesson with ``¤`` for each number, and how to compute the numbers.

    ``compute`` returns one value per ``¤`` (a number, or a sequence of numbers). ``formats`` renders
    them for :func:`rewrite` (default: the precision already printed). ``tol`` is an absolute tolerance
    per value; ``None`` means half a unit in the last printed digit (the number is the computed one,
    rounded as printed).
    """
    id: str
    lesson: str
    text: str
    compute: Callable[[], object]
    tol: float | Sequence[float] | None = None
    formats: Sequence[Callable[[float], str]] | None = None
    note: str = ""
    #: "equal" (the printed number is the value, rounded), or "bound": the printed number is an upper
    #: bound the computed value must not exceed ("within 1%").
    kind: str = "equal"

    def values(self) -> list[float]:
        import numpy as np
        return [float(x) for x in np.ravel(np.asarray(self.compute(), dtype=float))]

    def pattern(self) -> re.Pattern:
        parts = [re.escape(p) for p in self.text.split(PLACEHOLDER)]
        return re.compile(f"({NUMBER})".join(parts))

    def find(self, lesson_text: str) -> list[re.Match]:
        return list(self.pattern().finditer(lesson_text))


@dataclass
class Check:
    """A statement about the code that the lesson makes in words (a name that must exist, a call that
    must not raise); ``run`` raises or returns False when the lesson has gone stale."""
    id: str
    lesson: str
    text: str
    run: Callable[[], bool]
    note: str = ""


class MissingData(Exception):
    """A claim about the test images, which are not part of the repository (``../shared/data``)."""


def need_data(*parts) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise MissingData(f"{path} is not available")
    return path


CLAIMS: list[Claim] = []
CHECKS: list[Check] = []

#: Decimal numbers that are definitions or quotations, not results (lesson, literal fragment, why).
EXEMPT: list[tuple[str, str, str]] = []


INDEX = "index.md"


def claim(id, lesson, text, tol=None, formats=None, note="", kind="equal"):
    """Decorator: register the decorated function as the computation of a claim."""
    def register(fn):
        CLAIMS.append(Claim(id, lesson, text, fn, tol, formats, note, kind))
        return fn
    return register


def check(id, lesson, text, note=""):
    def register(fn):
        CHECKS.append(Check(id, lesson, text, fn, note))
        return fn
    return register


def exempt(lesson, text, why):
    EXEMPT.append((lesson, text, why))


# --------------------------------------------------------------------------------------------------
# shared computations (cached: several claims read the same run)

def _scripts():
    here = str(DOCS / "scripts")
    if here not in sys.path:
        sys.path.insert(0, here)


@lru_cache(None)
def model_measurements() -> dict:
    """The measurements of the shipped model written by ``refresh_model.py`` (checked against its hash)."""
    if not MEASUREMENTS.exists():
        raise FileNotFoundError(f"{MEASUREMENTS} is missing: run python docs/scripts/refresh_model.py")
    return json.loads(MEASUREMENTS.read_text())


def model_hash(path=None) -> str:
    from mgbp_classic.inference import default_model_path
    data = Path(path or default_model_path()).read_bytes()
    return hashlib.sha256(data).hexdigest()


def measured(*keys):
    """A function returning the recorded model measurements at ``keys`` (dotted paths)."""
    def get():
        out = []
        for key in keys:
            node = model_measurements()
            for part in key.split("."):
                node = node[part]
            out.append(node)
        return out
    return get


#: The instructor's pages with the solutions of each lesson's exercises (claims there are checked too).
SOLUTIONS = {n: f"instructor/solutions/lesson{n}.md" for n in range(1, 8)}

LESSONS = {1: "lesson1_upsampling.md", 2: "lesson2_ibp.md", 3: "lesson3_multigrid.md",
           4: "lesson4_convergence.md", 5: "lesson5_convnet.md", 6: "lesson6_network.md",
           7: "lesson7_deepfilter.md"}


def load_all():
    """Import every lesson's figure module: each registers its claims at the bottom, beside the code
    that makes the figures (the same functions compute both)."""
    _scripts()
    import importlib
    exempt(INDEX, "| 2 h |", "a time estimate")
    exempt(INDEX, "| 1.5 h |", "a time estimate")
    exempt(INDEX, "| 3 h |", "a time estimate")
    exempt(INDEX, "about 8.5 hours", "a time estimate")
    exempt(INDEX, "σ = 1.5", "the protocol's definition of SSIM")
    for n in LESSONS:
        importlib.import_module(f"lesson{n}")
    return CLAIMS, CHECKS, EXEMPT


#: A decimal number right after these words is a label (Theorem 4.1, §2.3), not a quantity.
LABEL = re.compile(r"(Theorems?|Lemmas?|Propositions?|Observations?|Definition|Table|Figure|Exercise|lesson|Time:|§)\s*"
                   r"(?:\d+\.\d+\s*(?:–|,|and)\s*)*$")
#: Numbers the coverage scan looks at: a decimal point, an exponent or a percentage. Small integers
#: (levels, µ, channel counts) are parameters, not results; counted results written as integers are
#: registered claims all the same.
QUANTITATIVE = re.compile(rf"(?<![\w.]){NUMBER}(?![\w])")


def loose_numbers(page: str) -> list[str]:
    """Quantitative numbers of ``page`` that no claim and no exemption covers (one line each)."""
    text = lesson_text(page)
    covered = []
    for c in CLAIMS:
        if c.lesson == page:
            covered += [m.span() for m in c.find(text)]
    for lesson, fragment, _ in EXEMPT:
        if lesson == page:
            start = text.find(fragment)
            if start < 0:
                raise AssertionError(f"exempt fragment {fragment!r} not in {page}")
            while start >= 0:
                covered.append((start, start + len(fragment)))
                start = text.find(fragment, start + 1)
    loose = []
    for m in QUANTITATIVE.finditer(text):
        token, after = m.group(0), text[m.end():m.end() + 1]
        if not ("." in token or "·10" in token or "e" in token.lower() or after == "%"):
            continue
        if LABEL.search(text[max(0, m.start() - 40):m.start()]):
            continue
        if any(a <= m.start() and m.end() <= b for a, b in covered):
            continue
        line = text.count("\n", 0, m.start()) + 1
        loose.append(f"line {line}: {token!r} in …{text[max(0, m.start() - 40):m.end() + 20]!r}…")
    return loose


def lesson_text(name: str) -> str:
    return (DOCS / name).read_text()


def rewrite(prefix: str = "") -> list[tuple[str, str, str]]:
    """Write today's values into the lessons for every claim whose id starts with ``prefix``; returns
    ``(claim id, old fragment, new fragment)`` for every change."""
    load_all()
    changes = []
    texts: dict[str, str] = {}
    for c in CLAIMS:
        if not c.id.startswith(prefix) or c.kind != "equal":
            continue                  # a bound ("within 1%") is written by hand, not rewritten
        text = texts.setdefault(c.lesson, lesson_text(c.lesson))
        values = c.values()
        for m in c.find(text):
            printed = m.groups()
            new_parts = []
            for i, (old, value) in enumerate(zip(printed, values)):
                if c.formats:
                    new_parts.append(c.formats[i](value))
                elif "·10" in old:
                    new_parts.append(sci(value, decimals(old)))
                elif "," in old:
                    new_parts.append(thousands(value))
                else:
                    new_parts.append(fixed(decimals(old))(value))
            pieces = c.text.split(PLACEHOLDER)
            fragment = pieces[0] + "".join(v + p for v, p in zip(new_parts, pieces[1:]))
            if fragment != m.group(0):
                changes.append((c.id, m.group(0), fragment))
                text = text.replace(m.group(0), fragment)
        texts[c.lesson] = text
    for name, text in texts.items():
        (DOCS / name).write_text(text)
    return changes


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Print or rewrite the numbers the lessons quote.")
    parser.add_argument("--rewrite", action="store_true", help="write today's values into the lessons")
    parser.add_argument("--only", default="", help="only claims whose id starts with this prefix")
    args = parser.parse_args()
    _scripts()
    import claims as registry        # the lessons register into the module, not into __main__
    if args.rewrite:
        for cid, old, new in registry.rewrite(args.only):
            print(f"{cid}:\n  - {old}\n  + {new}")
    else:
        registry.load_all()
        for c in registry.CLAIMS:
            if c.id.startswith(args.only):
                print(f"{c.id:28s} {c.lesson:24s} {c.values()}")
