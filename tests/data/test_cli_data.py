"""``attrbench data list`` and ``attrbench data info`` through Typer's test runner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import attrbench.cli.data  # noqa: F401  (registers the ``data`` group on ``app``)
from attrbench.cli import main
from attrbench.cli.app import app
from attrbench.errors import AttrbenchError

runner = CliRunner()


def test_data_list_shows_every_dataset() -> None:
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    for name in ("cifar10", "cifar10-jpeg", "cifar10-mini", "imagefolder", "mnist-mini"):
        assert name in result.output
    assert "root/[split/]<class>/<image>" in result.output  # markup escaped, not swallowed


def test_data_info_embedded_histogram() -> None:
    result = runner.invoke(app, ["data", "info", "cifar10-mini", "--split", "train"])
    assert result.exit_code == 0, result.output
    assert "5,000 images" in result.output and "(3, 32, 32)" in result.output
    assert result.output.count("500") >= 10 and "truck" in result.output


def test_data_info_folder(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "imgs", {"cats": 2, "dogs": 3}, size=(10, 12))
    result = runner.invoke(app, ["data", "info", str(tmp_path / "imgs"), "--image-size", "8"])
    assert result.exit_code == 0, result.output
    assert "imagefolder" in result.output and "5 images" in result.output and "(3, 8, 8)" in result.output


def test_data_help() -> None:
    for args in (["data", "--help"], ["data", "list", "--help"], ["data", "info", "--help"]):
        assert runner.invoke(app, args).exit_code == 0


def test_bad_name_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    result = runner.invoke(app, ["data", "info", "mnist"])
    assert isinstance(result.exception, AttrbenchError)
    monkeypatch.setattr(sys, "argv", ["attrbench", "data", "info", "mnist"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown dataset 'mnist'. Did you mean 'mnist-mini'?" in err
