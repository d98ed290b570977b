"""``attrbench roar`` / ``attrbench iteroar`` end to end on tiny settings, report and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import attrbench.cli.roar  # noqa: F401  (registers the commands until cli/__init__ imports it)
from attrbench.cli.app import app
from attrbench.errors import AttrbenchError

runner = CliRunner()
TINY = ["--epochs", "1", "--train-limit", "48", "--test-limit", "24", "--batch-size", "24",
        "--device", "cpu", "--repeats", "1"]


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_roar_cli_writes_report(tmp_path: Path) -> None:
    text = _ok(["roar", "--out", str(tmp_path), "--method", "random,VG_abs", "--thresholds",
                "50", *TINY])
    assert "roar vanilla_gradient|abs_sum t=50 repeat 0" in text
    assert (tmp_path / "report.html").stat().st_size > 1000
    assert (tmp_path / "figures" / "accuracy.png").exists()


@pytest.mark.filterwarnings("ignore::attrbench.metrics.functional.ranking.ConstantMapWarning")
def test_iteroar_cli_with_leakage_and_report(tmp_path: Path) -> None:
    text = _ok(["iteroar", "--out", str(tmp_path), "--method", "grad_cam|positive_sum",
                "--tau", "90", "--rho", "0.2", *TINY, "--leakage", "--leakage-epochs", "1"])
    assert "mamo_frac_mask" in text and text.count("leakage grad_cam|positive_sum") == 1
    html = (tmp_path / "report.html").read_text()
    assert "Mask-leakage test" in html and "Mask overlap" in html
    assert (tmp_path / "figures" / "pairwise_grad_cam+positive_sum.png").exists()


def test_cli_errors(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match="--thresholds must be comma-separated numbers"):
        runner.invoke(app, ["roar", "--out", str(tmp_path), "--thresholds", "ten"],
                      catch_exceptions=False)
    with pytest.raises(AttrbenchError, match="more than rho\\*A"):
        runner.invoke(app, ["iteroar", "--out", str(tmp_path), "--iterations", "20", *TINY],
                      catch_exceptions=False)
    with pytest.raises(AttrbenchError, match="Unknown mask operation 'convex'"):
        runner.invoke(app, ["iteroar", "--out", str(tmp_path), "--leakage", "--mask-op", "convex"],
                      catch_exceptions=False)
    with pytest.raises(AttrbenchError, match="add --leakage to run them"):
        runner.invoke(app, ["iteroar", "--out", str(tmp_path), "--leakage-iteration", "0"],
                      catch_exceptions=False)
    with pytest.raises(AttrbenchError, match="Leakage iterations must lie in 0..9"):
        runner.invoke(app, ["iteroar", "--out", str(tmp_path), "--leakage",
                            "--leakage-iteration", "10"], catch_exceptions=False)
    assert not (tmp_path / "train").exists()  # refused before anything was trained
