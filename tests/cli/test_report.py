"""``attrbench report DIR`` rebuilds any benchmark's report from the folder's stored files: the
folder's config.json names the benchmark (older folders are recognised by their contents)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch import nn
from typer.testing import CliRunner

from attrbench.benchmarks import benchmark_of, list_benchmarks
from attrbench.cli import app
from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.fpa import evaluate
from attrbench.results import ResultStore, recorded_benchmark
from attrbench.robustness.results import ROBUSTNESS_ROWS


def _report(root: Path) -> str:
    result = CliRunner().invoke(app, ["report", str(root)])
    assert result.exit_code == 0, result.output
    return result.output


def _roar_rows(store: ResultStore) -> None:
    table = store.table("accuracy")
    for (variant, t), accs in {("none", 0.0): [0.9, 0.88], ("random", 50.0): [0.4, 0.42],
                               ("grad", 50.0): [0.3, 0.31]}.items():
        for r, a in enumerate(accs):
            table.write(f"{variant}_t{t:g}_r{r}", [{"benchmark": "roar", "variant": variant,
                                                    "threshold": t, "repeat": r,
                                                    "test_accuracy": a}])


def test_the_five_benchmarks_are_registered() -> None:
    assert list_benchmarks() == ["bam", "fpa", "iteroar", "roar", "robustness"]


def test_fpa_folder_records_its_benchmark_and_report_rebuilds(small_cnn_model: nn.Module,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "fpa"
    data = load_dataset("cifar10-mini", "test", limit=3)
    evaluate(small_cnn_model, data, ["Random"], num_steps=2, out=out, progress=False)
    assert recorded_benchmark(out) == "fpa"
    assert "fpa report" in _report(out)
    assert "Fidelity" in (out / "report.html").read_text() and (out / "fidelity.md").is_file()


def test_roar_folder_new_and_old(tmp_path: Path) -> None:
    new = tmp_path / "new"
    _roar_rows(ResultStore(new, {"kind": "RoarConfig"}, 0, benchmark="roar"))
    assert "roar report" in _report(new) and (new / "report.html").is_file()
    old = tmp_path / "old"  # written before config.json named its benchmark
    _roar_rows(ResultStore(old, {"kind": "RoarConfig"}, 0))
    assert recorded_benchmark(old) is None and benchmark_of(old) == "roar"
    assert "roar report" in _report(old)
    ResultStore(old, {"kind": "RoarConfig"}, 0, benchmark="roar")  # reopening records it
    assert recorded_benchmark(old) == "roar"
    assert json.loads((old / "config.json").read_text())["config"] == {"kind": "RoarConfig"}


def test_robustness_folder(tmp_path: Path) -> None:
    out = tmp_path / "rob"
    rows = pd.DataFrame({
        "run": "r", "model": "m", "method": "vanilla_gradient", "attack": "topk", "eps": 0.1,
        "image_id": np.arange(6), "label": 0, "target": 0, "kept_label": True, "restart": 1,
        "iteration": 1, "measure": "topk_intersection", "value": np.linspace(0.1, 0.6, 6)})
    ResultStore(out, {"robustness": {"seed": 0}}, 0,
                benchmark="robustness").table(ROBUSTNESS_ROWS).write("a", rows)
    assert "robustness report" in _report(out)
    result = CliRunner().invoke(app, ["report", str(out), "--ci", "paired"])
    assert result.exit_code != 0 and "--ci applies to fpa folders" in str(result.exception)


def test_not_a_results_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match="holds no results attrbench recognises"):
        benchmark_of(tmp_path)
    with pytest.raises(AttrbenchError, match="is not a folder"):
        benchmark_of(tmp_path / "missing")
    ResultStore(tmp_path / "x", {}, 0, benchmark="nope")
    with pytest.raises(AttrbenchError, match="Unknown benchmark 'nope'"):
        benchmark_of(tmp_path / "x")
