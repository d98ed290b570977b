"""safetensors checkpoints with a JSON sidecar: round trip, sidecar contents, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from attrbench.errors import AttrbenchError
from attrbench.models import (
    apply_state_dict,
    checkpoint_paths,
    create_model,
    load_checkpoint,
    model_build_of,
    read_checkpoint_metadata,
    save_checkpoint,
    unwrap_model,
)
from attrbench.models.cifar_resnet import CifarResNet
from attrbench.provenance import library_versions

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
META = {
    "classes": CLASSES,
    "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    "augmentation": {"name": "fpa", "preset": "cifar"},
    "config": {"lr": 0.01, "epochs": 40, "recipe": "paper-cifar"},
    "metrics": {"test_accuracy": 0.93},
    "seed": 7,
    "dataset": "cifar10-mini",
}


def _trained_like(name: str = "small_cnn", **kwargs: object) -> torch.nn.Module:
    """A model whose BatchNorm running stats are not the defaults (so a bad round trip shows)."""
    torch.manual_seed(1)
    model = create_model(name, **kwargs)  # type: ignore[arg-type]
    c = model_build_of(model).in_channels  # type: ignore[union-attr]
    model(torch.randn(4, c, 16, 16))
    return model.eval()


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model = _trained_like()
    weights = save_checkpoint(model, tmp_path / "ckpt", META)
    assert weights == tmp_path / "ckpt.safetensors" and (tmp_path / "ckpt.json").is_file()
    loaded, meta = load_checkpoint(tmp_path / "ckpt")
    assert not loaded.training
    ref, got = model.state_dict(), loaded.state_dict()
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) and ref[k].dtype == got[k].dtype for k in ref)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert meta["seed"] == 7
    # Any of the three names of the checkpoint works.
    for p in (tmp_path / "ckpt.safetensors", tmp_path / "ckpt.json"):
        assert torch.equal(load_checkpoint(p)[0](x), loaded(x))
    # No temporary files left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]


def test_round_trip_with_input_normalization_and_one_channel(tmp_path: Path) -> None:
    model = _trained_like("cifar_resnet20", in_channels=1, num_classes=4, input_normalization=([0.1307], [0.3081]))
    save_checkpoint(model, tmp_path / "m.v1", {})  # a dot in the stem is kept
    loaded, meta = load_checkpoint(tmp_path / "m.v1.safetensors")
    assert meta["input_normalization"] == {"mean": [0.1307], "std": [0.3081]}
    assert (meta["in_channels"], meta["num_classes"]) == (1, 4)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # The weights file holds the bare network's keys (no "model." wrapper prefix).
    assert set(load_file(str(tmp_path / "m.v1.safetensors"))) == set(unwrap_model(model).state_dict())


def test_sidecar_contents(tmp_path: Path) -> None:
    model = _trained_like()
    save_checkpoint(model, tmp_path / "ckpt", META)
    side = json.loads((tmp_path / "ckpt.json").read_text())
    assert side["format"] == "attrbench-checkpoint" and side["format_version"] == 1
    assert side["architecture"] == "small_cnn"
    assert (side["num_classes"], side["in_channels"]) == (10, 3)
    assert side["input_normalization"] is None and side["model_kwargs"] == {}
    for key, value in META.items():
        assert side[key] == value
    assert side["versions"] == library_versions()
    assert side["weights_file"] == "ckpt.safetensors" and len(side["weights_sha256"]) == 64
    assert side["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert "git_revision" in side and "created" in side
    # read back with the regime record every loader sees (natural training: none was given)
    assert read_checkpoint_metadata(tmp_path / "ckpt") == {**side, "regime": {
        "name": "none", "preset": None, "params": {}, "resolved": None}}


def test_standard_keys_present_when_not_given(tmp_path: Path) -> None:
    save_checkpoint(create_model("small_cnn"), tmp_path / "c")
    side = read_checkpoint_metadata(tmp_path / "c")
    for key in ("classes", "normalization", "augmentation", "config", "metrics", "seed"):
        assert side[key] is None


def test_foreign_model_saved_by_architecture_name(tmp_path: Path) -> None:
    model = CifarResNet(20, num_classes=5).eval()
    save_checkpoint(model, tmp_path / "c", {"architecture": "cifar_resnet20"})
    loaded, meta = load_checkpoint(tmp_path / "c", expected_arch="cifar_resnet20", expected_num_classes=5)
    assert meta["num_classes"] == 5
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_pretrained_option_does_not_download_on_reload(tmp_path: Path) -> None:
    model = create_model("resnet18", num_classes=3)
    save_checkpoint(model, tmp_path / "r", {})
    side = read_checkpoint_metadata(tmp_path / "r")
    side["model_kwargs"] = {"pretrained": True, "allow_download": True}  # as recorded for a fine-tuned model
    side.pop("weights_sha256")
    (tmp_path / "r.json").write_text(json.dumps(side))
    loaded, _ = load_checkpoint(tmp_path / "r")  # would need the network if it rebuilt with weights
    assert model_build_of(loaded).kwargs == {"pretrained": False, "allow_download": False}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"expected_num_classes": 100}, r"has 10 classes but 100 are expected; use a checkpoint trained"),
        ({"expected_arch": "resnet50"}, r"is a 'small_cnn' model, not 'resnet50'; pass --model small_cnn"),
    ],
)
def test_load_mismatch_errors(tmp_path: Path, kwargs: dict, match: str) -> None:
    save_checkpoint(create_model("small_cnn"), tmp_path / "c", META)
    with pytest.raises(AttrbenchError, match=match):
        load_checkpoint(tmp_path / "c", **kwargs)


def test_save_errors(tmp_path: Path) -> None:
    model = create_model("small_cnn")
    with pytest.raises(AttrbenchError, match=r"metadata\['classes'\] has 2 names but the model has 10 outputs"):
        save_checkpoint(model, tmp_path / "c", {"classes": ["a", "b"]})
    with pytest.raises(AttrbenchError, match=r"metadata\['num_classes'\] = 3 contradicts the model \(10\)"):
        save_checkpoint(model, tmp_path / "c", {"num_classes": 3})
    with pytest.raises(AttrbenchError, match=r"metadata keys \['versions'\] are written by save_checkpoint"):
        save_checkpoint(model, tmp_path / "c", {"versions": {}})
    with pytest.raises(AttrbenchError, match=r"needs a model made by attrbench.models.create_model"):
        save_checkpoint(CifarResNet(20), tmp_path / "c", {})
    with pytest.raises(AttrbenchError, match=r"do not match the registered 'cifar_resnet32' architecture"):
        save_checkpoint(CifarResNet(20), tmp_path / "c", {"architecture": "cifar_resnet32"})
    assert not list(tmp_path.iterdir()), "nothing written on error"


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match=r"sidecar .*nope.json' not found; a checkpoint is <stem>.safetensors"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(AttrbenchError, match=r"is a directory; pass a checkpoint file \(found: none\)"):
        load_checkpoint(tmp_path)
    save_checkpoint(create_model("small_cnn"), tmp_path / "c", {})
    weights, sidecar = checkpoint_paths(tmp_path / "c")
    good_sidecar = sidecar.read_text()

    sidecar.write_text("{not json")
    with pytest.raises(AttrbenchError, match=r"is not valid JSON"):
        load_checkpoint(tmp_path / "c")
    sidecar.write_text(json.dumps({"hello": 1}))
    with pytest.raises(AttrbenchError, match=r"is not an attrbench checkpoint sidecar"):
        load_checkpoint(tmp_path / "c")
    sidecar.write_text(good_sidecar.replace('"small_cnn"', '"vit_h14"'))
    with pytest.raises(AttrbenchError, match=r"architecture 'vit_h14', which this attrbench does not register"):
        load_checkpoint(tmp_path / "c")

    sidecar.write_text(good_sidecar)
    save_checkpoint(create_model("small_cnn"), tmp_path / "other", {})
    weights.write_bytes((tmp_path / "other.safetensors").read_bytes())  # a torn pair
    with pytest.raises(AttrbenchError, match=r"do not match their sidecar \(interrupted or altered write\)"):
        load_checkpoint(tmp_path / "c")
    weights.unlink()
    with pytest.raises(AttrbenchError, match=r"weights .*c.safetensors' not found beside its sidecar"):
        load_checkpoint(tmp_path / "c")


def test_apply_state_dict_reports_missing_unexpected_and_shapes() -> None:
    model = create_model("small_cnn")
    sd = model.state_dict()
    bad = {("model." + k if k.startswith("fc") else k): v for k, v in sd.items()}
    with pytest.raises(AttrbenchError, match=r"do not fit small_cnn: 2 missing key\(s\) e.g. 'fc.weight'; "
                                              r"2 unexpected key\(s\) e.g. 'model.fc.weight'"):
        apply_state_dict(model, bad)
    other = create_model("small_cnn", num_classes=100).state_dict()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(AttrbenchError, match=r"Weights in 'x.pt' do not fit small_cnn: 2 shape mismatch\(es\) "
                                              r"e.g. fc.weight: file \(100, 128\) vs model \(10, 128\)"):
        apply_state_dict(model, other, source="Weights in 'x.pt'")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "untouched on error"
