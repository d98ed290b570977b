"""The dataset registry: ``list_datasets``, ``get_dataset_spec``, ``load_dataset``.

Registered names:

* ``cifar10-mini``, ``mnist-mini``: embedded package data (no files needed);
* ``cifar10``: a ``cifar-10-batches-py`` folder (``root=``; ``download=True`` fetches it);
* ``cifar10-jpeg``: the extracted ``cifar10-jpeg/{train,test}/<class>/NNNN.jpg`` tree, official
  class order;
* ``imagefolder``: any ImageFolder tree ``root/<class>/<image>``, optionally split into
  ``root/{train,val,test}/<class>/<image>``, or the official Food-101 layout (``images/`` +
  ``meta/``).

A directory can also be passed instead of a name; its layout is detected (:func:`detect_layout`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import warnings

from attrbench.data.base import (
    ImageDataset,
    SubsetWarning,
    select_positions,
    stratified_positions,
)
from attrbench.data.cifar_batches import (
    CIFAR10_CLASSES,
    cifar10_spec,
    find_batches_dir,
    load_cifar10_batches,
)
from attrbench.data.embedded import embedded_names, embedded_spec, load_embedded
from attrbench.data.imagefolder import (
    ImageSize,
    build_file_dataset,
    class_folders,
    food101_files,
    scan_class_folders,
)
from attrbench.data.spec import DatasetSpec, Normalization, resolve_normalization
from attrbench.errors import AttrbenchError, unknown_name_error
from attrbench.registry import Registry

#: Sub-folder names recognised as splits of an ImageFolder tree, in the order a default is chosen.
SPLIT_DIRS: tuple[str, ...] = ("test", "val", "train")
JPEG_TREE_DIR = "cifar10-jpeg"
ACCEPTED_LAYOUTS = (
    "cifar-10-batches-py (data_batch_1..5, test_batch), the extracted cifar10-jpeg tree, "
    "an ImageFolder tree root/<class>/<image> or root/{train,val,test}/<class>/<image>, "
    "or Food-101 (images/ + meta/)"
)


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset.

    Attributes:
        name: registry name.
        description: one line for ``attrbench data list``.
        kind: ``"embedded"`` (package data) or ``"disk"`` (needs ``root``).
        splits: the split names, or ``()`` when they depend on the folder.
        loader: ``(root, split, normalization=, image_size=, download=) -> ImageDataset``.
        static_spec: ``normalization -> DatasetSpec`` when the spec is known without reading files.
    """

    name: str
    description: str
    kind: str
    splits: tuple[str, ...]
    loader: Callable[..., ImageDataset]
    static_spec: Callable[[Normalization], DatasetSpec] | None = None


DATASETS: Registry[DatasetEntry] = Registry("dataset")


def _no_extras(name: str, image_size: ImageSize, download: bool) -> None:
    if image_size is not None:
        raise AttrbenchError(
            f"Dataset {name!r} has a fixed image size; drop image_size (--image-size)."
        )
    if download:
        raise AttrbenchError(
            f"Only 'cifar10' can be downloaded; {name!r} cannot (drop --download)."
        )


def _load_embedded(name: str) -> Callable[..., ImageDataset]:
    def load(root: Path | None, split: str, *, normalization: Normalization, image_size: ImageSize,
             download: bool) -> ImageDataset:
        _no_extras(name, image_size, download)
        if root is not None:
            raise AttrbenchError(f"Dataset {name!r} is embedded in attrbench; drop root (--root).")
        return load_embedded(name, split, normalization=normalization)

    return load


def _load_cifar10(root: Path, split: str, *, normalization: Normalization, image_size: ImageSize,
                  download: bool) -> ImageDataset:
    _no_extras("cifar10", image_size, False)
    return load_cifar10_batches(root, split, normalization=normalization, download=download)


def _jpeg_tree_base(root: Path) -> Path:
    return root / JPEG_TREE_DIR if (root / JPEG_TREE_DIR).is_dir() else root


def _load_cifar10_jpeg(
    root: Path, split: str, *, normalization: Normalization, image_size: ImageSize, download: bool
) -> ImageDataset:
    _no_extras("cifar10-jpeg", None, download)
    base = _jpeg_tree_base(root)
    if split not in ("train", "test"):
        raise AttrbenchError(
            f"The CIFAR-10 JPEG tree has splits 'train' and 'test', not {split!r}."
        )
    if not (base / split).is_dir():
        raise AttrbenchError(
            f"{base} has no {split}/ folder; extract cifar10-jpeg.tar and pass the folder that "
            "holds cifar10-jpeg/."
        )
    files, labels, classes = scan_class_folders(base / split, CIFAR10_CLASSES)
    return build_file_dataset(
        "cifar10-jpeg", split, files, labels, classes, source=str(base / split),
        description="CIFAR-10 as 32x32 JPEGs (quality 75), official class order",
        normalization=normalization, image_size=image_size,
    )


def _split_dirs(root: Path) -> list[str]:
    """Split sub-folders of ``root`` (``train``/``val``/``test``) that contain class folders."""
    return [s for s in SPLIT_DIRS if (root / s).is_dir() and class_folders(root / s)]


def _load_imagefolder(
    root: Path,
    split: str | None,
    *,
    normalization: Normalization,
    image_size: ImageSize,
    download: bool,
    classes: Sequence[str] | None = None,
    name: str = "imagefolder",
) -> ImageDataset:
    _no_extras(name, None, download)
    desc = "ImageFolder tree"
    if (root / "meta").is_dir() and (root / "images").is_dir():
        split = split or "test"
        files, labels, found = food101_files(root, split)
        desc = "Food-101 layout"
    else:
        splits = _split_dirs(root)
        if splits:
            split = split or splits[0]
            if split not in splits:
                raise AttrbenchError(
                    f"{root} has splits {', '.join(sorted(splits))}; there is no {split!r}."
                )
            files, labels, found = scan_class_folders(root / split, classes)
        else:
            split = split or "all"
            if split != "all":
                raise AttrbenchError(
                    f"{root} is a single ImageFolder tree without train/val/test folders; "
                    f"use split 'all', not {split!r}."
                )
            files, labels, found = scan_class_folders(root, classes)
    return build_file_dataset(name, split, files, labels, found, source=str(root), description=desc,
                              normalization=normalization, image_size=image_size)


def _register_all() -> None:
    for name in embedded_names():
        DATASETS.register(name, DatasetEntry(
            name, embedded_spec(name).description, "embedded", ("train", "test"),
            _load_embedded(name), lambda norm, _n=name: embedded_spec(_n, norm)))
    DATASETS.register("cifar10", DatasetEntry(
        "cifar10", "cifar-10-batches-py folder (--download fetches it)", "disk",
        ("train", "test"), _load_cifar10, cifar10_spec))
    DATASETS.register("cifar10-jpeg", DatasetEntry(
        "cifar10-jpeg", "extracted cifar10-jpeg/{train,test}/<class>/*.jpg", "disk",
        ("train", "test"), _load_cifar10_jpeg, _cifar10_jpeg_spec))
    DATASETS.register("imagefolder", DatasetEntry(
        "imagefolder", "root/[split/]<class>/<image>, or Food-101", "disk",
        (), _load_imagefolder))


def _cifar10_jpeg_spec(normalization: Normalization) -> DatasetSpec:
    mean, std = resolve_normalization(normalization, 3)
    return DatasetSpec(
        "cifar10-jpeg", CIFAR10_CLASSES, (3, 32, 32), mean, std,
        "CIFAR-10 as 32x32 JPEGs (quality 75), official class order", "cifar10-jpeg.tar",
    )


_register_all()


def list_datasets(pattern: str = "*") -> list[str]:
    """Sorted registered dataset names matching the shell-style ``pattern`` (e.g. ``"cifar*"``)."""
    return DATASETS.names(pattern)


def get_dataset_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; raises the unknown-name error with suggestions."""
    return DATASETS.get(name)


def detect_layout(path: Path) -> str:
    """Which loader reads folder ``path``: ``"cifar10"``, ``"cifar10-jpeg"`` or ``"imagefolder"``.

    ``cifar-10-batches-py`` files (in ``path`` or ``path/cifar-10-batches-py``) -> ``cifar10``; a
    ``cifar10-jpeg`` sub-folder, or an ImageFolder tree whose classes are exactly CIFAR-10's -> the
    ``cifar10-jpeg`` loader (official class order, not alphabetical); any other tree of class
    folders (with or without ``train``/``val``/``test``) or Food-101 -> ``imagefolder``.

    Raises:
        AttrbenchError: ``path`` is missing, a file, or matches none of the layouts (listed).
    """
    if not path.exists():
        raise AttrbenchError(
            f"Dataset folder {path} does not exist; give an existing folder or one of: "
            f"{', '.join(list_datasets())}."
        )
    if path.is_file():
        archive = path.name.endswith((".tar", ".tar.gz", ".tgz", ".zip"))
        hint = " extract it first (tar xf) and pass the folder;" if archive else ""
        raise AttrbenchError(
            f"{path} is a file, not a dataset folder;{hint} accepted layouts: {ACCEPTED_LAYOUTS}."
        )
    if find_batches_dir(path) is not None:
        return "cifar10"
    if (path / JPEG_TREE_DIR).is_dir():
        return "cifar10-jpeg"
    if (path / "meta").is_dir() and (path / "images").is_dir():
        return "imagefolder"
    splits = _split_dirs(path)
    tree_classes = class_folders(path / splits[0]) if splits else class_folders(path)
    if splits and set(tree_classes) == set(CIFAR10_CLASSES) and {"train", "test"} >= set(splits):
        return "cifar10-jpeg"
    if tree_classes:
        return "imagefolder"
    raise AttrbenchError(
        f"{path} is not a dataset folder attrbench can read; accepted layouts: {ACCEPTED_LAYOUTS}."
    )


def _is_path(name_or_path: str | os.PathLike[str]) -> bool:
    if isinstance(name_or_path, os.PathLike):
        return True
    return (os.sep in name_or_path or name_or_path.startswith((".", "~"))
            or os.path.exists(name_or_path))


def load_dataset(
    name_or_path: str | os.PathLike[str],
    split: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    normalization: Normalization = "paper",
    image_size: ImageSize = None,
    limit: int | None = None,
    indices: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    download: bool = False,
    limit_mode: str = "first",
    seed: int = 0,
) -> ImageDataset:
    """Load a dataset split by registry name or from a directory.

    Args:
        name_or_path: a name from :func:`list_datasets` or a directory (layout autodetected).
        split: ``"train"``/``"test"`` (``"val"`` where a tree has it, ``"all"`` for a single
            ImageFolder tree); default ``"test"`` (or the tree's only split).
        root: directory of a disk dataset (``cifar10``, ``cifar10-jpeg``, ``imagefolder``).
        normalization: ``"paper"`` (mean = std = 0.5, inputs in [-1, 1], FPA Appendix A),
            ``"imagenet"``, ``"none"`` or ``(mean, std)`` for pixels in [0, 1].
        image_size: ImageFolder trees only: ``s`` or ``(resize, crop)``.
        limit: keep the first ``limit`` images (a reduced run on the first N test images).
        indices: positions (not ids) to keep, in order; applied before ``limit``.
        download: ``cifar10`` only: download the official archive into ``root`` if absent.
        limit_mode: ``"first"`` (the first ``limit`` images, e.g. the first N official test
            images) or ``"stratified"`` (``limit`` images with every class in proportion, a
            seeded draw kept in dataset order; :func:`~attrbench.data.base.stratified_positions`).
            A ``"first"`` cut of a class-sorted split (a folder) that misses classes warns
            with :class:`~attrbench.data.base.SubsetWarning`.
        seed: seed of a stratified draw.

    Returns:
        A dataset of ``(image float32 (C, H, W), label int)`` with ``.spec``, ``.labels``, ``.ids``;
        embedded and ``cifar10`` sets are in memory and also have ``.images_uint8``.

    Raises:
        AttrbenchError: unknown name, missing/unreadable folder, wrong split, bad files, bad subset.
    """
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        entry = DATASETS.get(name_or_path)
        if entry.kind == "disk" and root is None:
            raise AttrbenchError(
                f"Dataset {entry.name!r} is read from disk; pass root (--root DIR) with its folder."
            )
        root_path = Path(root).expanduser() if root is not None else None
        missing = root_path is not None and not root_path.exists()
        if missing and entry.kind == "disk" and not download:
            raise AttrbenchError(
                f"Dataset folder {root_path} does not exist; give the folder that holds "
                f"{entry.name!r}."
            )
        if root_path is not None and root_path.is_file():
            raise AttrbenchError(
                f"{root_path} is a file; root must be the folder holding {entry.name!r}."
            )
        # Fixed-split datasets default to "test"; folder trees pick their default in the loader.
        chosen = split if split is not None else ("test" if entry.splits else None)
        dataset = entry.loader(root_path, chosen, normalization=normalization,
                               image_size=image_size, download=download)
    elif _is_path(name_or_path):
        if root is not None:
            raise AttrbenchError("Give either a dataset folder or a name with root, not both.")
        path = Path(name_or_path).expanduser()
        layout = detect_layout(path)
        dataset = load_dataset(layout, split, root=path, normalization=normalization,
                               image_size=image_size, download=download)
    else:
        raise unknown_name_error("dataset", str(name_or_path), DATASETS)
    what = f"{dataset.spec.name}/{dataset.split}"
    if limit_mode not in ("first", "stratified"):
        raise AttrbenchError(f"limit_mode must be 'first' or 'stratified', got {limit_mode!r}.")
    if limit_mode == "stratified" and limit is not None:
        base = select_positions(len(dataset), indices=indices, what=what)
        pool = np.arange(len(dataset)) if base is None else base
        select_positions(len(pool), limit=limit, what=what)  # the range checks and messages
        picked = stratified_positions(dataset.labels[torch.from_numpy(pool)], limit, seed)
        return dataset.subset(pool[picked])
    positions = select_positions(len(dataset), limit=limit, indices=indices, what=what)
    subset = dataset.subset(positions)
    labels = dataset.labels
    if limit is not None and indices is None and bool((labels[1:] >= labels[:-1]).all()):
        have = int((dataset.label_histogram() > 0).sum())  # a class-sorted split, e.g. a folder
        kept = int((subset.label_histogram() > 0).sum())
        if kept < have:
            warnings.warn(SubsetWarning(
                f"the first {len(subset)} images of {what} cover only {kept} of its {have} "
                "classes (the files are sorted by class); take a stratified subset "
                "(limit_mode='stratified') or all images."), stacklevel=2)
    return subset


def get_dataset_spec(
    name_or_path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
    normalization: Normalization = "paper", image_size: ImageSize = None, **kwargs: Any,
) -> DatasetSpec:
    """The :class:`DatasetSpec` of a dataset; read from the files only when it depends on them.

    Args:
        name_or_path: registry name or directory.
        root: directory of a disk dataset.
        normalization: as in :func:`load_dataset`.
        image_size: as in :func:`load_dataset`.
        **kwargs: further :func:`load_dataset` arguments (``split``, ``download``) for folders.
    """
    if isinstance(name_or_path, str) and name_or_path in DATASETS and image_size is None:
        entry = DATASETS.get(name_or_path)
        if entry.static_spec is not None:
            return entry.static_spec(normalization)
    dataset = load_dataset(name_or_path, root=root, normalization=normalization,
                           image_size=image_size, **kwargs)
    return dataset.spec
