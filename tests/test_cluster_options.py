"""The cluster options (--workers, --scheduler) without Dask: what a fresh install without the
``[dask]`` extra meets. These tests run whether or not the extra is installed."""
import importlib
import sys

import pytest
from click.testing import CliRunner

import mgbp_classic
from mgbp_classic_cli.main import cli

SAMPLE = mgbp_classic.sample_image_path()


def test_without_dask_the_module_fails_as_a_missing_module_naming_the_extra(monkeypatch):
    # ModuleNotFoundError, not a plain ImportError: pytest.importorskip (and any caller that tests for a
    # missing optional module) then skips with the reason instead of failing
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.delitem(sys.modules, "mgbp_classic.distributed", raising=False)
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[dask\]"'):
        importlib.import_module("mgbp_classic.distributed")
    assert "mgbp_classic.distributed" not in sys.modules


def test_cluster_options_without_dask_name_the_extra(monkeypatch, tmp_path):
    # an import of mgbp_classic.distributed fails as it does when Dask is not installed
    monkeypatch.setitem(sys.modules, "mgbp_classic.distributed", None)
    result = CliRunner().invoke(cli, ["upscale", "--workers", "2", "--method", "bicubic", SAMPLE,
                                      "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert 'pip install -e ".[dask]"' in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()


def test_scheduler_and_workers_are_exclusive(tmp_path):
    result = CliRunner().invoke(cli, ["upscale", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
                                      "--method", "bicubic", SAMPLE, "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "not both" in result.output
