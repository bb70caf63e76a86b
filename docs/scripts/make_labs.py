"""Write the students' lab notebooks (``docs/labs/labN_*.py``) from the reference solutions.

    python docs/scripts/make_labs.py            # rewrite docs/labs/lab*.py
    python docs/scripts/make_labs.py --check    # exit 1 if a template is out of date

The reference solutions (``docs/instructor/labs/labN_*.py``) mark every answer with

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

(the markers of nbgrader). The template keeps everything else and replaces each marked block by
``# YOUR CODE HERE`` and ``raise NotImplementedError`` at the block's indentation, so the lab the
students get and the solution the lecturer keeps never drift apart; ``tests/test_labs.py`` checks
that the templates are up to date.
"""
import argparse
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
SOLUTIONS = DOCS / "instructor" / "labs"
TEMPLATES = DOCS / "labs"

BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n", re.S | re.M)


def template_of(solution_text):
    """The students' version of a solution notebook."""
    if "### BEGIN SOLUTION" not in solution_text:
        raise ValueError("no ### BEGIN SOLUTION block")
    out = BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError\n", solution_text)
    if "### BEGIN SOLUTION" in out or "### END SOLUTION" in out:
        raise ValueError("an unmatched ### BEGIN/END SOLUTION marker")
    return out


def templates():
    """``{template path: text}`` for every reference solution."""
    return {TEMPLATES / p.name: template_of(p.read_text()) for p in sorted(SOLUTIONS.glob("lab*.py"))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the templates are up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in templates().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
                print("wrote", path)
    if args.check and stale:
        print("out of date:", ", ".join(p.name for p in stale), "(python docs/scripts/make_labs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
