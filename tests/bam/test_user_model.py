"""BAM trains and evaluates a user nn.Module (builder or template) and refuses another one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attrbench.bam.evaluate import BamRunConfig
from attrbench.bam.manifest import BamFolder, bam_mini_path
from attrbench.bam.models import load_bam_models, train_bam_models
from attrbench.bam.pipeline import BamTrainOptions, run_bam
from attrbench.errors import AttrbenchError


def test_train_bam_models_with_a_user_builder(tmp_path: Path, user_nets) -> None:
    UserNet, OtherNet = user_nets
    folder = BamFolder(bam_mini_path())
    paths = train_bam_models(folder, tmp_path, model=UserNet, epochs=1, batch_size=32,
                             device="cpu", commonality=False)
    assert set(paths) == {"f_o", "f_s"}
    for name in paths:
        config = json.loads((tmp_path / "models" / name / "run.json").read_text())["config"]
        assert config["model"] == f"user:{UserNet.__module__}.UserNet"
    models = load_bam_models(tmp_path, ["f_o", "f_s"], model=UserNet)
    assert all(isinstance(m, UserNet) and not m.training for m in models.values())
    x = torch.rand(2, 3, 64, 64)
    again = load_bam_models(tmp_path, ["f_o"], model=UserNet(5))  # a template loads the same
    torch.testing.assert_close(again["f_o"](x), models["f_o"](x), rtol=0, atol=0)
    with pytest.raises(AttrbenchError, match="different config.*model"):
        train_bam_models(folder, tmp_path, model=OtherNet, epochs=1, batch_size=32,
                         device="cpu", commonality=False)
    with pytest.raises(AttrbenchError, match="holds a 'user:.*UserNet' model"):
        load_bam_models(tmp_path, ["f_o"], model=OtherNet)


def test_run_bam_with_a_user_model_and_a_method_object(tmp_path: Path, user_nets) -> None:
    UserNet, OtherNet = user_nets
    def saliency(model, x, target):
        (g,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return g.abs()

    run = BamRunConfig(methods=saliency, delta_steps=2, n_trials=2, trial_size=4, num_images=6,
                       tcav=False, commonality=False)
    assert run.methods == ("saliency",)
    options = BamTrainOptions(epochs=1, batch_size=32)
    res = run_bam(bam_mini_path(), tmp_path, train_options=options, run_config=run,
                  device="cpu", model=UserNet)
    assert set(res.metrics["method"]) == {"saliency"}
    assert set(res.metrics["metric"]) == {"MCS", "IDR", "IIR"}
    with pytest.raises(AttrbenchError, match="different configuration"):
        run_bam(bam_mini_path(), tmp_path, train_options=options, run_config=run,
                device="cpu", model=OtherNet)
