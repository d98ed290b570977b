"""A robustness results folder is bound to the weights and the images too (issue 13)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.robustness.pipeline import RobustnessConfig, run_robustness

CFG = RobustnessConfig(attacks=("random",), eps=(0.1,), k=20, windows=(1,), diverse=False,
                       attack_params={"iterations": 1}, num_images=4, chunk_size=4)


def test_other_weights_or_split_are_refused(mnist_model, mnist_space, tmp_path: Path) -> None:
    test = load_dataset("mnist-mini", "test")
    run_robustness({"natural": mnist_model}, test, CFG, mnist_space, out=tmp_path / "r")
    run_robustness({"natural": mnist_model}, test, CFG, mnist_space, out=tmp_path / "r")  # resume
    other = copy.deepcopy(mnist_model)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    with pytest.raises(AttrbenchError, match=r"differs in: models\): models\.natural: \w{12} "
                                             r"there, \w{12} now"):
        run_robustness({"natural": other}, test, CFG, mnist_space, out=tmp_path / "r")
    with pytest.raises(AttrbenchError, match=r"dataset\.split: 'test' there, 'train' now"):
        run_robustness({"natural": mnist_model}, load_dataset("mnist-mini", "train"), CFG,
                       mnist_space, out=tmp_path / "r")
