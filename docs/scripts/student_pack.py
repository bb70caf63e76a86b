"""The course as students get it: the repository without the instructor's edition.

    python docs/scripts/student_pack.py [-o mgbp-course-student.zip]

Writes a zip of the repository's files (those git tracks, or every file when there is no git
checkout) without ``docs/instructor/`` — the solutions of the exercises, the labs' reference
solutions and their typical mistakes. Everything else is in it: the package, the lessons, the
notebooks, the labs' templates, the grader, the slides, the tests (those that need the instructor's
edition skip without it).
"""
import argparse
import subprocess
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Left out of the pack (paths relative to the repository).
EXCLUDED = ("docs/instructor/",)


def repository_files(root=ROOT):
    """Relative paths of the repository's files: git's list (tracked, and new files not ignored) when it
    is a checkout, else a walk."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True)
        files = [f for f in out.stdout.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = [str(p.relative_to(root)) for p in root.rglob("*")
                 if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts]
    return sorted(f for f in files if (root / f).is_file())


def pack_files(root=ROOT):
    """The files that go into the pack."""
    return [f for f in repository_files(root) if not f.startswith(EXCLUDED)]


def build(out, root=ROOT, prefix="mgbp-course"):
    """Write the zip ``out``; returns the list of files in it."""
    files = pack_files(root)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(root / f, f"{prefix}/{f}")
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="mgbp-course-student.zip", help="the zip to write")
    args = parser.parse_args(argv)
    files = build(args.out)
    print(f"wrote {args.out}: {len(files)} files, without {', '.join(EXCLUDED)}")


if __name__ == "__main__":
    main()
