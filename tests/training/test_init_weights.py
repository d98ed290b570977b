"""--init: fine-tuning from a checkpoint or a plain state dict; one clear line for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.models import create_model, save_checkpoint
from attrbench.training import TrainConfig, train


def _cfg(**kw) -> TrainConfig:
    base = dict(dataset="cifar10-mini", model="small_cnn", epochs=1, batch_size=32, train_limit=32,
                test_limit=16, device="cpu", seed=0)
    base.update(kw)
    return TrainConfig.from_recipe("finetune", **base)


def _parent(tmp_path: Path, arch: str = "small_cnn", classes: int = 10) -> Path:
    torch.manual_seed(1)
    model = create_model(arch, num_classes=classes, in_channels=3)
    save_checkpoint(model, tmp_path / "parent" / "model",
                    {"architecture": arch, "classes": [str(i) for i in range(classes)]})
    return tmp_path / "parent" / "model"


def test_init_from_checkpoint_starts_from_its_weights_and_records_the_parent(tmp_path: Path) -> None:
    parent = _parent(tmp_path)
    # one step at a tiny lr: the child stays next to the parent, far from a fresh init
    result = train(_cfg(init=str(parent), lr=1e-6), tmp_path / "child", progress=False)
    from safetensors.torch import load_file

    p, c = load_file(str(parent) + ".safetensors"), load_file(str(tmp_path / "child" / "model.safetensors"))
    conv = next(k for k in p if k.endswith("weight") and p[k].dim() == 4)
    assert torch.allclose(p[conv], c[conv], atol=1e-4)
    meta = json.loads((tmp_path / "child" / "model.json").read_text())
    parent_meta = json.loads(Path(str(parent) + ".json").read_text())
    assert meta["parent"]["sha256"] == parent_meta["weights_sha256"]
    assert meta["parent"]["kind"] == "checkpoint"
    assert result.history and result.history[0]["lr"] == pytest.approx(1e-6)


def test_init_from_plain_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(2)
    sd = create_model("small_cnn", num_classes=10, in_channels=3).state_dict()
    torch.save({"model." + k: v for k, v in sd.items()}, tmp_path / "w.pt")  # timm/lightning style
    train(_cfg(init=str(tmp_path / "w.pt")), tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["parent"]["kind"] == "state_dict" and len(meta["parent"]["sha256"]) == 64


def test_init_with_another_architecture_is_refused(tmp_path: Path) -> None:
    parent = _parent(tmp_path, arch="cifar_resnet20")
    with pytest.raises(AttrbenchError, match="is a 'cifar_resnet20' model but this run trains"):
        train(_cfg(init=str(parent)), tmp_path / "child", progress=False)


def test_init_with_another_class_count_is_refused(tmp_path: Path) -> None:
    parent = _parent(tmp_path, classes=7)
    with pytest.raises(AttrbenchError, match="has 7 classes but the dataset has 10"):
        train(_cfg(init=str(parent)), tmp_path / "child", progress=False)


def test_state_dict_with_missing_or_unexpected_keys_is_refused(tmp_path: Path) -> None:
    sd = create_model("small_cnn", num_classes=10, in_channels=3).state_dict()
    first = next(iter(sd))
    missing = {k: v for k, v in sd.items() if k != first}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(AttrbenchError, match="1 missing key"):
        train(_cfg(init=str(tmp_path / "missing.pt")), tmp_path / "a", progress=False)
    torch.save({**sd, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(AttrbenchError, match="1 unexpected key"):
        train(_cfg(init=str(tmp_path / "extra.pt")), tmp_path / "b", progress=False)


def test_init_that_names_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match="neither a shipped model"):
        train(_cfg(init=str(tmp_path / "nothing.pt")), tmp_path / "a", progress=False)
