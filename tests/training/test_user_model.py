"""Bring your own model (issue 12 item 1): ``train(cfg, out, model=<nn.Module or builder>)``,
fresh seeded copies for the benchmarks that retrain, the run identity and the weights file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import attrbench
from attrbench.errors import AttrbenchError
from attrbench.training import TrainConfig
from attrbench.training.user_model import fresh_copies, load_user_weights


class TinyNet(nn.Module):
    """A user classifier the registry does not know: conv, BatchNorm, pooling, linear."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


class OtherNet(TinyNet):
    """Same layers, another class: a resume must still refuse it."""


class RawParam(TinyNet):
    """A parameter outside any module with reset_parameters()."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.scale = nn.Parameter(torch.ones(1))


def _cfg(**kw) -> TrainConfig:
    base = dict(dataset="cifar10-mini", model="small_cnn", epochs=1, batch_size=32,
                train_limit=64, test_limit=32, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig.from_recipe("quick", **base)


def _params(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_a_user_builder_trains_records_its_identity_and_reloads(tmp_path: Path) -> None:
    result = attrbench.train(_cfg(), tmp_path / "run", progress=False, model=TinyNet)
    assert isinstance(result.model, TinyNet) and len(result.history) == 1
    config = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert config["model"] == f"user:{__name__}.TinyNet"
    torch.manual_seed(3)  # the builder ran right after seeding with cfg.seed
    from attrbench.results.identity import state_dict_sha256

    assert config["model_init_sha256"] == state_dict_sha256(TinyNet(10))
    sidecar = json.loads((tmp_path / "run" / "model.json").read_text())
    assert sidecar["architecture"] == f"user:{__name__}.TinyNet"
    loaded = load_user_weights(result.checkpoint, TinyNet(10))
    x = torch.rand(3, 3, 32, 32)
    trained = result.model.eval()
    for name, value in trained.state_dict().items():  # the weights come back bit for bit
        assert torch.equal(loaded.state_dict()[name], value), name
    # outputs only to float rounding: the loop keeps the trained model channels-last (CPU
    # convolutions then sum in another order), the reloaded one is contiguous
    torch.testing.assert_close(loaded(x), trained(x), rtol=1e-5, atol=1e-6)
    # the same builder resumes: the finished run is loaded, not retrained
    again = attrbench.train(_cfg(), tmp_path / "run", progress=False, model=TinyNet)
    assert again.history == result.history
    with pytest.raises(AttrbenchError, match="holds a 'user:.*TinyNet' model"):
        load_user_weights(result.checkpoint, OtherNet(10))


def test_resume_refuses_another_module(tmp_path: Path) -> None:
    attrbench.train(_cfg(), tmp_path / "run", progress=False, model=TinyNet)
    with pytest.raises(AttrbenchError, match="different config.*model"):
        attrbench.train(_cfg(), tmp_path / "run", progress=False, model=OtherNet)
    torch.manual_seed(99)  # same class, other initial weights
    with pytest.raises(AttrbenchError, match="model_init_sha256"):
        attrbench.train(_cfg(), tmp_path / "run", progress=False, model=TinyNet(10))
    with pytest.raises(AttrbenchError, match="different config.*model"):
        attrbench.train(_cfg(), tmp_path / "run", progress=False)  # the registry's small_cnn
    attrbench.train(_cfg(), tmp_path / "reg", progress=False)
    with pytest.raises(AttrbenchError, match="different config.*model"):
        attrbench.train(_cfg(), tmp_path / "reg", progress=False, model=TinyNet)


def test_a_module_is_trained_as_given(tmp_path: Path) -> None:
    net = TinyNet(10)
    start = _params(net)
    result = attrbench.train(_cfg(), tmp_path / "run", progress=False, model=net)
    assert result.model is net
    assert any(not torch.equal(start[k], v) for k, v in _params(net).items())


@pytest.mark.parametrize(("model", "message"), [
    (lambda num_classes: TinyNet(3), r"returns \(2, 3\) for 2 images but the data has 10"),
    (lambda: "not a module", "returned a str"),
    (lambda a, b: TinyNet(a), "must take num_classes"),
    (42, "must be an nn.Module or a builder"),
])
def test_bad_user_models(tmp_path: Path, model, message) -> None:
    with pytest.raises(AttrbenchError, match=message):
        attrbench.train(_cfg(), tmp_path / "run", progress=False, model=model)


def test_fresh_copies_are_seeded_reinitialised_copies() -> None:
    template = TinyNet(10)
    before = _params(template)
    build = fresh_copies(template)
    torch.manual_seed(0)
    a = build()
    torch.manual_seed(0)
    b = build()
    torch.manual_seed(1)
    c = build()
    assert all(torch.equal(v, _params(b)[k]) for k, v in _params(a).items())
    assert any(not torch.equal(v, _params(c)[k]) for k, v in _params(a).items())
    assert any(not torch.equal(v, before[k]) for k, v in _params(a).items())
    assert all(torch.equal(v, before[k]) for k, v in _params(template).items())  # untouched
    assert a is not template and fresh_copies(TinyNet) is TinyNet
    with pytest.raises(AttrbenchError, match=r"\['scale'\] belong to no module"):
        fresh_copies(RawParam(10))
