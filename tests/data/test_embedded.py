"""The embedded sets cifar10-mini and mnist-mini: shapes, dtypes, ranges, label histograms, ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrbench.data import CIFAR10_CLASSES, ArrayImageDataset, denormalize, load_dataset, normalize_uint8

CASES = [("cifar10-mini", (3, 32, 32), (32, 32, 3)), ("mnist-mini", (1, 28, 28), (28, 28))]


@pytest.mark.parametrize(("name", "shape", "raw"), CASES)
def test_train_is_balanced_500_per_class(name: str, shape: tuple, raw: tuple) -> None:
    train = load_dataset(name, "train")
    assert isinstance(train, ArrayImageDataset) and train.split == "train"
    assert tuple(train.images_uint8.shape) == (5000, *raw) and train.images_uint8.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.ids.dtype == torch.int64
    assert train.label_histogram().tolist() == [500] * 10
    ids = train.ids.numpy()
    assert np.all(np.diff(ids) > 0)  # original order kept, no duplicates
    assert train.spec.image_shape == shape and train.spec.num_classes == 10


@pytest.mark.parametrize(("name", "shape", "raw"), CASES)
def test_test_is_first_1000_official_images(name: str, shape: tuple, raw: tuple) -> None:
    test = load_dataset(name, "test")
    assert len(test) == 1000 and test.ids.tolist() == list(range(1000))
    image, label = test[0]
    assert image.shape == shape and image.dtype == torch.float32 and isinstance(label, int)
    x, y = test.tensors()
    assert x.shape == (1000, *shape) and x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() == -1.0 and x.max() == 1.0  # paper normalisation: pixels 0 and 255 map to -1 and 1
    torch.testing.assert_close(x[0], image)
    assert int(test.label_histogram().sum()) == 1000 and y.dtype == torch.int64


def test_known_labels_and_classes() -> None:
    cifar = load_dataset("cifar10-mini", "test", limit=5)
    assert cifar.spec.classes == CIFAR10_CLASSES
    assert [cifar.spec.classes[i] for i in cifar.labels.tolist()] == ["cat", "ship", "ship", "airplane", "frog"]
    train = load_dataset("cifar10-mini", "train", limit=5)
    assert [CIFAR10_CLASSES[i] for i in train.labels.tolist()] == ["frog", "truck", "truck", "deer", "automobile"]
    mnist = load_dataset("mnist-mini", "test", limit=3)
    assert mnist.spec.classes == tuple("0123456789") and mnist.labels.tolist() == [7, 2, 1]
    assert load_dataset("cifar10-mini", "test").label_histogram().tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]


def test_subset_keeps_original_ids() -> None:
    full = load_dataset("cifar10-mini", "train")
    sub = load_dataset("cifar10-mini", "train", indices=[4999, 10, 3], limit=2)
    assert sub.ids.tolist() == [int(full.ids[4999]), int(full.ids[10])]
    assert torch.equal(sub.images_uint8[0], full.images_uint8[4999])
    assert torch.equal(sub[1][0], full[10][0])


def test_imagenet_normalization_and_denormalize_round_trip() -> None:
    ds = load_dataset("cifar10-mini", "test", limit=4, normalization="imagenet")
    assert ds.spec.mean == (0.485, 0.456, 0.406)
    x, _ = ds.tensors()
    pixels = ds.images_uint8.permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(denormalize(x, ds.spec), pixels)
    torch.testing.assert_close(normalize_uint8(ds.images_uint8, ds.spec), x)


def test_indexing_protocol() -> None:
    ds = load_dataset("mnist-mini", "test", limit=3)
    torch.testing.assert_close(ds[-1][0], ds[2][0])
    assert len(list(ds)) == 3  # iteration stops on IndexError
    with pytest.raises(IndexError):
        ds[3]
