"""A typical mistake for each lab, and what the grader says about it.

    python docs/instructor/labs/mistakes.py            # grade every one and print the reports
    python docs/instructor/labs/mistakes.py lab3       # one lab

Each mistake is a small change of the reference solution (a line replaced), graded like a
student's submission: it shows a lecturer what partial marks look like, and ``tests/test_labs.py``
checks that each one keeps its partial score and its message.
"""
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABS = HERE.parents[1] / "labs"


@dataclass(frozen=True)
class Mistake:
    what: str          # the mistake, in words
    solution: str      # the reference solution it changes (file in this folder)
    old: str           # a line of the solution …
    new: str           # … and what the mistaken submission has instead
    says: str          # a fragment of the grader's message
    score: float       # the grader's total for it (of 10)


MISTAKES = {
    "lab1": Mistake("the residual's sign reversed in the IBP update", "lab1_ibp.py",
                    "            y = y + P(e)\n", "            y = y - P(e)\n",
                    "the residual is X − D(Y), not D(Y) − X", 7.5),
    "lab2": Mistake("line 3 of BP without the recursion (d = D(u))", "lab2_multigrid.py",
                    "            d = back_project(D(u), k - 1, ys, mu, D, P)\n", "            d = D(u)\n",
                    "line 3 must hand (u ∗ g) ↓ 2 to BP^µ_{k−1}", 6.0),
    "lab3": Mistake("the input gradient computed with the flipped kernel", "lab3_conv_backward.py",
                    '            dxp[:, :, rows, cols] += np.einsum("oc,noij->ncij", w[:, :, xi, eta], dy)\n',
                    '            dxp[:, :, rows, cols] += np.einsum("oc,noij->ncij", w[:, :, ell - 1 - xi, ell - 1 - eta], dy)\n',
                    "dx uses the kernel flipped", 8.5),
    "lab4": Mistake("Adam without its bias correction", "lab4_tiny_training.py",
                    "    params[...] = params - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)\n",
                    "    params[...] = params - lr * m / (np.sqrt(v) + eps)\n",
                    "the update has no bias correction", 9.0),
    "lab5": Mistake("the output pixel indexed (x, y) instead of (y, x) in the backward pass", "lab5_deep_filter.py",
                    "    seed[0, channel, pixel[0], pixel[1]] = 1.0\n", "    seed[0, channel, pixel[1], pixel[0]] = 1.0\n",
                    "a pixel is (y, x) = (row, column)", 7.0),
}


def mistaken_source(lab):
    """The text of the mistaken submission of ``lab``."""
    m = MISTAKES[lab]
    text = (HERE / m.solution).read_text()
    if text.count(m.old) != 1:
        raise ValueError(f"{lab}: the line to change is not (once) in {m.solution}: {m.old!r}")
    return text.replace(m.old, m.new)


def write_mistake(lab, folder):
    """Write the mistaken submission of ``lab`` into ``folder``; returns its path."""
    path = Path(folder) / MISTAKES[lab].solution.replace(".py", "_mistake.py")
    path.write_text(mistaken_source(lab))
    return path


def main(argv=None):
    labs = (argv if argv is not None else sys.argv[1:]) or list(MISTAKES)
    sys.path.insert(0, str(LABS))
    import grader
    with tempfile.TemporaryDirectory() as tmp:
        for lab in labs:
            print(f"# {lab}: {MISTAKES[lab].what}")
            print(grader.grade(lab, write_mistake(lab, tmp)).text(), end="\n\n")


if __name__ == "__main__":
    main()
