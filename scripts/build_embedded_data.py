#!/usr/bin/env python
"""Build the embedded datasets ``cifar10_mini.npz`` and ``mnist_mini.npz`` shipped as package data.

Sources (see ``../shared/data/README.md``):

* ``cifar10/cifar10-lossless.npz``: exact CIFAR-10 pixels (Krizhevsky 2009) for
  data_batch_1[0:4000], data_batch_2..5[0:1017] and test_batch[0:1017].
* ``mnist/mnist.npz``: MNIST (LeCun et al. 1998), all training images and the full test set.

Each output holds

* ``train_x`` / ``train_y`` / ``train_index``: the first 500 images of every class, in the original
  dataset order (5000 images, balanced); ``train_index`` is the image's index in the official
  training set.
* ``test_x`` / ``test_y`` / ``test_index``: the first 1000 official test images in order (the FPA
  paper evaluates on the test set, Brocki & Chung Sec. 4.2; its reference curves use the first 10).
* ``classes``: the class names in label order.

Images are uint8, CIFAR NHWC RGB ``(N, 32, 32, 3)``, MNIST ``(N, 28, 28)``; labels and indices
int64. The output bytes are deterministic: arrays are written with
:func:`numpy.lib.format.write_array` into a zip archive whose member timestamps are fixed
(``np.savez_compressed`` stamps members with the current time, so two builds of the same data
would differ byte for byte).

Usage::

    python scripts/build_embedded_data.py [--shared ../shared/data] \\
        [--out src/attrbench/data/embedded]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

TRAIN_PER_CLASS = 500
N_TEST = 1000
MAX_TOTAL_BYTES = 22_000_000
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def first_per_class(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Positions of the first ``per_class`` images of every class, in their original order.

    Args:
        labels: ``(N,)`` int labels in the original dataset order.
        per_class: images to keep per class.
        num_classes: number of classes; every class must have at least ``per_class`` images.

    Returns:
        ``(per_class * num_classes,)`` int64 positions into ``labels``, increasing.
    """
    # Rank of each image within its class (0 for the first image of that class, ...), vectorised:
    # a stable sort by label keeps the original order inside each class.
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=num_classes)
    if counts.min() < per_class:
        raise SystemExit(f"a class has only {counts.min()} images; need {per_class} per class")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(labels)) - np.repeat(starts, counts)
    return np.flatnonzero(rank < per_class).astype(np.int64)


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a deflate-compressed ``.npz`` with fixed timestamps (reproducible)."""
    tmp = path.with_suffix(".npz.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
    tmp.replace(path)


def build_cifar(src: Path) -> dict[str, np.ndarray]:
    """Select the CIFAR-10 subset from ``cifar10-lossless.npz``."""
    with np.load(src, allow_pickle=False) as d:
        classes = tuple(str(c) for c in d["classes"])
        if classes != CIFAR10_CLASSES:
            raise SystemExit(f"unexpected CIFAR-10 class order {classes}")
        train_y = d["train_y"].astype(np.int64)
        keep = first_per_class(train_y, TRAIN_PER_CLASS, 10)
        test_index = d["test_index"].astype(np.int64)
        if not np.array_equal(test_index[:N_TEST], np.arange(N_TEST)):
            raise SystemExit("cifar10-lossless test images are not test_batch[0:1000] in order")
        return {
            "train_x": d["train_x"][keep],
            "train_y": train_y[keep],
            "train_index": d["train_index"].astype(np.int64)[keep],
            "test_x": d["test_x"][:N_TEST],
            "test_y": d["test_y"].astype(np.int64)[:N_TEST],
            "test_index": test_index[:N_TEST],
            "classes": np.array(CIFAR10_CLASSES),
        }


def build_mnist(src: Path) -> dict[str, np.ndarray]:
    """Select the MNIST subset from ``mnist.npz`` (test from the complete official test set)."""
    with np.load(src, allow_pickle=False) as d:
        train_y = d["train_y"].astype(np.int64)
        keep = first_per_class(train_y, TRAIN_PER_CLASS, 10)
        return {
            "train_x": d["train_x"][keep],
            "train_y": train_y[keep],
            "train_index": keep,
            "test_x": d["test_full_x"][:N_TEST],
            "test_y": d["test_full_y"].astype(np.int64)[:N_TEST],
            "test_index": np.arange(N_TEST, dtype=np.int64),
            "classes": np.array(MNIST_CLASSES),
        }


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=repo.parent / "shared" / "data")
    default_out = repo / "src" / "attrbench" / "data" / "embedded"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    outputs = {
        "cifar10_mini.npz": build_cifar(args.shared / "cifar10" / "cifar10-lossless.npz"),
        "mnist_mini.npz": build_mnist(args.shared / "mnist" / "mnist.npz"),
    }
    total = 0
    for name, arrays in outputs.items():
        path = args.out / name
        write_npz_deterministic(path, arrays)
        size = path.stat().st_size
        total += size
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        hist = np.bincount(arrays["train_y"], minlength=10).tolist()
        print(f"{path}: {size:,} bytes sha256 {digest}")
        print(f"  train {arrays['train_x'].shape} per class {hist}; test {arrays['test_x'].shape} "
              f"hist {np.bincount(arrays['test_y'], minlength=10).tolist()}")
    print(f"total {total:,} bytes (limit {MAX_TOTAL_BYTES:,})")
    if total > MAX_TOTAL_BYTES:
        print("error: embedded data exceeds the size budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
