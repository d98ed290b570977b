"""Tiny on-disk datasets written by the tests themselves: cifar-10-batches-py, ImageFolder, JPEG tree."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attrbench.data import CIFAR10_CLASSES


def write_batch(path: Path, images: np.ndarray, labels: Sequence[int], *, protocol: int = 2,
                bytes_keys: bool = True) -> None:
    """Write a CIFAR-10 batch pickle: ``images`` uint8 (N, 32, 32, 3) stored as (N, 3072) CHW rows.

    ``bytes_keys`` mimics the official Python-2 files, whose keys read back as bytes under
    ``encoding="bytes"`` (latin-1 strings under ours).
    """
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)
    batch = {key("batch_label"): key("tiny batch"), key("labels"): list(map(int, labels)),
             key("data"): rows, key("filenames"): [key(f"img{i}.png") for i in range(len(images))]}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def random_images(n: int, seed: int, size: tuple[int, int] = (32, 32), channels: int = 3) -> np.ndarray:
    """``n`` random uint8 images ``(n, H, W, C)`` (or ``(n, H, W)`` for one channel)."""
    rng = np.random.default_rng(seed)
    shape = (n, *size, channels) if channels > 1 else (n, *size)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


@pytest.fixture
def batch_writer() -> Callable[..., None]:
    """The :func:`write_batch` helper, for tests that write their own batch files."""
    return write_batch


@pytest.fixture
def images_maker() -> Callable[..., np.ndarray]:
    """The :func:`random_images` helper."""
    return random_images


@pytest.fixture
def cifar_batches(tmp_path: Path) -> dict[str, object]:
    """A ``cifar-10-batches-py`` folder with two train batches (3 + 2 images) and a test batch (4)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train1, train2, test = random_images(3, 1), random_images(2, 2), random_images(4, 3)
    y1, y2, yt = [6, 9, 0], [4, 1], [3, 8, 8, 0]
    write_batch(folder / "data_batch_1", train1, y1, protocol=2)
    write_batch(folder / "data_batch_2", train2, y2, protocol=5, bytes_keys=False)
    write_batch(folder / "test_batch", test, yt, protocol=4)
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return {"root": tmp_path, "folder": folder, "train_x": np.concatenate([train1, train2]),
            "train_y": np.array(y1 + y2), "test_x": test, "test_y": np.array(yt)}


def write_image(path: Path, pixels: np.ndarray) -> None:
    """Save uint8 ``(H, W, 3)`` or ``(H, W)`` pixels; format from the suffix (PNG lossless)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture
def make_tree() -> Callable[..., dict[str, np.ndarray]]:
    """Factory: write ``root/<class>/<k>.png`` for ``counts`` images per class; returns the pixels."""

    def make(root: Path, counts: dict[str, int], *, size: tuple[int, int] = (8, 6), suffix: str = ".png",
             channels: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
        written: dict[str, np.ndarray] = {}
        for j, (cls, n) in enumerate(counts.items()):
            pixels = random_images(n, seed + j, size, channels) if n else np.zeros((0,), np.uint8)
            (root / cls).mkdir(parents=True, exist_ok=True)
            for k in range(n):
                write_image(root / cls / f"{k:04d}{suffix}", pixels[k])
            written[cls] = pixels
        return written

    return make


@pytest.fixture
def jpeg_tree(tmp_path: Path, make_tree: Callable[..., dict[str, np.ndarray]]) -> Path:
    """An extracted ``cifar10-jpeg/{train,test}/<class>/NNNN.jpg`` tree, 2 train / 1 test per class."""
    base = tmp_path / "cifar10-jpeg"
    make_tree(base / "train", {c: 2 for c in CIFAR10_CLASSES}, size=(32, 32), suffix=".jpg")
    make_tree(base / "test", {c: 1 for c in CIFAR10_CLASSES}, size=(32, 32), suffix=".jpg", seed=50)
    return tmp_path
