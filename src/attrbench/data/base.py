"""The dataset objects every loader returns, and subset selection that keeps image ids.

Every dataset is a :class:`torch.utils.data.Dataset` of ``(image, label)`` with ``image`` float32
``(C, H, W)`` normalised as ``.spec`` says and ``label`` an ``int``. It also carries

* ``.spec``: the :class:`~attrbench.data.spec.DatasetSpec`;
* ``.split``: the split name (``"train"``, ``"test"``, ...);
* ``.labels``: int64 ``(N,)`` tensor of all labels (known without decoding any image);
* ``.ids``: int64 ``(N,)`` tensor of image ids, the id written into results (for the embedded and
  ``cifar-10-batches-py`` sets, the image's index in the official split, so ``cifar10-mini`` test id
  ``i`` is the official test image ``i``).

In-memory datasets (:class:`ArrayImageDataset`) additionally expose ``.images_uint8`` so training
can gather and normalise whole mini-batches at once with
:func:`~attrbench.data.spec.normalize_uint8`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from attrbench.data.spec import DatasetSpec, normalize_uint8
from attrbench.errors import AttrbenchError


class SubsetWarning(UserWarning):
    """A subset (``limit``) that leaves classes out, e.g. the first N files of a class-sorted
    folder."""


def stratified_positions(labels: np.ndarray | torch.Tensor, n: int, seed: int = 0) -> np.ndarray:
    """``n`` positions with every class in proportion to its size, seeded, in dataset order.

    Class ``c`` with ``n_c`` of the ``N`` images gets ``floor(n n_c / N)`` places, and the places
    left go to the largest remainders (ties: smaller class index); within a class the images are a
    seeded random draw.

    Args:
        labels: int ``(N,)`` labels of the full split.
        n: how many positions, ``1 <= n <= N``.
        seed: seed of the draw within classes.

    Returns:
        int64 ``(n,)`` sorted positions.
    """
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
    total = len(y)
    if not 1 <= n <= total:
        raise AttrbenchError(f"A stratified subset needs 1..{total} images, got {n}.")
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n // total
    left = n - int(quota.sum())
    remainder = counts * n - quota * total
    quota[np.argsort(-remainder, kind="stable")[:left]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def select_positions(
    n: int,
    *,
    limit: int | None = None,
    indices: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    what: str = "dataset",
) -> np.ndarray | None:
    """Positions (0..n-1) selected by ``indices`` and then ``limit``; ``None`` means "all".

    Args:
        n: size of the full split.
        limit: keep only the first ``limit`` of the (selected) images.
        indices: positions into the full split (not ids), in the order they should appear.
        what: dataset/split name for error messages.

    Returns:
        int64 ``(M,)`` positions, or ``None`` when neither argument is given.

    Raises:
        AttrbenchError: negative/oversized ``limit`` or an index out of range.
    """
    if limit is None and indices is None:
        return None
    pos = np.arange(n, dtype=np.int64)
    if indices is not None:
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise AttrbenchError(
                f"indices must be a 1-D list of integer positions, got shape {idx.shape}."
            )
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)][0]
            raise AttrbenchError(
                f"Index {bad} is out of range for {what} with {n} images; use 0..{n - 1}."
            )
        pos = pos[idx]
    if limit is not None:
        if limit <= 0:
            raise AttrbenchError(
                f"limit must be a positive number of images (--limit, --num-images), got {limit}."
            )
        if limit > len(pos):
            raise AttrbenchError(
                f"limit {limit} exceeds the {len(pos)} images available in {what}; "
                f"use a smaller --limit / --num-images (at most {len(pos)})."
            )
        pos = pos[:limit]
    if len(pos) == 0:
        raise AttrbenchError(f"The selection from {what} is empty; give at least one index.")
    return pos


class ImageDataset(Dataset):
    """Base of all attrbench datasets: ``(image float32 (C, H, W), label int)`` plus metadata.

    Args:
        spec: dataset description (classes, shape, normalisation).
        split: split name.
        labels: int64 ``(N,)`` labels.
        ids: int64 ``(N,)`` image ids used in results.
    """

    def __init__(
        self, spec: DatasetSpec, split: str, labels: torch.Tensor, ids: torch.Tensor
    ) -> None:
        if len(labels) == 0:
            raise AttrbenchError(f"Dataset {spec.name!r} split {split!r} has no images.")
        if labels.min() < 0 or labels.max() >= spec.num_classes:
            raise AttrbenchError(
                f"Labels of {spec.name!r} lie in {int(labels.min())}..{int(labels.max())} but "
                f"there are "
                f"{spec.num_classes} classes; the label file does not match the class list."
            )
        self.spec = spec
        self.split = split
        self.labels = labels.to(torch.int64)
        self.ids = ids.to(torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, positions: np.ndarray | None) -> ImageDataset:
        """A new dataset with the samples at ``positions`` (int ``(M,)``), keeping their ids;
        ``None`` returns ``self``."""
        raise NotImplementedError

    def label_histogram(self) -> torch.Tensor:
        """int64 ``(num_classes,)``: images per class."""
        return torch.bincount(self.labels, minlength=self.spec.num_classes)

    def __repr__(self) -> str:
        c, h, w = self.spec.image_shape
        return (f"{type(self).__name__}({self.spec.name!r}, split={self.split!r}, n={len(self)}, "
                f"shape=({c}, {h}, {w}), classes={self.spec.num_classes})")


class ArrayImageDataset(ImageDataset):
    """An image dataset held in memory as uint8 pixels.

    Args:
        spec: dataset description; ``spec.image_shape`` must match the arrays.
        split: split name.
        images_uint8: uint8 ``(N, H, W, C)`` (RGB) or ``(N, H, W)`` (grayscale), values 0..255.
        labels: int ``(N,)``.
        ids: int ``(N,)`` image ids (e.g. the official test index).

    Attributes:
        images_uint8: uint8 tensor ``(N, H, W, C)`` or ``(N, H, W)``; shares memory with the
            input array.
    """

    def __init__(
        self, spec: DatasetSpec, split: str, images_uint8: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor, ids: np.ndarray | torch.Tensor,
    ) -> None:
        images = torch.as_tensor(images_uint8)
        labels_t = torch.as_tensor(labels).to(torch.int64)
        ids_t = torch.as_tensor(ids).to(torch.int64)
        if images.dtype != torch.uint8:
            raise AttrbenchError(f"Images of {spec.name!r} must be uint8, got {images.dtype}.")
        c, h, w = spec.image_shape
        expected = (h, w) if c == 1 and images.dim() == 3 else (h, w, c)
        if tuple(images.shape[1:]) != expected or not (len(images) == len(labels_t) == len(ids_t)):
            raise AttrbenchError(
                f"Arrays of {spec.name!r} do not fit together: images {tuple(images.shape)} "
                f"(expected "
                f"(N, {', '.join(map(str, expected))})), {len(labels_t)} labels, {len(ids_t)} ids."
            )
        super().__init__(spec, split, labels_t, ids_t)
        self.images_uint8 = images

    def subset(self, positions: np.ndarray | None) -> ArrayImageDataset:
        """A new dataset with the images at ``positions`` (int ``(M,)``), keeping their ids."""
        if positions is None:
            return self
        pos = torch.from_numpy(np.asarray(positions, dtype=np.int64))
        return ArrayImageDataset(
            self.spec, self.split, self.images_uint8[pos], self.labels[pos], self.ids[pos]
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Image ``index`` as float32 ``(C, H, W)`` normalised, and its label."""
        image = normalize_uint8(self.images_uint8[index].unsqueeze(0), self.spec)[0]
        return image, int(self.labels[index])

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """All images normalised, float32 ``(N, C, H, W)``, and labels int64 ``(N,)``, on
        ``device``."""
        return (normalize_uint8(self.images_uint8.to(device), self.spec), self.labels.to(device))
