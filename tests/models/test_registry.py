"""Contract tests over the whole model registry, plus create_model's argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.models import (
    InputNormalization,
    ModelSpec,
    count_parameters,
    create_model,
    get_model_spec,
    list_models,
    model_build_of,
    model_spec_of,
    resolve_layer,
    unwrap_model,
)

EXPECTED_MODELS = {
    "small_cnn",
    "cifar_resnet18",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "resnet18",
    "resnet50",
}
ALL = sorted(EXPECTED_MODELS)


def _size(spec: ModelSpec) -> int:
    """A small valid input size: 64 for the ImageNet-stem models, 16 for the others."""
    return 64 if spec.family == "imagenet" else 16


def _batch(spec: ModelSpec, in_channels: int = 3, batch: int = 2, size: int | None = None) -> torch.Tensor:
    s = size if size is not None else _size(spec)
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, in_channels, s, s, generator=gen)


def test_exact_set_of_registered_names() -> None:
    assert set(list_models()) == EXPECTED_MODELS
    assert list_models("cifar_resnet*") == [
        "cifar_resnet18", "cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56"
    ]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", ALL)
def test_spec_is_consistent(name: str) -> None:
    spec = get_model_spec(name)
    assert spec.name == name
    assert len(spec.default_input_shape) == 3
    assert spec.min_input_size <= min(spec.default_input_shape[1:])
    assert spec.description and spec.family in {"small", "cifar", "imagenet"}
    with pytest.raises(Exception):  # frozen dataclass
        spec.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", ALL)
def test_forward_shape_modes_and_grads(name: str) -> None:
    spec = get_model_spec(name)
    model = create_model(name, num_classes=7)
    assert isinstance(model, nn.Module) and model.training
    x = _batch(spec)
    out = model(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters()), "every parameter is used"
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)
    # float32 sums run in another order for another batch size; with untrained deep ResNets the
    # logits reach ~400, so the rounding error scales with the largest logit, not with each one
    scale = float(a.abs().max())
    assert torch.allclose(model(x[:1]), a[:1], rtol=0, atol=1e-5 * max(scale, 1.0)), \
        "batch result equals per-image result"


@pytest.mark.parametrize("name", ALL)
def test_cam_layer_feeds_gap_then_fc(name: str) -> None:
    """logits == fc(mean_hw(cam_layer(x))): the property CAM (Zhou et al. 2016) needs."""
    spec = get_model_spec(name)
    model = create_model(name).eval()
    cam, fc = resolve_layer(model, spec.cam_layer), resolve_layer(model, spec.fc_layer)
    assert isinstance(fc, nn.Linear)
    seen: list[torch.Tensor] = []
    handle = cam.register_forward_hook(lambda _m, _i, o: seen.append(o))
    try:
        with torch.no_grad():
            logits = model(_batch(spec))
    finally:
        handle.remove()
    (act,) = seen
    assert act.ndim == 4 and act.shape[1] == fc.in_features
    assert (act >= 0).all(), "the CAM layer output is post-ReLU"
    assert torch.allclose(fc(act.mean(dim=(2, 3))), logits, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_one_channel_and_min_input_size(name: str) -> None:
    spec = get_model_spec(name)
    model = create_model(name, num_classes=3, in_channels=1).eval()
    with torch.no_grad():
        out = model(_batch(spec, in_channels=1, size=spec.min_input_size))
    assert out.shape == (2, 3)
    assert model_build_of(model).in_channels == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ALL)
def test_count_parameters_matches_built_model(name: str) -> None:
    model = create_model(name, num_classes=5, in_channels=1)
    assert count_parameters(name, 5, 1) == sum(p.numel() for p in model.parameters())


def test_build_record_and_spec_lookup() -> None:
    model = create_model("small_cnn", num_classes=4, in_channels=1)
    build = model_build_of(model)
    assert build is not None and build.to_dict() == {
        "architecture": "small_cnn", "num_classes": 4, "in_channels": 1,
        "input_normalization": None, "kwargs": {},
    }
    assert model_spec_of(model) is get_model_spec("small_cnn")
    assert model_build_of(nn.Linear(2, 2)) is None and model_spec_of(nn.Linear(2, 2)) is None


def test_input_normalization_wrapper_normalises_inside() -> None:
    torch.manual_seed(0)
    model = create_model("small_cnn", input_normalization="imagenet").eval()
    assert isinstance(model, InputNormalization)
    bare = unwrap_model(model)
    x = torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), bare((x - mean) / std), atol=1e-6)
    assert resolve_layer(model, "features.block5") is bare.features.block5
    assert set(model.state_dict()) == {f"model.{k}" for k in bare.state_dict()}, "stats not persisted"
    custom = create_model("small_cnn", in_channels=1, input_normalization=([0.1307], [0.3081]))
    assert model_build_of(custom).input_normalization == {"mean": [0.1307], "std": [0.3081]}  # type: ignore[union-attr]
    assert model_build_of(create_model("small_cnn", input_normalization="none")).input_normalization is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_normalization": "imagenet", "in_channels": 1}, r"3 mean and 3 std values .* 1 channel"),
        ({"input_normalization": "zscore"}, r"Unknown input normalization 'zscore'.*imagenet"),
        ({"input_normalization": ([0.5] * 3, [0.5, 0.0, 0.5])}, r"std must be positive"),
        ({"input_normalization": {"mean": [0.5] * 3}}, r"exactly the keys 'mean' and 'std'"),
        ({"input_normalization": 3}, r"preset name, a \(mean, std\) pair"),
        ({"num_classes": 0}, r"num_classes must be a positive integer, got 0"),
        ({"in_channels": 2.5}, r"in_channels must be a positive integer"),
        ({"pretrained": True}, r"does not take option\(s\) pretrained; valid options: none"),
    ],
)
def test_create_model_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        create_model("small_cnn", **kwargs)


def test_unknown_model_name_lists_valid_ones() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown model 'cifar_resnet19'\. Did you mean .*Valid models: "
                                              r"cifar_resnet18, .*small_cnn"):
        create_model("cifar_resnet19")


def test_resolve_layer_unknown_name() -> None:
    with pytest.raises(AttrbenchError, match=r"no submodule 'layer9'; top-level modules: conv1, bn1"):
        resolve_layer(create_model("cifar_resnet20"), "layer9")
