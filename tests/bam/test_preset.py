"""Issue 16: named BAM presets (data build + training + metric defaults), per-model epochs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attrbench.bam.build import BamBuildConfig, build_bam
from attrbench.bam.manifest import BamFolder
from attrbench.bam.models import train_bam_models
from attrbench.bam.pipeline import (BAM_PRESETS, BamPreset, BamTrainOptions, bind_run_folder,
                                    check_preset_data, get_preset)
from attrbench.cli import app
from attrbench.errors import AttrbenchError

BUILD = BamBuildConfig(per_pair=3, image_size=32, image_format="png", cf_scene="forest")


def test_cpu_preset_is_complete_and_consistent() -> None:
    cpu = get_preset("cpu")
    fields = {f.name for f in dataclasses.fields(BamBuildConfig)}
    assert set(cpu.build) <= fields
    BamBuildConfig(**cpu.build).validate()
    assert cpu.train.init == "cifar_resnet20.none" and cpu.train.model == "cifar_resnet20"
    assert cpu.build["image_size"] == 32  # the scale the CIFAR-10 initialisation was trained at
    assert cpu.build["per_pair"] == 300  # every MiniPlaces scene image of a class
    from attrbench.bam.evaluate import BamRunConfig

    BamRunConfig(**cpu.run)  # valid metric settings


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown BAM preset 'gpu'; valid: cpu"):
        get_preset("gpu")


def test_preset_refuses_data_built_otherwise(sources, tmp_path: Path) -> None:
    build_bam(*sources, tmp_path / "data", BUILD)
    folder = BamFolder(tmp_path / "data")
    with pytest.raises(AttrbenchError, match=r"per_pair = 3 \(preset: 300\).*--preset cpu"):
        check_preset_data(get_preset("cpu"), folder)
    same = BamPreset("tiny", "", {"per_pair": 3, "image_size": 32}, BamTrainOptions(), {})
    check_preset_data(same, folder)  # matching settings pass


def test_identity_of_older_folders_is_unchanged(sources, tmp_path: Path) -> None:
    """A folder bound before k_epochs / init / amp existed keeps its identity."""
    old = {"model": "small_cnn", "recipe": "quick", "epochs": 1, "batch_size": 8, "lr": 0.02,
           "seed": 0}
    assert BamTrainOptions(epochs=1, batch_size=8).identity() == old
    assert BamTrainOptions(epochs=1, batch_size=8, k_epochs=3).identity() == {**old,
                                                                              "k_epochs": 3}
    build_bam(*sources, tmp_path / "data", BUILD)
    folder = BamFolder(tmp_path / "data")
    bind_run_folder(folder, tmp_path / "run", BamTrainOptions(epochs=1, batch_size=8))
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["config"]["train"]
    assert stored == old
    with pytest.raises(AttrbenchError, match=r"train\.k_epochs"):
        bind_run_folder(folder, tmp_path / "run", BamTrainOptions(epochs=1, batch_size=8,
                                                                  k_epochs=2))


def test_k_epochs_apply_to_the_commonality_models_only(sources, tmp_path: Path) -> None:
    build_bam(*sources, tmp_path / "data", BUILD)
    folder = BamFolder(tmp_path / "data")
    train_bam_models(folder, tmp_path / "run", epochs=1, k_epochs=2, batch_size=8,
                     device="cpu")
    epochs = {p.parent.name: len(json.loads(p.read_text()))
              for p in (tmp_path / "run" / "models").glob("*/history.json")}
    assert epochs.pop("f_o") == 1 and epochs.pop("f_s") == 1
    assert epochs and set(epochs) == {f"f_{k}" for k in folder.commonality_sets}
    assert set(epochs.values()) == {2}


def test_cli_preset_sets_the_build_and_explicit_options_win(sources, tmp_path: Path) -> None:
    objects, scenes = sources
    args = ["bam", "build", "--objects", str(objects), "--scenes", str(scenes), "--preset",
            "cpu", "--format", "png"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert isinstance(result.exception, AttrbenchError)  # 4 scene images < the preset's 300
    assert "per_pair = 300" in str(result.exception)
    result = CliRunner().invoke(app, [*args, "--per-pair", "3", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "b" / "bam.json").read_text())
    assert info["config"]["per_pair"] == 3 and info["image_size"] == 32


def test_cli_run_refuses_an_unknown_preset(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bam", "run", "--preset", "nope", "--out",
                                      str(tmp_path / "run")])
    assert isinstance(result.exception, AttrbenchError)
    assert "Unknown BAM preset 'nope'" in str(result.exception)
    assert not (tmp_path / "run").exists()


def test_presets_registry_names_match() -> None:
    assert all(name == p.name for name, p in BAM_PRESETS.items())


def test_cli_run_config_file_between_preset_and_flags(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """`bam run --config`: [bam] -> BamRunConfig, [bam.train] -> BamTrainOptions, built by the
    one config loader (issue 12 item 2): preset < file < flags; unknown keys refused."""
    import pandas as pd

    import attrbench.bam.pipeline as pipeline

    seen: dict = {}

    def fake_run_bam(data, out, *, train_options, run_config, device, preset):
        seen.update(train=train_options, run=run_config, preset=preset)
        return type("R", (), {"metrics": pd.DataFrame({"metric": ["MCS"], "value": [0.1]})})()

    monkeypatch.setattr(pipeline, "run_bam", fake_run_bam)
    (tmp_path / "c.toml").write_text(
        '[bam]\nn_trials = 4\ntrial_size = 20\nmethods = ["GC", "VG"]\nseed = 3\n'
        '[bam.train]\nepochs = 2\nlr = 0.01\n')
    result = CliRunner().invoke(app, ["bam", "run", "--preset", "cpu", "--config",
                                      str(tmp_path / "c.toml"), "--trials", "6",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run, train = seen["run"], seen["train"]
    assert (run.n_trials, run.trial_size, run.methods, run.seed) == (6, 20, ("GC", "VG"), 3)
    assert run.num_images == get_preset("cpu").run["num_images"]  # from the preset
    assert (train.epochs, train.lr, train.seed) == (2, 0.01, 3)  # file; seed from [bam]
    assert train.model == get_preset("cpu").train.model and train.k_epochs == 12
    (tmp_path / "c.toml").write_text('[bam.train]\nepoch = 2\n')
    bad = CliRunner().invoke(app, ["bam", "run", "--config", str(tmp_path / "c.toml"),
                                   "--out", str(tmp_path / "run")])
    assert isinstance(bad.exception, AttrbenchError)
    assert "Unknown option(s) epoch in " in str(bad.exception)
    (tmp_path / "c.toml").write_text('[bam]\ntrial_size = 0\n')
    bad = CliRunner().invoke(app, ["bam", "run", "--config", str(tmp_path / "c.toml"),
                                   "--out", str(tmp_path / "run")])
    assert isinstance(bad.exception, AttrbenchError) and "trial_size" in str(bad.exception)
