"""Shared fixtures: the read-only image data beside the project (../shared/data)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir():
    """``../shared/data`` (training and test images); tests that need it skip only if it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"image data not found at {DATA}")
    return DATA
