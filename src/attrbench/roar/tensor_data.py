"""Train the existing loop on in-memory (modified) datasets.

ROAR and IteROAR retrain on datasets that exist only in memory (images with features removed).
:func:`train_on_tensors` hands the two splits to :func:`attrbench.training.train` through its
``datasets=`` argument and names them ``in-memory:<key>`` in ``run.json``, so the run keeps all of
``train``'s behaviour: per-epoch atomic state, exact resume and provenance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from attrbench.data import DatasetSpec, ImageDataset
from attrbench.errors import AttrbenchError
from attrbench.training import TrainConfig, TrainResult, train
from attrbench.training.user_model import ModelSource

#: Prefix of the temporary registry names; never a real dataset name.
MEMORY_PREFIX = "in-memory:"


class TensorImageDataset(ImageDataset):
    """A dataset of float images already in the model's input space, held in memory.

    Args:
        spec: dataset description (``image_shape`` must equal ``images.shape[1:]``).
        split: split name.
        images: float ``(N, C, H, W)``, normalised as ``spec`` says (or any input space).
        labels: int ``(N,)``.
        ids: int ``(N,)`` image ids (default ``0..N-1``).
    """

    def __init__(self, spec: DatasetSpec, split: str, images: torch.Tensor, labels: torch.Tensor,
                 ids: torch.Tensor | None = None) -> None:
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(spec.image_shape):
            raise AttrbenchError(
                f"Images {tuple(images.shape)} do not match the spec's shape {spec.image_shape}.")
        if len(images) != len(labels):
            raise AttrbenchError(f"{len(images)} images but {len(labels)} labels.")
        ids = torch.arange(len(labels)) if ids is None else ids
        super().__init__(spec, split, torch.as_tensor(labels), torch.as_tensor(ids))
        self.images = images.float().contiguous()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        """Batched fetch for ``DataLoader`` (one gather instead of one call per image)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return list(zip(self.images[idx].unbind(0), self.labels[idx].tolist()))

    def subset(self, positions: np.ndarray | None) -> TensorImageDataset:
        """The samples at ``positions`` (int ``(M,)``), keeping ids; ``None`` returns ``self``."""
        if positions is None:
            return self
        pos = torch.as_tensor(np.asarray(positions, dtype=np.int64))
        return TensorImageDataset(self.spec, self.split, self.images[pos], self.labels[pos],
                                  self.ids[pos])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, C, H, W)`` float32 and labels ``(N,)`` int64."""
        return self.images, self.labels


def dataset_tensors(dataset: ImageDataset, batch_size: int = 512) -> tuple[torch.Tensor,
                                                                          torch.Tensor,
                                                                          torch.Tensor]:
    """All of ``dataset`` as ``(images (N,C,H,W) float32, labels (N,) int64, ids (N,) int64)``."""
    fast = getattr(dataset, "tensors", None)
    if callable(fast):
        images, labels = fast()
    else:
        parts = list(DataLoader(dataset, batch_size=batch_size, shuffle=False))
        images = torch.cat([p[0] for p in parts])
        labels = torch.cat([torch.as_tensor(p[1]) for p in parts])
    return images.float(), labels.to(torch.int64), dataset.ids.clone()


def train_on_tensors(base: TrainConfig, train_set: ImageDataset, test_set: ImageDataset,
                     out_dir: str | Path, *, key: str, seed: int,
                     progress: bool = False, model: ModelSource | None = None) -> TrainResult:
    """Train ``base.model`` from scratch on in-memory splits with :func:`attrbench.training.train`.

    Args:
        base: optimisation settings (its dataset fields are replaced).
        train_set, test_set: the (modified) splits.
        out_dir: the run folder; an interrupted run with the same ``key`` and settings resumes.
        key: stable identity of the data (e.g. ``"roar/vanilla_gradient+abs_sum/t30"``); it is
            recorded in ``run.json`` as the dataset name, so a folder is never resumed with other
            data under another key.
        seed: weights, shuffling and augmentation seed of this retrain.
        progress: show a progress bar.
        model: a user module or builder to train instead of ``base.model`` (see
            :func:`attrbench.training.train`).
    """
    cfg = dataclasses.replace(base, dataset=MEMORY_PREFIX + key, seed=seed, train_limit=None,
                              test_limit=None, data_root=None, image_size=None)
    return train(cfg, out_dir, progress=progress, datasets=(train_set, test_set), model=model)
