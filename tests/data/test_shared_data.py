"""The embedded sets against the shared source files they were built from (skipped without them)."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from attrbench.data import load_dataset

SHARED = Path(__file__).resolve().parents[2] / "../shared/data"


def _source(rel: str) -> Path:
    path = SHARED / rel
    if not path.is_file():
        pytest.skip(f"{path} is absent (needs ../shared/data)")
    return path


@pytest.mark.shared_data
def test_cifar10_mini_test_is_exactly_the_first_1000_lossless_test_images() -> None:
    with np.load(_source("cifar10/cifar10-lossless.npz")) as src:
        src_x, src_y, src_i = src["test_x"][:1000], src["test_y"][:1000], src["test_index"][:1000]
    test = load_dataset("cifar10-mini", "test")
    np.testing.assert_array_equal(test.images_uint8.numpy(), src_x)
    np.testing.assert_array_equal(test.labels.numpy(), src_y)
    np.testing.assert_array_equal(test.ids.numpy(), src_i)


@pytest.mark.shared_data
def test_embedded_train_images_match_their_source_ids() -> None:
    with np.load(_source("cifar10/cifar10-lossless.npz")) as src:
        by_id = dict(zip(src["train_index"].tolist(), range(len(src["train_index"]))))
        train = load_dataset("cifar10-mini", "train")
        pos = np.array([by_id[i] for i in train.ids.tolist()])
        np.testing.assert_array_equal(train.images_uint8.numpy(), src["train_x"][pos])
        np.testing.assert_array_equal(train.labels.numpy(), src["train_y"][pos])
    with np.load(_source("mnist/mnist.npz")) as src:
        mnist = load_dataset("mnist-mini", "train")
        np.testing.assert_array_equal(mnist.images_uint8.numpy(), src["train_x"][mnist.ids.numpy()])
        test = load_dataset("mnist-mini", "test")
        np.testing.assert_array_equal(test.images_uint8.numpy(), src["test_full_x"][:1000])


@pytest.mark.shared_data
def test_build_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    _source("cifar10/cifar10-lossless.npz")
    _source("mnist/mnist.npz")
    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("build_embedded_data", repo / "scripts/build_embedded_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--shared", str(SHARED), "--out", str(tmp_path)]) == 0
    for name in ("cifar10_mini.npz", "mnist_mini.npz"):
        committed = repo / "src/attrbench/data/embedded" / name
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), name


@pytest.mark.shared_data
def test_jpeg_tree_images_match_lossless_pixels_within_jpeg_error(tmp_path: Path) -> None:
    """train/airplane/NNNN.jpg is the NNNN-th airplane in official order; JPEG q75 error ~5.8/255."""
    n = 50
    members = []
    with tarfile.open(_source("cifar10/cifar10-jpeg.tar")) as tar:
        for member in tar:  # sorted: train/airplane/0000.jpg ... comes first
            if len(members) == n:
                break
            if member.name.startswith("cifar10-jpeg/train/airplane/"):
                members.append(member)
        tar.extractall(tmp_path, members=members, filter="data")
    jpeg = load_dataset("imagefolder", root=tmp_path / "cifar10-jpeg" / "train", normalization="none")
    assert jpeg.spec.classes == ("airplane",) and len(jpeg) == n
    mini = load_dataset("cifar10-mini", "train", normalization="none")
    first = np.flatnonzero(mini.labels.numpy() == 0)[:n]
    assert mini.ids[first].max() < 4000  # all from data_batch_1[0:4000], which is complete in the source
    exact = mini.tensors()[0][torch.from_numpy(first)]
    decoded = torch.stack([jpeg[i][0] for i in range(n)])
    per_image = (decoded - exact).abs().mean(dim=(1, 2, 3)) * 255
    assert float(per_image.max()) < 12 and 3 < float(per_image.mean()) < 9
