"""The augmentation registry: exact names, a contract over every entry, presets and bad input."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attrbench.augment import (
    AUGMENTATIONS,
    FPAConfig,
    RectangleConfig,
    create_augmentation,
    list_augmentations,
)
from attrbench.errors import AttrbenchError


def test_registered_names() -> None:
    assert list_augmentations() == ["fpa", "none", "rectangle"]
    assert list_augmentations("f*") == ["fpa"]


@pytest.mark.parametrize("name", list_augmentations())
def test_contract(name: str) -> None:
    aug = create_augmentation(name, **({} if name == "none" else {"p": 1.0}))
    assert aug.name == name
    assert dataclasses.is_dataclass(aug.config)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    before = x.clone()
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.isfinite(out).all()
    assert torch.equal(x, before)
    again = aug(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    out2, mask = aug.apply(x, torch.Generator().manual_seed(0))
    assert torch.equal(out2, out)
    assert mask is None if name == "none" else mask.shape == (4, 16, 16)
    # A config written to a sidecar as a dict rebuilds the same augmentation.
    rebuilt = create_augmentation(name, **dataclasses.asdict(aug.config))
    assert rebuilt.config == aug.config


def test_presets_and_overrides() -> None:
    assert create_augmentation("fpa").config == FPAConfig()
    imagenet = create_augmentation("fpa", preset="imagenet", mode="reference")
    assert imagenet.config == FPAConfig(p1_max=0.3, p2=0.01, s_max=10, mode="reference")
    assert create_augmentation("rectangle", preset="default").config == RectangleConfig()
    assert AUGMENTATIONS.get("fpa").default_preset == "cifar"


def test_none_returns_the_same_tensor() -> None:
    x = torch.randn(2, 3, 8, 8)
    assert create_augmentation("none")(x, torch.Generator()) is x


def test_bad_names_and_parameters() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown augmentation 'fpaa'\. Did you mean 'fpa'\?"
                                             r" Valid augmentations: fpa, none, rectangle\."):
        create_augmentation("fpaa")
    with pytest.raises(AttrbenchError, match=r"Unknown fpa preset 'cifar10'.*Valid fpa presets: "
                                             r"cifar, imagenet\."):
        create_augmentation("fpa", preset="cifar10")
    with pytest.raises(AttrbenchError, match=r"Unknown parameter\(s\) pmax for augmentation 'fpa'; "
                                             r"valid parameters: p, p1_max, p2, s_max, mode, "
                                             r"mask_value\."):
        create_augmentation("fpa", pmax=0.3)
    with pytest.raises(AttrbenchError, match=r"for augmentation 'none'; valid parameters: none\."):
        create_augmentation("none", p=0.5)
    with pytest.raises(AttrbenchError, match=r"p1_max must be a number in \(0, 1\)"):
        create_augmentation("fpa", p1_max=2.0)
