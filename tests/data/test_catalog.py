"""Registry, name-or-path dispatch, normalisation settings, subsets and their error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attrbench.data import (
    DatasetSpec,
    denormalize,
    get_dataset_spec,
    list_datasets,
    load_dataset,
    resolve_normalization,
)
from attrbench.errors import AttrbenchError


def test_registered_names_exactly() -> None:
    assert list_datasets() == ["cifar10", "cifar10-jpeg", "cifar10-mini", "imagefolder", "mnist-mini"]
    assert list_datasets("*-mini") == ["cifar10-mini", "mnist-mini"]


def test_static_specs_need_no_files() -> None:
    spec = get_dataset_spec("cifar10")
    assert spec.image_shape == (3, 32, 32) and spec.num_classes == 10 and spec.mean == (0.5, 0.5, 0.5)
    assert get_dataset_spec("mnist-mini", normalization=((0.1307,), (0.3081,))).std == (0.3081,)
    with pytest.raises(AttrbenchError, match=r"Dataset 'imagefolder' is read from disk; pass root"):
        get_dataset_spec("imagefolder")


def test_spec_is_frozen() -> None:
    spec = get_dataset_spec("cifar10-mini")
    with pytest.raises(AttributeError):
        spec.name = "x"  # type: ignore[misc]


def test_unknown_name_suggests() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown dataset 'cifar-mini'. Did you mean 'cifar10-mini'.*"
                                              r"Valid datasets: cifar10, cifar10-jpeg"):
        load_dataset("cifar-mini")


def test_missing_directory_and_root_misuse(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match=r"Dataset folder .*absent does not exist; give an existing folder"):
        load_dataset(tmp_path / "absent")
    with pytest.raises(AttrbenchError, match=r"'cifar10-mini' is embedded in attrbench; drop root"):
        load_dataset("cifar10-mini", root=tmp_path)
    with pytest.raises(AttrbenchError, match=r"Dataset folder .*absent does not exist; give the folder"):
        load_dataset("imagefolder", root=tmp_path / "absent")
    with pytest.raises(AttrbenchError, match=r"either a dataset folder or a name with root"):
        load_dataset(tmp_path, root=tmp_path)
    with pytest.raises(AttrbenchError, match=r"'cifar10-mini' has a fixed image size; drop image_size"):
        load_dataset("cifar10-mini", image_size=64)


def test_wrong_split_embedded() -> None:
    with pytest.raises(AttrbenchError, match=r"'mnist-mini' has splits 'train' and 'test', not 'validation'"):
        load_dataset("mnist-mini", "validation")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, r"limit must be a positive number of images \(--limit, --num-images\), got 0"),
    ({"limit": 1001}, r"limit 1001 exceeds the 1000 images available in mnist-mini/test"),
    ({"indices": [0, 1000]}, r"Index 1000 is out of range for mnist-mini/test with 1000 images; use 0..999"),
    ({"indices": [-1]}, r"Index -1 is out of range"),
    ({"indices": []}, r"selection from mnist-mini/test is empty"),
    ({"indices": [[1, 2]]}, r"indices must be a 1-D list of integer positions"),
])
def test_bad_subsets(kwargs: dict, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        load_dataset("mnist-mini", "test", **kwargs)


def test_indices_as_tensor() -> None:
    ds = load_dataset("mnist-mini", "test", indices=torch.tensor([7, 2]))
    assert ds.ids.tolist() == [7, 2]


@pytest.mark.parametrize(("normalization", "message"), [
    ("zscore", r"Unknown normalization 'zscore'.*Valid normalizations: imagenet, none, paper"),
    ("imagenet", r"Normalisation mean has 3 values but the images have 1 channel\(s\)"),
    (((0.5,), (0.0,)), r"Normalisation std must be positive"),
    ((0.5,), r"must be a preset name or a \(mean, std\) pair"),
])
def test_bad_normalization(normalization: object, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        load_dataset("mnist-mini", "test", normalization=normalization)  # type: ignore[arg-type]


def test_normalization_presets() -> None:
    assert resolve_normalization("paper", 3) == ((0.5,) * 3, (0.5,) * 3)
    assert resolve_normalization("none", 1) == ((0.0,), (1.0,))
    assert resolve_normalization((0.2, [0.3]), 2) == ((0.2, 0.2), (0.3, 0.3))


def test_denormalize_and_spec_checks() -> None:
    spec = DatasetSpec("t", ("a", "b"), (1, 2, 2), (0.5,), (0.5,))
    x = torch.tensor([[[[-1.0, 0.0], [1.0, 3.0]]]])
    torch.testing.assert_close(denormalize(x, spec), torch.tensor([[[[0.0, 0.5], [1.0, 1.0]]]]))
    with pytest.raises(AttrbenchError, match=r"denormalize expects \(C, H, W\) or \(B, C, H, W\) with C = 1"):
        denormalize(torch.zeros(3, 2, 2), spec)
    with pytest.raises(AttrbenchError, match=r"has 3 mean / 1 std values but the images have 1 channel"):
        DatasetSpec("t", ("a",), (1, 2, 2), (0.5, 0.5, 0.5), (0.5,))
    with pytest.raises(AttrbenchError, match=r"Dataset 't' has no classes"):
        DatasetSpec("t", (), (1, 2, 2), (0.5,), (0.5,))
