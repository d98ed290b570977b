"""Datasets: embedded CIFAR-10 / MNIST subsets and loaders for data on disk.

Every dataset yields ``(image float32 (C, H, W), label int)``, normalised by default as in the FPA
paper (mean = std = 0.5, inputs in [-1, 1]; Brocki & Chung, Appendix A), and carries ``.spec``
(:class:`DatasetSpec`), ``.labels`` and ``.ids`` (int64 ``(N,)``; the image id written to results).

>>> from attrbench.data import load_dataset
>>> test = load_dataset("cifar10-mini", "test", limit=100)   # the first 100 official test images
>>> image, label = test[0]
>>> tuple(image.shape), image.dtype, label      # (C, H, W) float32 in [-1, 1]; label 3 = cat
((3, 32, 32), torch.float32, 3)
"""

from __future__ import annotations

from attrbench.data.base import ArrayImageDataset, ImageDataset
from attrbench.data.catalog import (
    DatasetEntry,
    detect_layout,
    get_dataset_entry,
    get_dataset_spec,
    list_datasets,
    load_dataset,
)
from attrbench.data.cifar_batches import CIFAR10_CLASSES
from attrbench.data.imagefolder import ImageFolderDataset
from attrbench.data.spec import (
    NORMALIZATIONS,
    DatasetSpec,
    denormalize,
    normalize_uint8,
    resolve_normalization,
)

__all__ = [
    "CIFAR10_CLASSES",
    "NORMALIZATIONS",
    "ArrayImageDataset",
    "DatasetEntry",
    "DatasetSpec",
    "ImageDataset",
    "ImageFolderDataset",
    "denormalize",
    "detect_layout",
    "get_dataset_entry",
    "get_dataset_spec",
    "list_datasets",
    "load_dataset",
    "normalize_uint8",
    "resolve_normalization",
]
