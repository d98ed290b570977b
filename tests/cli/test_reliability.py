"""Issue 13 through the CLI: swapped checkpoints, extension, splits, sizes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.data import CIFAR10_CLASSES
from attrbench.errors import AttrbenchError
from attrbench.models import save_checkpoint
from attrbench.models.checkpoint import check_checkpoint_input, checkpoint_input_shape

runner = CliRunner()
META = {"classes": list(CIFAR10_CLASSES), "dataset": "cifar10-mini",
        "augmentation": {"name": "none"}, "normalization": {"mean": [0.5] * 3, "std": [0.5] * 3}}


def _checkpoint(model: torch.nn.Module, path: Path, **extra: object) -> Path:
    save_checkpoint(model, path, {**META, **extra})
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, make_small_cnn) -> tuple[Path, Path]:
    """Two cifar10-mini checkpoints of one architecture with different weights (seeds 0, 1)."""
    root = tmp_path_factory.mktemp("ckpt")
    return _checkpoint(make_small_cnn(0), root / "a"), _checkpoint(make_small_cnn(1), root / "b")


def _evaluate(ckpt: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["evaluate", "--checkpoint", str(ckpt), "--out", str(out),
                               "--method", "Random", "--method", "VG_abs", "--num-steps", "4",
                               "--device", "cpu", *extra])


def _fails(result, message: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, AttrbenchError), result.output
    assert message in str(result.exception), str(result.exception)
    assert "\n" not in str(result.exception)


def test_swapped_checkpoint_is_refused(ckpts, tmp_path: Path) -> None:
    a, b = ckpts
    assert _evaluate(a, tmp_path / "r", "--num-images", "4").exit_code == 0
    _fails(_evaluate(b, tmp_path / "r", "--num-images", "4"), "weights_sha256")
    _fails(_evaluate(b, tmp_path / "r", "--num-images", "8"), "weights_sha256")  # case 2


def test_larger_num_images_extends_and_split_is_checked(ckpts, tmp_path: Path) -> None:
    a, _ = ckpts
    assert _evaluate(a, tmp_path / "r", "--num-images", "3").exit_code == 0
    assert _evaluate(a, tmp_path / "r", "--num-images", "5").exit_code == 0
    assert _evaluate(a, tmp_path / "fresh", "--num-images", "5").exit_code == 0
    curves = [pd.read_parquet(p / "shards").drop(columns="run")
              .sort_values(["variant", "image_id", "order", "step"]).reset_index(drop=True)
              for p in (tmp_path / "r", tmp_path / "fresh")]
    assert curves[0]["image_id"].nunique() == 5
    pd.testing.assert_frame_equal(*curves)
    _fails(_evaluate(a, tmp_path / "r", "--num-images", "5", "--split", "train"),
           "dataset.split: 'test' there, 'train' now")


def test_bad_values_are_refused_before_the_first_write(ckpts, tmp_path: Path) -> None:
    a, _ = ckpts
    _fails(_evaluate(a, tmp_path / "r", "--tie-break", "nope"), "--tie-break")
    _fails(_evaluate(a, tmp_path / "r", "--method", "IG_sun"), "Unknown")
    _fails(_evaluate(a, tmp_path / "r", "--method-param", "vanilla_gradient.x=1"),
           "unknown parameter")
    assert not (tmp_path / "r").exists()
    assert _evaluate(a, tmp_path / "r", "--num-images", "2").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--num-images", "0"], "--num-images must be >= 1, got 0"),
    (["--num-images", "100000"], "use a smaller --limit / --num-images"),
    (["--mask-value", "nan"], "mask_value (--mask-value) must be a finite number"),
])
def test_evaluate_flags_are_named(ckpts, tmp_path: Path, args, message) -> None:
    _fails(_evaluate(ckpts[0], tmp_path / "r", *args), message)


def test_out_that_is_a_file(ckpts, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    _fails(_evaluate(ckpts[0], tmp_path / "file"), "is a file; pass a folder")
    result = runner.invoke(app, ["explain", "--checkpoint", str(ckpts[0]), "--dataset",
                                 "cifar10-mini", "--out", str(tmp_path / "file")])
    _fails(result, "is a file; pass a folder")


def _folder(root: Path, size: int, channels: int = 3) -> Path:
    for i, name in enumerate(CIFAR10_CLASSES[:10]):
        (root / "test" / name).mkdir(parents=True)
        pixels = np.full((size, size, channels), 20 * i, dtype=np.uint8)
        Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels).save(
            root / "test" / name / "0.png")
    return root


def test_image_size_must_match_the_checkpoint(ckpts, tmp_path: Path) -> None:
    """Case 6: 64x64 images on a model trained at 32x32 are refused; --image-size 32 resizes."""
    data = _folder(tmp_path / "big", 64)
    base = ["--dataset", str(data), "--num-images", "2"]
    _fails(_evaluate(ckpts[0], tmp_path / "r", *base),
           "was trained on 32x32 images but the dataset's are 64x64; pass --image-size 32")
    assert _evaluate(ckpts[0], tmp_path / "r", *base, "--image-size", "32").exit_code == 0


def test_explain_reports_the_channel_mismatch(ckpts, tmp_path: Path) -> None:
    """Case 12: 1-channel data on a 3-channel checkpoint names the channels, not normalisation."""
    result = runner.invoke(app, ["explain", "--checkpoint", str(ckpts[0]), "--dataset",
                                 "mnist-mini", "--out", str(tmp_path / "x")])
    _fails(result, "takes 3-channel images but the dataset's have 1")


def test_checkpoint_records_and_derives_input_shape(tmp_path: Path, small_cnn_model) -> None:
    ckpt = _checkpoint(small_cnn_model, tmp_path / "c", input_shape=[3, 32, 32])
    meta = json.loads((ckpt.parent / "c.json").read_text())
    assert meta["input_shape"] == [3, 32, 32] and checkpoint_input_shape(meta) == (3, 32, 32)
    # Older sidecars: from the training config's image_size, else the registered dataset.
    assert checkpoint_input_shape({"in_channels": 3, "config": {"image_size": 48}}) == (3, 48, 48)
    assert checkpoint_input_shape({"in_channels": 1, "dataset": "mnist-mini"}) == (1, 28, 28)
    assert checkpoint_input_shape({"in_channels": 3, "dataset": "/some/folder"}) is None
    with pytest.raises(AttrbenchError, match="input_shape'] has 1 channels but the model takes 3"):
        _checkpoint(small_cnn_model, tmp_path / "d", input_shape=[1, 32, 32])
    check_checkpoint_input({"in_channels": 3, "dataset": "/x"}, (3, 64, 64))  # unknown: allowed


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys; {statement}; print(sorted({{'torch', 'torchvision', 'numpy'}} & "
            "set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout)  # a printed list of names


def test_help_path_imports_no_torch() -> None:
    """Case 15: `attrbench --help` loads the command modules only (no torch, numpy); the data
    package no longer imports torchvision (seconds) until a folder is scanned."""
    assert _loaded_after("import attrbench.cli") == []
    assert "torchvision" not in _loaded_after("import attrbench.data")


def test_train_config_types_and_out_file(tmp_path: Path) -> None:
    """Case 9: a wrongly typed TOML value and an --out that is a file get one line each."""
    (tmp_path / "c.toml").write_text('[train]\nepochs = "two"\n')
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--config",
                                 str(tmp_path / "c.toml")])
    _fails(result, "epochs in ")
    _fails(result, "must be an integer, got 'two' (str)")
    (tmp_path / "c.toml").write_text("[train]\nlr = true\n")
    _fails(runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--config",
                               str(tmp_path / "c.toml")]), "lr in ")
    (tmp_path / "f").write_text("x")
    _fails(runner.invoke(app, ["train", "--out", str(tmp_path / "f")]), "is a file; pass a folder")
    assert not (tmp_path / "r").exists()


def test_train_config_goes_through_build_config(tmp_path: Path) -> None:
    """`train --config` is built like every command's config (issue 12 item 2): an unknown key
    and a pre-regime key are refused naming the file; a --regime-param merges into the file's
    regime_params key by key; recipe / dataset / model come from the table."""
    from attrbench.cli.options import build_config
    from attrbench.training import TrainConfig

    (tmp_path / "c.toml").write_text('[train]\nrecipe = "finetune"\nmodel = "cifar_resnet20"\n'
                                     'regime = "pgd"\nregime_params = {steps = 3, eps = 0.1}\n')
    cfg = build_config(TrainConfig, tmp_path / "c.toml", "train",
                       {"regime_params": {"steps": 5}, "epochs": 7, "lr": None},
                       factory=TrainConfig.from_values)
    assert (cfg.recipe, cfg.model, cfg.dataset, cfg.epochs, cfg.lr) == (
        "finetune", "cifar_resnet20", "cifar10-mini", 7, 0.01)
    assert cfg.regime_params == {"steps": 5, "eps": 0.1}
    (tmp_path / "c.toml").write_text('[train]\nadversarial = "pgd"\n')
    _fails(runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--config",
                               str(tmp_path / "c.toml")]), "'adversarial' in ")
    (tmp_path / "c.toml").write_text('[train]\nepoch = 2\n')
    _fails(runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--config",
                               str(tmp_path / "c.toml")]), "Unknown option(s) epoch in ")
    assert not (tmp_path / "r").exists()
