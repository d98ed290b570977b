"""Issue 13 items 11 and 13 for robustness: no correctly classified image, and a too-large k,
are each refused with one line before anything is computed or written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.data import CIFAR10_CLASSES, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.models import create_model, save_checkpoint
from attrbench.robustness.pipeline import RobustnessConfig, run_robustness

CFG = RobustnessConfig(attacks=("random",), eps=(0.1,), k=20, windows=(1,), diverse=False,
                       attack_params={"iterations": 1}, num_images=4, chunk_size=4)
runner = CliRunner()


class Constant(nn.Module):
    """Predicts class ``c`` for every image (logits (B, 10)) and counts its forward calls."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(c), 10).float())
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x.flatten(1).sum(1, keepdim=True) * 0.0 + self.bias


def test_no_correct_image_is_named(mnist_model, mnist_space, tmp_path: Path) -> None:
    test = load_dataset("mnist-mini", "test")  # first 4 labels: 7 2 1 0, so class 3 is never right
    with pytest.raises(AttrbenchError) as err:
        run_robustness({"natural": mnist_model, "broken": Constant(3)}, test, CFG, mnist_space,
                       out=tmp_path / "r")
    message = str(err.value)
    assert ("none of the 4 images is classified correctly by model 'broken', so no attack can "
            "keep the label; check the checkpoint/dataset pairing") in message
    assert "natural" not in message and "\n" not in message
    assert not (tmp_path / "r").exists()  # refused before the first write


def test_too_large_k_is_refused_before_computing(mnist_space, tmp_path: Path) -> None:
    model = Constant(7)
    cfg = RobustnessConfig(**{**CFG.__dict__, "k": 785})
    with pytest.raises(AttrbenchError, match=r"^k \(--k\) = 785 exceeds the 784 pixels of the "
                                             r"28x28 images; choose --k <= 784 \(the default "
                                             r"for this size is 100\)\.$"):
        run_robustness({"m": model}, load_dataset("mnist-mini", "test"), cfg, mnist_space,
                       out=tmp_path / "r")
    assert model.calls == 0 and not (tmp_path / "r").exists()


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_k_must_be_a_positive_integer(k) -> None:
    with pytest.raises(AttrbenchError, match=r"k \(--k\) must be an integer >= 1"):
        RobustnessConfig(k=k).validate()


def test_num_images_names_the_flag() -> None:
    with pytest.raises(AttrbenchError,
                       match=r"num_images \(--num-images\) must be an integer >= 1, got 0"):
        RobustnessConfig(num_images=0).validate()


@pytest.fixture(scope="module")
def constant_checkpoint(tmp_path_factory) -> Path:
    """A small_cnn checkpoint for cifar10-mini that predicts class 2 for every image."""
    model = create_model("small_cnn", num_classes=10, in_channels=3)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        last.bias[2] = 1.0
    path = tmp_path_factory.mktemp("ckpt") / "constant"
    save_checkpoint(model, path, {
        "classes": list(CIFAR10_CLASSES), "dataset": "cifar10-mini",
        "augmentation": {"name": "none"},
        "normalization": {"mean": [0.5] * 3, "std": [0.5] * 3}})
    return path


def _robustness(ckpt: Path, out: Path, *extra: str) -> object:
    return runner.invoke(app, ["robustness", "--checkpoint", str(ckpt), "--out", str(out),
                               "--dataset", "cifar10-mini", "--num-images", "4",
                               "--attack", "random", "--eps", "0.1", "--window", "1",
                               "--no-diverse", "--device", "cpu", *extra])


def _fails(result, message: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, AttrbenchError), result.output
    assert message in str(result.exception), str(result.exception)
    assert "\n" not in str(result.exception)


def test_cli_no_correct_image(constant_checkpoint: Path, tmp_path: Path) -> None:
    # the first 4 cifar10-mini test labels are 3 8 8 0: class 2 is never right
    _fails(_robustness(constant_checkpoint, tmp_path / "r"),
           "none of the 4 images is classified correctly by model 'none', so no attack can keep "
           "the label; check the checkpoint/dataset pairing")
    assert not (tmp_path / "r").exists()


def test_cli_too_large_k(constant_checkpoint: Path, tmp_path: Path) -> None:
    _fails(_robustness(constant_checkpoint, tmp_path / "r", "--k", "5000"),
           "k (--k) = 5000 exceeds the 1024 pixels of the 32x32 images; choose --k <= 1024 "
           "(the default for this size is 122).")
    assert not (tmp_path / "r").exists()


def test_one_wrong_image_is_named(mnist_space) -> None:
    cfg = RobustnessConfig(**{**CFG.__dict__, "num_images": 1})
    with pytest.raises(AttrbenchError, match=r"^the only image is not classified correctly by "
                                             r"model 'm', so no attack can keep the label"):
        run_robustness({"m": Constant(3)}, load_dataset("mnist-mini", "test"), cfg, mnist_space)
