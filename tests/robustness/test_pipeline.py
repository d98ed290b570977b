"""Robustness pipeline, store, report and CLI on tiny settings."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from attrbench.cli import app
import attrbench.cli.robustness  # noqa: F401  registers `attrbench robustness` on the app
from attrbench.cli.robustness import parse_eps
from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.robustness import measure_names
from attrbench.models import create_model, save_checkpoint
from attrbench.robustness.pipeline import RobustnessConfig, run_robustness
from attrbench.robustness.report import write_robustness_report
from attrbench.robustness.results import ROBUSTNESS_SCHEMA, read_robustness

CFG = RobustnessConfig(attacks=("random", "topk"), eps=(0.0, 0.1), k=50, windows=(1,),
                       attack_params={"iterations": 3}, num_images=12, chunk_size=4)


@pytest.fixture(scope="module")
def mnist_data():
    return load_dataset("mnist-mini", "test")


def test_rows_are_tidy_and_eps_zero_is_one(mnist_model, mnist_data, mnist_space) -> None:
    rows = run_robustness({"natural": mnist_model}, mnist_data, CFG, mnist_space)
    assert list(rows.columns) == ROBUSTNESS_SCHEMA.names
    names = measure_names((1,))
    assert set(rows["measure"]) == set(names)
    n_images = rows["image_id"].nunique()
    assert len(rows) == n_images * 2 * 2 * len(names) and n_images >= 10
    assert bool((rows["label"] == rows["target"]).all())  # only correctly classified images
    zero = rows[rows["eps"] == 0.0]
    assert bool((zero["value"] == 1.0).all())
    attacked = rows[(rows["eps"] > 0) & (rows["measure"] == "topk_intersection")]
    assert float(attacked["value"].mean()) < 1.0


def test_resume_equals_uninterrupted_and_refuses_other_config(mnist_model, mnist_data, mnist_space,
                                                              tmp_path: Path) -> None:
    models = {"natural": mnist_model, "copy": copy.deepcopy(mnist_model)}
    full = run_robustness(models, mnist_data, CFG, mnist_space, out=tmp_path / "a")
    shards = sorted((tmp_path / "a" / "shards").glob("*.parquet"))
    assert len(shards) == 2 * 2 * 2 * 3  # models x attacks x eps x chunks
    for shard in shards[::3]:
        shard.unlink()  # as if the run had been killed before writing these
    resumed = run_robustness(models, mnist_data, CFG, mnist_space, out=tmp_path / "a")
    pd.testing.assert_frame_equal(full, resumed)
    pd.testing.assert_frame_equal(full, read_robustness(tmp_path / "a"))
    other = RobustnessConfig(**{**CFG.__dict__, "seed": 1})
    with pytest.raises(AttrbenchError, match=r"different configuration \(differs in: robustness\)"):
        run_robustness(models, mnist_data, other, mnist_space, out=tmp_path / "a")
    html = write_robustness_report(tmp_path / "a").read_text()
    assert "data:image/png;base64," in html and "topk_intersection" in html
    summary = pd.read_csv(tmp_path / "a" / "robustness_summary.csv")
    assert set(summary["model"]) == {"natural", "copy"}


def test_config_errors(mnist_model, mnist_data, mnist_space) -> None:
    with pytest.raises(AttrbenchError, match=r"eps must be in \[0, 1\]"):
        RobustnessConfig(eps=(8.0,)).validate()
    with pytest.raises(AttrbenchError, match=r"Unknown attack 'pgd'"):
        RobustnessConfig(attacks=("pgd",)).validate()
    with pytest.raises(AttrbenchError, match=r"radius w must be >= 0"):
        RobustnessConfig(windows=(-1,)).validate()
    with pytest.raises(AttrbenchError, match=r"'occlusion' has no differentiable form"):
        run_robustness({"m": mnist_model}, mnist_data,
                       RobustnessConfig(methods=("occlusion",), attacks=("topk",), eps=(0.1,),
                                        num_images=4, k=10), mnist_space)
    with pytest.raises(AttrbenchError, match=r"no robustness results"):
        write_robustness_report(Path("/nonexistent-robustness-folder"))


def test_default_budgets_follow_the_paper_or_the_preset() -> None:
    assert RobustnessConfig().budgets() == pytest.approx([0, 1 / 255, 2 / 255, 4 / 255, 8 / 255])
    mnist = RobustnessConfig(preset="mnist").budgets()
    assert mnist == pytest.approx([0, 0.0375, 0.075, 0.15, 0.3])
    assert RobustnessConfig(eps=(0.1,)).to_dict()["eps"] == [0.1]


def test_parse_eps() -> None:
    assert parse_eps("8/255") == pytest.approx(8 / 255)
    assert parse_eps("0.3") == 0.3
    with pytest.raises(AttrbenchError, match=r"e.g. 0.3 or 8/255"):
        parse_eps("eight")


def test_cli_end_to_end(tmp_path: Path) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = create_model("small_cnn", num_classes=10, in_channels=1)
    spec = load_dataset("mnist-mini", "test").spec
    meta = {"classes": list(spec.classes),
            "normalization": {"mean": list(spec.mean), "std": list(spec.std)}}
    save_checkpoint(model, tmp_path / "nat", meta)
    save_checkpoint(model, tmp_path / "adv", meta)
    out = tmp_path / "rob"
    args = ["robustness", "--checkpoint", f"natural={tmp_path / 'nat'}", "--checkpoint",
            f"pgd={tmp_path / 'adv'}", "--num-images", "40", "--attack", "random", "--eps", "0",
            "--eps", "8/255", "--attack-param", "iterations=2", "--k", "30", "--window", "1",
            "--no-diverse", "--out", str(out), "--device", "cpu"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = read_robustness(out)
    assert set(rows["model"]) == {"natural", "pgd"}
    assert sorted(rows["eps"].unique()) == pytest.approx([0.0, 8 / 255])
    assert (out / "report.html").exists()
    assert (out / "figures" / "robustness_vanilla_gradient.png").exists()
    bad = CliRunner().invoke(app, [*args[:-4], "--eps", "9", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "eps must be in [0, 1]" in str(bad.exception)
