"""IteROAR explains the predicted class by default; the true label stays selectable with a warning
(label-derived masks carry the label into the test inputs, Palacio et al. Sec. 4.7)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from attrbench.metrics.functional.overlap import top_fraction_masks
from attrbench.roar.iterative import IteRoarConfig, LabelTargetWarning, _masks
from attrbench.roar.scores import split_scores

VARIANT = "vanilla_gradient|abs_sum"


def test_default_target_is_the_prediction(tiny: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default must not warn
        cfg = IteRoarConfig(**tiny)
    assert cfg.target == "predicted"
    assert IteRoarConfig.preset("paper").target == "predicted"


def test_label_target_warns(tiny: dict[str, Any]) -> None:
    with pytest.warns(LabelTargetWarning, match="label information into the test inputs"):
        cfg = IteRoarConfig(target="label", **tiny)
    assert cfg.target == "label"


def test_default_masks_follow_the_prediction_not_the_label(tiny: dict[str, Any],
                                                           small_cnn_model) -> None:
    model = small_cnn_model
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pred = model(x).argmax(1)
    wrong = (pred + 1) % 10  # labels that are never the prediction
    cfg = IteRoarConfig(**tiny)
    got = _masks(cfg, model, VARIANT, x, wrong, seed=0, device=torch.device("cpu"))
    for targets, same in ((pred, True), (wrong, False)):
        scores = split_scores(model, x, VARIANT, cfg.unit, targets=targets, seed=0,
                              batch_size=64, device=torch.device("cpu"))
        want = top_fraction_masks(scores, cfg.tau, sample_dims=scores.dim() - 1)
        assert torch.equal(got, want) is same
