"""The CLI end to end on tiny settings: train -> evaluate -> report, reproduce fpa, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from attrbench.cli import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    text = _ok(["train", "--out", str(out), "--epochs", "1", "--train-limit", "64", "--test-limit",
                "16", "--augment", "fpa", "--augment-param", "p1_max=0.2", "--device", "cpu"])
    assert "test accuracy" in text
    return out


def test_train_writes_checkpoint_with_resolved_augmentation(trained: Path) -> None:
    sidecar = json.loads((trained / "model.json").read_text())
    text = json.dumps(sidecar)
    assert '"p1_max": 0.2' in text and '"s_max": 3' in text  # override + resolved preset value


def test_evaluate_then_report(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    text = _ok(["evaluate", "--checkpoint", str(trained / "model"), "--out", str(out),
                "--num-images", "3", "--method", "Random", "--method", "VG_abs", "--device", "cpu"])
    assert "report:" in text
    table = pd.read_csv(out / "fidelity_long.csv")
    assert set(table["variant"]) == {"Random", "VG_abs"} and set(table["augmentation"]) == {"fpa"}
    assert (out / "report.html").stat().st_size > 10_000
    (out / "report.html").unlink()
    _ok(["report", str(out)])
    assert (out / "report.html").exists()


def test_reproduce_fpa_tiny(tmp_path: Path) -> None:
    out = tmp_path / "fpa"
    _ok(["reproduce", "fpa", "--out", str(out), "--epochs", "1", "--train-limit", "32",
         "--num-images", "3", "--method", "IG_sum", "--method", "Random",
         "--method-param", "integrated_gradients.steps=4", "--device", "cpu"])
    table = pd.read_csv(out / "fidelity_long.csv")
    assert sorted(table["augmentation"].unique()) == ["fpa", "none", "rectangle"]
    accuracy = json.loads((out / "accuracy.json").read_text())
    assert set(accuracy) == {"none", "fpa", "rectangle"}
    assert {p.name for p in (out / "samples").iterdir()} == {"none.npz", "fpa.npz", "rectangle.npz"}


def test_help_on_every_command() -> None:
    for args in (["--help"], ["train", "--help"], ["evaluate", "--help"], ["report", "--help"],
                 ["reproduce", "fpa", "--help"], ["demo", "--help"], ["data", "--help"],
                 ["models", "--help"], ["versions", "--help"]):
        assert "Usage" in _ok(args)


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--out", "x", "--model", "small_cn"], "Unknown model 'small_cn'. Did you mean 'small_cnn'"),
    (["train", "--out", "x", "--recipe", "nope"], "Unknown recipe 'nope'"),
    (["train", "--out", "x", "--augment-param", "p1_max"], "write KEY=VALUE"),
    (["reproduce", "fpa", "--method-param", "steps=3"], "write METHOD.PARAM=VALUE"),
])
def test_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "attrbench", *args], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
