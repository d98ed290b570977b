"""The embedded datasets ``cifar10-mini`` and ``mnist-mini``, shipped as package data.

Built by ``scripts/build_embedded_data.py`` from exact (lossless) pixels:

* ``cifar10-mini``: CIFAR-10 (Krizhevsky 2009); train = the first 500 images of each class in the
  official order (5,000, balanced); test = the first 1,000 official test images in order (the
  FPA paper uses all 10,000, Brocki & Chung Sec. 4.2; its code release's reference curves are on
  the first 10, which this set contains). ``(3, 32, 32)`` RGB.
* ``mnist-mini``: MNIST (LeCun et al. 1998), same selection, ``(1, 28, 28)`` grayscale.

Image ids are the indices into the official split, so results on ``cifar10-mini`` test image ``i``
refer to the official CIFAR-10 test image ``i``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from attrbench.data.base import ArrayImageDataset
from attrbench.data.cifar_batches import CIFAR10_CLASSES
from attrbench.data.spec import DatasetSpec, Normalization, resolve_normalization
from attrbench.errors import AttrbenchError

SPLITS = ("train", "test")

# name -> (file in attrbench/data/embedded, classes, (C, H, W), description)
_EMBEDDED: dict[str, tuple[str, tuple[str, ...], tuple[int, int, int], str]] = {
    "cifar10-mini": (
        "cifar10_mini.npz", CIFAR10_CLASSES, (3, 32, 32),
        "CIFAR-10: train 500/class, test = first 1000",
    ),
    "mnist-mini": (
        "mnist_mini.npz", tuple(str(d) for d in range(10)), (1, 28, 28),
        "MNIST: train 500/class, test = first 1000",
    ),
}
_CITATION = {
    "cifar10-mini": "Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
    "mnist-mini": "LeCun, Cortes and Burges, The MNIST database (LeCun et al. 1998)",
}


def embedded_names() -> tuple[str, ...]:
    """Names of the embedded datasets."""
    return tuple(_EMBEDDED)


def embedded_spec(name: str, normalization: Normalization = "paper") -> DatasetSpec:
    """The :class:`DatasetSpec` of embedded dataset ``name`` (no file is read)."""
    filename, classes, shape, description = _EMBEDDED[name]
    mean, std = resolve_normalization(normalization, shape[0])
    return DatasetSpec(
        name=name, classes=classes, image_shape=shape, mean=mean, std=std, description=description,
        source=f"package data attrbench/data/embedded/{filename} ({_CITATION[name]})",
    )


def load_embedded(
    name: str, split: str, *, normalization: Normalization = "paper"
) -> ArrayImageDataset:
    """Load split ``split`` of embedded dataset ``name`` into memory.

    Args:
        name: ``"cifar10-mini"`` or ``"mnist-mini"``.
        split: ``"train"`` or ``"test"``.
        normalization: preset name or ``(mean, std)``; default the paper's [-1, 1] scaling.

    Returns:
        Dataset with ``images_uint8`` ``(N, 32, 32, 3)`` (CIFAR) or ``(N, 28, 28)`` (MNIST) and
        ``ids`` = official indices.

    Raises:
        AttrbenchError: unknown split, or the package data is missing (broken installation).
    """
    if split not in SPLITS:
        raise AttrbenchError(f"Dataset {name!r} has splits 'train' and 'test', not {split!r}.")
    spec = embedded_spec(name, normalization)
    resource = resources.files("attrbench.data").joinpath("embedded", _EMBEDDED[name][0])
    try:
        with resources.as_file(resource) as path, np.load(path, allow_pickle=False) as npz:
            images, labels, ids = npz[f"{split}_x"], npz[f"{split}_y"], npz[f"{split}_index"]
            classes = tuple(str(c) for c in npz["classes"])
    except FileNotFoundError:
        raise AttrbenchError(
            f"Embedded data file {_EMBEDDED[name][0]} is missing from the installation; "
            "reinstall attrbench (pip install -e .) from a complete checkout."
        ) from None
    if classes != spec.classes:
        raise AttrbenchError(
            f"Embedded {name} lists classes {classes}; rebuild it with "
            "scripts/build_embedded_data.py."
        )
    return ArrayImageDataset(spec, split, images, labels, ids)
