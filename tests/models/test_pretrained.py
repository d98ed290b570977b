"""Shipped models: listed, hash-checked, accurate as recorded; clear errors for bad names/files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import attrbench
from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.models import pretrained
from attrbench.training import evaluate_accuracy

SHIPPED = ("cifar_resnet20.fpa", "cifar_resnet20.none", "cifar_resnet20.rectangle")


def test_the_three_models_are_shipped_and_listed() -> None:
    assert tuple(attrbench.list_pretrained()) == SHIPPED
    for name in SHIPPED:
        assert pretrained.pretrained_path(name).stat().st_size <= 1_200_000


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_hash_and_recorded_accuracy(name: str) -> None:
    model, meta = attrbench.load_pretrained(name)
    shipped = meta["shipped"]
    assert meta["config"]["recipe"] == "cifar-resnet20" and meta["config"]["dataset"] == "cifar10-jpeg"
    assert meta["crop"] == {"padding": 4, "fill": "black"}
    assert name.endswith("." + meta["config"]["augment"])
    test = load_dataset("cifar10-mini", "test")
    acc = evaluate_accuracy(model, test)
    assert abs(acc - shipped["accuracy"]["embedded_test_1000"]) <= 0.01
    assert acc >= 0.80  # sanity: a full-CIFAR ResNet-20, not a toy


def test_unknown_pretrained_name_lists_the_valid_ones() -> None:
    with pytest.raises(AttrbenchError, match="cifar_resnet20.none"):
        attrbench.load_pretrained("cifar_resnet20.nope")


def test_a_damaged_shipped_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = pretrained.weights_dir()
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(src / f"cifar_resnet20.none{suffix}", tmp_path / f"cifar_resnet20.none{suffix}")
    data = bytearray((tmp_path / "cifar_resnet20.none.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "cifar_resnet20.none.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "weights_dir", lambda: tmp_path)
    with pytest.raises(AttrbenchError, match="does not match its recorded SHA-256.*reinstall"):
        attrbench.load_pretrained("cifar_resnet20.none")


def test_sidecars_record_how_to_recreate() -> None:
    for name in SHIPPED:
        meta = json.loads(pretrained.pretrained_path(name).with_suffix(".json").read_text())
        assert "attrbench train" in meta["shipped"]["command"]
        assert "scripts/train_pretrained.py" in meta["shipped"]["recreate"]
        assert len(meta["weights_sha256"]) == 64
