"""Feature removal: ranking units, ROAR vs KAR, fills, and the in-memory training adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attrbench.data import list_datasets, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.roar.removal import channel_means, element_scores, fill_removed, removal_masks
from attrbench.roar.tensor_data import TensorImageDataset, dataset_tensors, train_on_tensors
from attrbench.training import TrainConfig


def test_roar_removes_top_and_kar_removes_bottom() -> None:
    scores = torch.arange(16.0).reshape(1, 4, 4)
    roar = removal_masks(scores, 25.0)
    kar = removal_masks(scores, 25.0, keep=True)
    assert roar.flatten().nonzero().flatten().tolist() == [12, 13, 14, 15]
    assert kar.flatten().nonzero().flatten().tolist() == [0, 1, 2, 3]
    assert not removal_masks(scores, 0.0).any()
    assert removal_masks(scores, 10.0).sum() == 1  # floor(0.1 * 16)


def test_element_unit_ranks_channels_independently() -> None:
    e = torch.zeros(1, 3, 2, 2)
    e[0, 1, 0, 0], e[0, 2, 1, 1] = -5.0, 4.0  # squared: 25 and 16 are the top 2 of 12
    m = removal_masks(element_scores(e), 100 * 2 / 12 + 1e-6)
    assert m.sum() == 2 and m[0, 1, 0, 0] and m[0, 2, 1, 1]


def test_fills() -> None:
    x = torch.arange(2 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 2, 2, 2)
    removed = torch.tensor([[[True, True], [False, False]], [[False, False], [False, True]]])
    mean = channel_means(x)
    out = fill_removed(x, removed, "mean", dataset_mean=mean)
    assert torch.equal(out[0, :, 0], mean.float().view(2, 1).expand(2, 2))
    assert torch.equal(out[0, :, 1], x[0, :, 1]) and torch.equal(out[1, :, 0], x[1, :, 0])
    zero = fill_removed(x, removed, "zero")
    assert zero[0, :, 0].abs().sum() == 0 and zero[1, :, 1, 1].abs().sum() == 0
    own = fill_removed(x, removed, "removed_mean")
    # image 0, channel 0: removed values 0 and 1 -> 0.5; channel 1: 4 and 5 -> 4.5
    assert own[0, 0, 0].tolist() == [0.5, 0.5] and own[0, 1, 0].tolist() == [4.5, 4.5]
    assert own[1, :, 1, 1].tolist() == x[1, :, 1, 1].tolist()  # one pixel: its own value
    per_elem = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    per_elem[0, 1, 0, 0] = True
    assert fill_removed(x, per_elem, "zero")[0, 0, 0, 0] == x[0, 0, 0, 0]


def test_fill_errors() -> None:
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(AttrbenchError, match="Unknown fill 'median'"):
        fill_removed(x, torch.zeros(1, 4, 4, dtype=torch.bool), "median")
    with pytest.raises(AttrbenchError, match="needs the per-channel training mean"):
        fill_removed(x, torch.zeros(1, 4, 4, dtype=torch.bool), "mean")
    with pytest.raises(AttrbenchError, match="does not fit images"):
        fill_removed(x, torch.zeros(1, 5, 4, dtype=torch.bool), "zero")
    with pytest.raises(AttrbenchError, match="Thresholds are percentages in \\[0, 100\\)"):
        removal_masks(torch.zeros(1, 4, 4), 100.0)


def test_train_on_tensors_uses_the_given_data_and_cleans_the_registry(tmp_path: Path) -> None:
    ds = load_dataset("cifar10-mini", "train", limit=32)
    x, y, ids = dataset_tensors(ds)
    assert torch.equal(x, ds.tensors()[0]) and torch.equal(ids, ds.ids)
    # A planted, trivially learnable signal: the label is the sign of one pixel.
    x = torch.zeros_like(x)
    y = (torch.arange(32) % 2).long()
    x[:, :, 0, 0] = torch.where(y == 1, 1.0, -1.0).view(-1, 1)
    train = TensorImageDataset(ds.spec, "train", x, y)
    before = list_datasets()
    cfg = TrainConfig.from_recipe("quick", dataset="cifar10-mini", model="small_cnn", epochs=1,
                                  batch_size=16, device="cpu", hflip=False, crop_padding=0)
    result = train_on_tensors(cfg, train, train, tmp_path / "run", key="t/1", seed=3)
    assert list_datasets() == before
    assert len(result.history) == 1 and result.out_dir == tmp_path / "run"
    again = train_on_tensors(cfg, train, train, tmp_path / "run", key="t/1", seed=3)
    assert again.history == result.history  # finished run loaded, not retrained
    with pytest.raises(AttrbenchError, match="different config"):
        train_on_tensors(cfg, train, train, tmp_path / "run", key="t/other", seed=3)
    with pytest.raises(AttrbenchError, match="do not match the spec"):
        TensorImageDataset(ds.spec, "train", x[:, :1], y)
