"""The labs' autograder: runs a lab's checks on a submission, gives partial credit, says what is wrong.

    python docs/labs/grader.py lab1 my_lab1.py                     # one submission, a report
    python docs/labs/grader.py lab1 submissions/*.py --csv marks.csv   # a class: one row per file
    python docs/labs/grader.py lab1 my_lab1.ipynb --json           # the report as JSON

A submission is the lab's notebook with its functions written: the jupytext ``.py`` file as handed
out, or an ``.ipynb`` saved from Jupyter. The grader takes from it the imports, the function (and
class) definitions and the UPPER_CASE constants, and nothing else — the other cells are the
student's to experiment in and are not run (a cell that does not even parse is left out, with a
note). Each check (``lab_checks.py``) calls the submitted
functions on inputs of its own and compares them with the package's implementation, with a time
limit (60 s by default; ``MGBP_LAB_TIMEOUT=SECONDS`` sets another for every check). A check gives its points, part of them, or none, always with a message:

* a function still raising ``NotImplementedError`` (the template) is "not written yet";
* a function that calls the package's own implementation of what the lab asks to write (the
  names each check forbids) scores nothing for that check, and the message says which name;
* an exception is reported with its type, its message and the line of the submission it came from;
* a wrong result is reported with what was checked, by how much it is off and, for the common
  mistakes, what the mistake probably is.

The checks need no reference solution: a student can run the grader on their own work. The
reference solutions are in ``docs/instructor/labs/``.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import signal
import sys
import traceback
import types
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


class NotWritten(Exception):
    """A submitted function still raises NotImplementedError."""


class CheckTimeout(Exception):
    pass


@dataclass
class Check:
    """One graded item of a lab.

    ``run(sub)`` receives the loaded submission (a module) and returns ``(fraction, message)``,
    ``fraction`` in [0, 1] of ``points``. ``needs`` names the submitted functions it calls;
    ``forbid`` the names those functions (and the submission's functions they call) must not use.
    """
    name: str
    points: float
    needs: tuple
    run: object
    forbid: tuple = ()
    timeout: float = 60.0


@dataclass
class Lab:
    key: str
    title: str
    template: str               # file name of the template in docs/labs/
    checks: list = field(default_factory=list)

    @property
    def points(self):
        return sum(c.points for c in self.checks)


@dataclass
class Item:
    name: str
    earned: float
    points: float
    message: str


@dataclass
class Report:
    lab: str
    submission: str
    items: list

    @property
    def earned(self):
        return round(sum(i.earned for i in self.items), 2)

    @property
    def points(self):
        return sum(i.points for i in self.items)

    def text(self):
        lines = [f"{self.lab}: {self.submission}"]
        for i in self.items:
            lines.append(f"  [{_fmt(i.earned)}/{_fmt(i.points)}] {i.name}: {i.message}")
        lines.append(f"  total {_fmt(self.earned)}/{_fmt(self.points)}")
        return "\n".join(lines)

    def to_dict(self):
        return {"lab": self.lab, "submission": self.submission, "earned": self.earned,
                "points": self.points, "items": [asdict(i) for i in self.items]}


def _fmt(x):
    return f"{x:g}"


# ------------------------------------------------------------------------------------------------
# reading a submission

def submission_source(path):
    """The Python source of a submission: the ``.py`` file, or the code cells of an ``.ipynb``
    (lines starting with ``%`` or ``!`` — IPython magics and shell commands — dropped)."""
    path = Path(path)
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        cells = []
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            cells.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                   for line in src.splitlines()))
        return "".join(f"# %% (cell)\n{c}\n\n" for c in cells)
    return path.read_text()


def _kept(node):
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t for t in targets if isinstance(t, ast.Name)]
        return bool(names) and len(names) == len(targets) and all(t.id.isupper() for t in names)
    return False


def parse_cells(source, path="<submission>"):
    """``(tree, skipped)``: the parsed source, or — when it does not parse as a whole — every cell
    (split at the ``# %%`` lines) that does, with ``skipped`` the syntax errors of the others, so that a
    broken experiment cell does not cost the functions of the other cells."""
    try:
        return ast.parse(source, filename=str(path)), []
    except SyntaxError:
        pass
    lines = source.splitlines(keepends=True)
    starts = sorted({0} | {i for i, line in enumerate(lines) if line.startswith("# %%")})
    body, skipped = [], []
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        try:
            cell = ast.parse("".join(lines[a:b]), filename=str(path))
        except SyntaxError as exc:
            skipped.append(f"line {(exc.lineno or 1) + a}: {exc.msg}")
            continue
        ast.increment_lineno(cell, a)
        body.extend(cell.body)
    return ast.Module(body=body, type_ignores=[]), skipped


def load_submission(path):
    """``(module, tree, skipped)``: the submission's imports, definitions and constants, executed in a
    fresh module (``tree`` is the parsed source, for the forbidden-name checks; ``skipped`` the syntax
    errors of cells left out). Raises whatever the kept code raises."""
    path = Path(path)
    tree, skipped = parse_cells(submission_source(path), path)
    kept = ast.Module(body=[n for n in tree.body if _kept(n)], type_ignores=[])
    module = types.ModuleType(f"submission_{abs(hash(str(path)))}")
    module.__file__ = str(path)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    exec(compile(kept, str(path), "exec"), module.__dict__)
    return module, tree, skipped


def _functions(tree):
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _imports(tree):
    """Top-level import aliases of the submission: ``{local name: qualified name}``."""
    table = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                table[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                table[a.asname or a.name] = f"{node.module}.{a.name}"
    return table


def used_names(tree, roots):
    """Every identifier used in the top-level functions ``roots`` and in the top-level functions they
    call, transitively: names, attributes, and the qualified names of the imports they refer to."""
    funcs = _functions(tree)
    imports = _imports(tree)
    seen, todo, names = set(), [r for r in roots if r in funcs], set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for node in ast.walk(funcs[f]):
            if isinstance(node, ast.Name):
                names.add(node.id)
                if node.id in imports:
                    names.add(imports[node.id])
                if node.id in funcs and node.id not in seen:
                    todo.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
                names.add("." + node.attr)          # forbid ".name" to match attributes only
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = getattr(node, "module", None)
                for a in node.names:
                    names.add(a.name)
                    if module:
                        names.add(f"{module}.{a.name}")
    return names


def forbidden_uses(tree, roots, forbid):
    """The entries of ``forbid`` that the functions use: a plain name matches a name or the last part
    of an imported name; a dotted name (a module) matches everything imported from it; ``.name``
    matches an attribute only (``obj.name``, not a local variable called ``name``)."""
    used = used_names(tree, roots)
    bad = set()
    for f in forbid:
        for u in used:
            if u == f or (not f.startswith(".") and (u.split(".")[-1] == f or ("." in f and u.startswith(f + ".")))):
                bad.add(f)
    return sorted(bad)


# ------------------------------------------------------------------------------------------------
# running the checks

@contextmanager
def _time_limit(seconds):
    """SIGALRM-based limit (main thread of a Unix process); a no-op elsewhere."""
    usable = hasattr(signal, "SIGALRM") and _main_thread()
    if not usable or not seconds:
        yield
        return

    def handler(signum, frame):
        raise CheckTimeout()
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _main_thread():
    import threading
    return threading.current_thread() is threading.main_thread()


def _where(exc, path):
    """``line N (in f)`` of the deepest frame of the submission in the exception's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == Path(path)]
    if not frames:
        return ""
    f = frames[-1]
    return f" at line {f.lineno} of the submission (in {f.name}: {f.line.strip() if f.line else ''})"


def call(fn, *args, **kwargs):
    """Call a submitted function; a NotImplementedError becomes :class:`NotWritten`."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotWritten(fn.__name__) from None


def run_check(check, module, tree, path, skipped=()):
    missing = [n for n in check.needs if not callable(getattr(module, n, None))]
    if missing:
        why = f" (a cell that does not parse was left out: {skipped[0]})" if skipped else ""
        return 0.0, f"the submission has no function {', '.join(missing)}{why}"
    if check.forbid:
        bad = forbidden_uses(tree, check.needs, check.forbid)
        if bad:
            return 0.0, (f"{', '.join(check.needs)} uses {', '.join(bad)} from the package: this exercise asks "
                         f"you to write it yourself")
    limit = float(os.environ.get("MGBP_LAB_TIMEOUT") or check.timeout)
    try:
        with _time_limit(limit):
            fraction, message = check.run(module)
    except NotWritten as exc:
        return 0.0, f"{exc.args[0]} is not written yet (it raises NotImplementedError)"
    except CheckTimeout:
        return 0.0, f"took longer than {limit:g} s (an endless loop, or far too slow?)"
    except Exception as exc:                    # noqa: BLE001 — a student's error is a message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return 0.0, f"raised {type(exc).__name__}{': ' + text if text else ''}{_where(exc, path)}"
    return max(0.0, min(1.0, float(fraction))), message


def grade(lab, path):
    """Grade one submission of ``lab`` (a key of :data:`lab_checks.LABS` or a :class:`Lab`)."""
    if isinstance(lab, str):
        lab = get_lab(lab)
    path = Path(path)
    try:
        module, tree, skipped = load_submission(path)
    except Exception as exc:                    # noqa: BLE001
        msg = f"loading the file raised {type(exc).__name__}: {exc}{_where(exc, path)}"
        return Report(lab.key, str(path), [Item(c.name, 0.0, c.points, msg) for c in lab.checks])
    items = []
    for check in lab.checks:
        fraction, message = run_check(check, module, tree, path, skipped)
        items.append(Item(check.name, round(fraction * check.points, 2), check.points, message))
    return Report(lab.key, str(path), items)


def get_lab(key):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import lab_checks
    try:
        return lab_checks.LABS[key]
    except KeyError:
        raise SystemExit(f"unknown lab {key!r}: one of {', '.join(lab_checks.LABS)}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description="Grade lab submissions (partial credit, with messages).")
    parser.add_argument("lab", help="lab1 … lab5")
    parser.add_argument("submissions", nargs="+", help=".py (jupytext) or .ipynb files")
    parser.add_argument("--csv", help="write one row per submission (file, total, every check) to this file")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("MGBP_LAB_QUICK", "1")        # the submitted notebooks' long cells are not run anyway
    lab = get_lab(args.lab)
    reports = [grade(lab, s) for s in args.submissions]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        print("\n\n".join(r.text() for r in reports))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["submission", "total", "out of"] + [c.name for c in lab.checks])
            for r in reports:
                w.writerow([r.submission, r.earned, r.points] + [i.earned for i in r.items])
    return reports


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    import grader                  # the checks import this module as `grader`: one set of classes
    grader.main()
