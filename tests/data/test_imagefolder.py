"""ImageFolder, Food-101 and CIFAR-10 JPEG trees written here as tiny PNG/JPEG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attrbench.data import CIFAR10_CLASSES, ImageFolderDataset, load_dataset
from attrbench.errors import AttrbenchError


def test_plain_tree_png_exact_pixels_and_alphabetical_classes(tmp_path: Path, make_tree) -> None:
    pixels = make_tree(tmp_path / "tree", {"zebra": 2, "ant": 3})
    ds = load_dataset("imagefolder", root=tmp_path / "tree")
    assert isinstance(ds, ImageFolderDataset) and ds.split == "all"
    assert ds.spec.classes == ("ant", "zebra") and ds.spec.image_shape == (3, 8, 6)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1] and ds.ids.tolist() == [0, 1, 2, 3, 4]
    image, label = ds[3]
    assert image.dtype == torch.float32 and image.shape == (3, 8, 6) and label == 1
    expected = (pixels["zebra"][0].transpose(2, 0, 1) / 255.0 - 0.5) / 0.5  # PNG is lossless
    torch.testing.assert_close(image, torch.from_numpy(expected).float())
    assert ds.load_uint8(3).dtype == torch.uint8


def test_images_are_decoded_lazily(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"a": 2, "b": 2})
    ds = load_dataset("imagefolder", root=tmp_path)
    (tmp_path / "b" / "0001.png").write_bytes(b"garbage")  # only fails when that item is read
    ds[0]
    with pytest.raises(AttrbenchError, match=r"Cannot decode image .*0001.png"):
        ds[3]


def test_grayscale_tree_gives_one_channel(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"0": 1, "1": 1}, size=(5, 5), channels=1)
    ds = load_dataset(tmp_path, "all")
    assert ds.spec.image_shape == (1, 5, 5) and ds[1][0].shape == (1, 5, 5)


def test_split_tree_with_resize_and_crop(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "train", {"cat": 2, "dog": 1}, size=(20, 30), suffix=".jpg")
    make_tree(tmp_path / "val", {"cat": 1, "dog": 1}, size=(40, 24), suffix=".jpg")
    val = load_dataset(tmp_path, image_size=16)  # default split: val (no test folder)
    assert val.split == "val" and val.spec.image_shape == (3, 16, 16) and val[1][0].shape == (3, 16, 16)
    train = load_dataset("imagefolder", "train", root=tmp_path, image_size=(18, 12))
    assert len(train) == 3 and train[0][0].shape == (3, 12, 12)
    with pytest.raises(AttrbenchError, match=r"has splits train, val; there is no 'test'"):
        load_dataset(tmp_path, "test")


def test_mixed_sizes_without_resize(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"a": 2}, size=(8, 8))
    make_tree(tmp_path, {"b": 2}, size=(9, 8))
    with pytest.raises(AttrbenchError, match=r"mixed sizes .* pass image_size \(--image-size\)"):
        load_dataset(tmp_path, "all")
    assert load_dataset(tmp_path, "all", image_size=8)[3][0].shape == (3, 8, 8)


def test_mixed_size_outside_the_header_sample_fails_on_read(tmp_path: Path, make_tree) -> None:
    n = 40
    make_tree(tmp_path, {"a": n}, size=(8, 8))
    sampled = set(np.linspace(0, n - 1, num=32).astype(int).tolist())  # headers checked up front
    odd = min(set(range(n)) - sampled)
    odd_pixels = np.zeros((6, 8, 3), np.uint8)
    Image.fromarray(odd_pixels).save(tmp_path / "a" / f"{odd:04d}.png")
    ds = load_dataset(tmp_path, "all")
    assert ds.spec.image_shape == (3, 8, 8)
    with pytest.raises(AttrbenchError, match=r"is 8x6 but the dataset's images are 8x8; pass image_size"):
        ds[odd]


def test_empty_class_folder_and_empty_tree(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "t", {"full": 2, "hollow": 0})
    with pytest.raises(AttrbenchError, match=r"Class folder\(s\) hollow .* contain no images"):
        load_dataset("imagefolder", root=tmp_path / "t")
    (tmp_path / "bare").mkdir()
    with pytest.raises(AttrbenchError, match=r"not a dataset folder attrbench can read; accepted layouts: "
                                              r"cifar-10-batches-py .*ImageFolder"):
        load_dataset(tmp_path / "bare")
    with pytest.raises(AttrbenchError, match=r"has no class sub-folders"):
        load_dataset("imagefolder", root=tmp_path / "bare")


def test_plain_tree_rejects_train_split(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"a": 1})
    with pytest.raises(AttrbenchError, match=r"single ImageFolder tree .* use split 'all', not 'train'"):
        load_dataset(tmp_path, "train")


def test_food101_layout(tmp_path: Path, make_tree) -> None:
    root = tmp_path / "food-101"
    make_tree(root / "images", {"apple_pie": 2, "sushi": 2}, size=(12, 10), suffix=".jpg")
    (root / "meta").mkdir()
    (root / "meta" / "classes.txt").write_text("sushi\napple_pie\n")
    (root / "meta" / "train.txt").write_text("apple_pie/0000\nsushi/0001\napple_pie/0001\n")
    (root / "meta" / "test.txt").write_text("sushi/0000\n")
    train = load_dataset(root, "train")
    assert train.spec.classes == ("sushi", "apple_pie") and train.labels.tolist() == [1, 0, 1]
    assert train.files[1].endswith("sushi/0001.jpg") and train[1][0].shape == (3, 12, 10)
    assert len(load_dataset("imagefolder", root=root)) == 1  # default split: test
    with pytest.raises(AttrbenchError, match=r"has no split 'val'; use one of \['test', 'train'\]"):
        load_dataset(root, "val")


def test_cifar10_jpeg_tree_uses_official_class_order(jpeg_tree: Path) -> None:
    for root in (jpeg_tree, jpeg_tree / "cifar10-jpeg"):
        test = load_dataset("cifar10-jpeg", "test", root=root)
        assert test.spec.classes == CIFAR10_CLASSES  # airplane..truck, not alphabetical
        assert test.labels.tolist() == list(range(10))
        assert all(Path(f).parent.name == CIFAR10_CLASSES[lb] for f, lb in zip(test.files, test.labels.tolist()))
    train = load_dataset(jpeg_tree, "train")  # autodetected via the cifar10-jpeg folder
    assert train.spec.name == "cifar10-jpeg" and len(train) == 20 and train[0][0].shape == (3, 32, 32)
    assert np.bincount(train.labels.numpy()).tolist() == [2] * 10
    split_tree = load_dataset(jpeg_tree / "cifar10-jpeg", "test")  # train/test tree with CIFAR classes
    assert split_tree.spec.name == "cifar10-jpeg"


def test_cifar10_jpeg_tree_errors(jpeg_tree: Path, tmp_path: Path) -> None:
    (jpeg_tree / "cifar10-jpeg" / "test" / "unicorn").mkdir()
    with pytest.raises(AttrbenchError, match=r"do not match the expected classes \(missing \[\], unexpected \['unicorn'\]\)"):
        load_dataset("cifar10-jpeg", "test", root=jpeg_tree)
    with pytest.raises(AttrbenchError, match=r"JPEG tree has splits 'train' and 'test', not 'val'"):
        load_dataset("cifar10-jpeg", "val", root=jpeg_tree)
    (tmp_path / "other").mkdir()
    with pytest.raises(AttrbenchError, match=r"has no test/ folder; extract cifar10-jpeg.tar"):
        load_dataset("cifar10-jpeg", "test", root=tmp_path / "other")


def test_tar_file_path_says_extract(tmp_path: Path) -> None:
    tar = tmp_path / "cifar10-jpeg.tar"
    tar.write_bytes(b"")
    with pytest.raises(AttrbenchError, match=r"is a file, not a dataset folder; extract it first"):
        load_dataset(tar)


def test_invalid_image_size(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, {"a": 1})
    with pytest.raises(AttrbenchError, match=r"image_size must be positive with crop <= resize"):
        load_dataset(tmp_path, "all", image_size=(8, 16))
