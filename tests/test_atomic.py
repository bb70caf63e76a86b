"""atomic_write: the one way the package writes a file (new content or the old file, never a partial one)."""
import os
import stat

import pytest

from mgbp_classic.atomic import atomic_write, current_umask


def test_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write("new")
        assert target.read_text() == "old"                      # unchanged until the block ends
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_an_error_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_write(target) as fh:
            fh.write(b"half")
            raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_permissions_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        with atomic_write(tmp_path / "a.bin") as fh:
            fh.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o640


def test_temporary_name_is_short_and_unique_even_for_long_names(tmp_path):
    target = tmp_path / ("x" * 240 + ".png")                     # a 244-character name: no room for a suffix
    seen = []
    for _ in range(2):
        with atomic_write(target) as fh:
            seen += [p.name for p in tmp_path.iterdir() if p.name != target.name]
            fh.write(b"x")
    assert seen[0] != seen[1] and all(len(name) < 60 and name.startswith(".") for name in seen)
    assert target.read_bytes() == b"x"


def test_missing_directory_and_bad_mode(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "no" / "such.txt", "w") as fh:
            fh.write("x")
    with pytest.raises(ValueError, match=r"^mode must be 'wb' or 'w', got 'a'$"):
        with atomic_write(tmp_path / "f", "a"):
            pass
