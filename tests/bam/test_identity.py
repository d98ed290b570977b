"""Issue 13: a `bam run` folder is bound to what it keeps between runs (the trained models: the
BAM data's fingerprint and the training options); metric settings are recomputed, and no output
of an earlier run is left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from attrbench.bam.build import BamBuildConfig, build_bam
from attrbench.bam.evaluate import BamRunConfig
from attrbench.bam.manifest import BamFolder
from attrbench.bam.pipeline import BamTrainOptions, bind_run_folder, run_bam
from attrbench.cli import app
from attrbench.errors import AttrbenchError

BUILD = BamBuildConfig(per_pair=3, image_size=32, image_format="png", cf_scene="forest",
                       commonality=False)
RUN = BamRunConfig(methods=("GC",), n_trials=2, trial_size=5, delta_steps=2, commonality=False,
                   tcav=False)
TRAIN = BamTrainOptions(epochs=1, batch_size=8)


def _run(data: Path, out: Path, train: BamTrainOptions = TRAIN, run: BamRunConfig = RUN) -> None:
    run_bam(data, out, train_options=train, run_config=run, device="cpu")


def test_rebuilt_data_or_other_training_is_refused(sources, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "run"
    build_bam(*sources, data, BUILD)
    bind_run_folder(BamFolder(data), out, TRAIN)  # what run_bam does first
    bind_run_folder(BamFolder(data), out, TRAIN)  # same identity: resumes
    with pytest.raises(AttrbenchError, match=r"differs in: train\): train\.epochs: 1 there, 2 "
                                             r"now\. Pass a new --out folder or delete this "
                                             r"one to start fresh"):
        _run(data, out, train=BamTrainOptions(epochs=2, batch_size=8))
    shutil.rmtree(data)  # rebuilt at the same path with another seed: other images
    build_bam(*sources, data, BamBuildConfig(**{**BUILD.__dict__, "seed": 1}))
    with pytest.raises(AttrbenchError, match=r"data\.manifest_sha256: \w{12} there, \w{12} now"):
        _run(data, out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # refused before training
    (out / "config.json").write_text("{trunc")
    with pytest.raises(AttrbenchError, match=r"config\.json is unreadable; pass a new --out"):
        _run(data, out)


@pytest.mark.extended
def test_rerun_resumes_and_leaves_no_stale_outputs(sources, tmp_path: Path) -> None:
    """A full run (~3 s), then one with other metric settings: models kept, outputs replaced."""
    data, out = tmp_path / "data", tmp_path / "run"
    build_bam(*sources, data, BUILD)
    _run(data, out)
    weights = (out / "models" / "f_o" / "model.safetensors").read_bytes()
    (out / "tcav_layers.csv").write_text("stale")  # as left by an earlier run with TCAV
    (out / "figures" / "MCS_k.png").write_bytes(b"stale")  # an earlier run with X^k
    _run(data, out, run=BamRunConfig(**{**RUN.__dict__, "methods": ("GC", "random")}))
    assert (out / "models" / "f_o" / "model.safetensors").read_bytes() == weights
    assert not (out / "tcav_layers.csv").exists()
    assert not (out / "figures" / "MCS_k.png").exists()
    assert (out / "figures" / "MCS.png").is_file()
    assert set(pd.read_csv(out / "metrics.csv")["method"]) == {"GC", "random"}


def test_bad_method_is_refused_before_training(sources, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "run"
    build_bam(*sources, data, BUILD)
    with pytest.raises(AttrbenchError, match="Unknown BAM method 'nope'"):
        _run(data, out, run=BamRunConfig(**{**RUN.__dict__, "methods": ("nope",)}))
    assert not out.exists()


def test_bam_verify_checks_the_same_identity(sources, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "run"
    build_bam(*sources, data, BUILD)
    bind_run_folder(BamFolder(data), out, BamTrainOptions(epochs=1))
    result = CliRunner().invoke(app, ["bam", "verify", "--dataset", str(data), "--out", str(out),
                                      "--epochs", "2", "--device", "cpu"])
    assert isinstance(result.exception, AttrbenchError)
    assert "train.epochs: 1 there, 2 now" in str(result.exception)
    assert not (out / "models").exists()
