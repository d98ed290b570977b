"""BAM pipeline on the shipped mini set: metric table, Fig. 2 checks, CLI build/run, report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import attrbench.cli.bam  # noqa: F401  (registers the bam commands)
from attrbench.bam.evaluate import BamRunConfig, resolve_method, run_bam_metrics
from attrbench.bam.manifest import BamFolder, bam_mini_path
from attrbench.bam.models import verify
from attrbench.cli.app import app
from attrbench.errors import AttrbenchError

from .conftest import make_sources

runner = CliRunner()


@pytest.fixture(scope="module")
def folder() -> BamFolder:
    return BamFolder(bam_mini_path())


@pytest.fixture(scope="module")
def models(folder: BamFolder, make_small_cnn) -> dict[str, torch.nn.Module]:
    names = ["f_o", "f_s", *(f"f_{k}" for k in folder.commonality_sets)]
    return {name: make_small_cnn(i, num_classes=5) for i, name in enumerate(names)}


def test_metric_table_and_samples(folder: BamFolder, models: dict) -> None:
    cfg = BamRunConfig(methods=("GC", "VG"), delta_steps=3, n_trials=4, trial_size=8, num_images=10,
                       tcav_random=2)
    res = run_bam_metrics(folder, models, cfg, n_samples=2)
    main = res.metrics[res.metrics["metric"].isin(["MCS", "IDR", "IIR"])
                       & (res.metrics["method"] != "TCAV")]
    assert len(main) == 2 * 2 * 3  # methods x regions x metrics
    tcav = res.metrics[(res.metrics["method"] == "TCAV")
                       & res.metrics["metric"].isin(["TCAV", "MCS"])]
    assert len(tcav) == 4
    assert set(main["region"]) == {"object", "random"}
    rates = main[main["metric"] != "MCS"].dropna(subset=["mean"])
    assert ((rates["mean"] >= 0) & (rates["mean"] <= 1)).all()
    assert (main["trial_size"] <= 8).all()
    series = res.metrics[res.metrics["metric"] == "MCS_k"]
    assert sorted(series["k"].unique()) == [0.2, 0.4, 0.6, 0.8]
    assert len(res.per_image) == 2 * 2 * 10
    assert res.samples["GC"]["o"].shape == (2, 64, 64)
    assert {"median_relative_output_change", "median_delta_norm"} <= set(res.delta)
    again = run_bam_metrics(folder, models, dataclasses.replace(cfg, tcav=False), n_samples=2)
    ours = res.metrics[res.metrics["method"] != "TCAV"]["mean"].to_numpy()
    assert np.array_equal(again.metrics["mean"].to_numpy(), ours, equal_nan=True)


def test_verify_rows(folder: BamFolder, models: dict) -> None:
    table = verify(folder, models)
    acc = table[table["quantity"] == "accuracy"]
    assert {("f_o", "X_os"), ("f_s", "X_0s"), ("f_s", "X_og")} <= set(
        zip(acc["model"], acc["test_set"]))
    assert ((acc["value"] >= 0) & (acc["value"] <= 1)).all()
    assert (table["quantity"] == "accuracy_drop").sum() == len(folder.commonality_sets)


def test_unknown_method() -> None:
    with pytest.raises(AttrbenchError, match="Unknown BAM method 'XX'"):
        resolve_method("XX", -1.0)
    assert resolve_method("IG", -1.0) == ("integrated_gradients", {
        "steps": 25, "quadrature": "linspace", "baseline": -1.0})


def test_cli_build_and_errors(tmp_path: Path) -> None:
    objects, scenes = make_sources(tmp_path / "src")
    result = runner.invoke(app, ["bam", "build", "--out", str(tmp_path / "out"), "--objects",
                                 str(objects),
                                 "--scenes", str(scenes), "--per-pair", "2", "--image-size", "32",
                                 "--format", "png"])
    assert result.exit_code == 0, result.output
    assert BamFolder(tmp_path / "out").info["scenes"] == ["coast", "field", "forest"]
    bad = runner.invoke(app, ["bam", "build", "--out", str(tmp_path / "o2"), "--objects",
                              str(objects), "--scenes", str(scenes), "--scene", "desert"])
    assert isinstance(bad.exception, AttrbenchError)
    assert "Unknown scene class 'desert'" in str(bad.exception)
    missing = runner.invoke(app, ["bam", "build", "--out", str(tmp_path / "o3")])
    assert "--miniplaces" in str(missing.exception)
    no_out = runner.invoke(app, ["bam", "build", "--objects", str(objects)])
    assert "Give the output folder as --out DIR" in str(no_out.exception)


def test_cli_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["bam", "run", "--out", str(out), "--epochs", "1",
                                 "--no-commonality", "--no-tcav", "--method", "GC",
                                 "--method", "random",
                                 "--delta-steps", "2", "--trials", "2", "--trial-size", "5",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "IDR" in result.output
    for name in ("metrics.csv", "verify.csv", "per_image.parquet", "delta.json", "run.json",
                 "figures/MCS.png", "figures/maps_delta.png"):
        assert (out / name).is_file(), name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 6 and "IIR" in html
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["run"]["methods"] == ["GC", "random"]


def test_report_table_shows_n_without_std_for_whole_pool() -> None:
    from attrbench.bam.report import _table

    metrics = pd.DataFrame([
        {"metric": "IDR", "method": "GC", "region": "object", "k": np.nan, "mean": 0.6,
         "std": np.nan, "trial_size": 5, "eligible": 5},
        {"metric": "IDR", "method": "GC", "region": "random", "k": np.nan, "mean": 0.5,
         "std": 0.05, "trial_size": 100, "eligible": 300}])
    row = _table(metrics).loc["GC"]
    assert row["IDR (object)"] == "0.600 (n = 5, no std)"
    assert row["IDR (random)"] == "0.500 ± 0.050"


def test_iir_uses_similar_deltas_and_the_class_of_x(folder: BamFolder, models: dict) -> None:
    from attrbench.bam.evaluate import _black, _maps
    from attrbench.bam.models import predict

    # f_s: channel-mean differences, so the pasted object's colour can flip the class
    fc = torch.nn.Linear(3, 5, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, -1, 0], [-1, 1, 0], [0, -1, 1], [0, 1, -1],
                                      [1, 0, -1]]))
    f_s = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), fc).eval()
    models = {**models, "f_s": f_s}
    cfg = BamRunConfig(methods=("VG",), delta_steps=2, n_trials=2, trial_size=4, num_images=8,
                       tcav=False, commonality=False)
    res = run_bam_metrics(folder, models, cfg, n_samples=8)
    per = res.per_image[res.per_image["region"] == "object"]
    similar = per["delta_similar"].to_numpy()
    assert np.array_equal(similar, per["delta_relative_output_change"].to_numpy() <= 0.05)
    assert not similar.all()  # two steps do not make delta similar everywhere: some excluded
    eligible = int((per["fs_correct_x0s"].to_numpy() & similar).sum())
    iir = res.metrics[(res.metrics["metric"] == "IIR") & (res.metrics["region"] == "object")]
    assert int(iir["eligible"].iloc[0]) == eligible == res.delta["iir_pairs"]
    assert res.delta["excluded_correct_pairs"] == int(
        (per["fs_correct_x0s"].to_numpy() & ~similar).sum())
    # x + delta is explained for the class f_s predicts on x, not on x + delta
    s = res.samples["VG"]
    t_x = predict(models["f_s"], s["x_0s"]).argmax(1)
    assert (predict(models["f_s"], s["x_0d"]).argmax(1) != t_x).any()  # the test can tell
    black = _black(folder.dataset("scene", "test"))
    torch.testing.assert_close(s["sd"], _maps(models["f_s"], "VG", s["x_0d"], black, 128, t_x))


def test_tcav_series_is_tcav_of_f_k_minus_f_1(folder: BamFolder, models: dict) -> None:
    """TCAV's X^k series (Fig. 6): TCAV(f_k) - TCAV(f_1.0) on the CF class's CF test images."""
    from attrbench.bam.evaluate import _tcav_sets
    from attrbench.bam.models import stacked
    from attrbench.bam.tcav import tcav_layers, tcav_score

    cfg = BamRunConfig(methods=("GC",), delta_steps=1, n_trials=2, trial_size=4, num_images=4,
                       tcav_random=2)
    rows = run_bam_metrics(folder, models, cfg).metrics
    series = rows[(rows["method"] == "TCAV") & (rows["metric"] == "MCS_k")]
    sets = folder.commonality_sets
    assert list(series["k"]) == [float(k[1:]) for k in sets[:-1]]
    cf = folder.info["scenes"].index(folder.info["cf_scene"])
    data = folder.dataset(sets[-1], "test")
    x = stacked(data.subset(np.flatnonzero(data.labels.numpy() == cf)))
    concept, randoms = _tcav_sets(folder)

    def score(k: str) -> float:
        m = models[f"f_{k}"]
        return tcav_score(m, tcav_layers(m), x, torch.full((len(x),), cf), concept, randoms,
                          n_random=2, seed=0)["score"]

    ref = score(sets[-1])
    expected = [score(k) - ref for k in sets[:-1]]
    np.testing.assert_allclose(series["mean"].to_numpy(), expected, equal_nan=True)
    pearson = rows[(rows["method"] == "TCAV") & (rows["metric"] == "MCS_k_pearson")]
    assert len(pearson) == 1
