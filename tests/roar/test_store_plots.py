"""Results store (atomic tables, bit-packed masks, config refusal) and the figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import overlap_summary
from attrbench.roar.plots import (
    accuracy_figure,
    mask_sequence_figure,
    overlap_bars_figure,
    pairwise_overlap_figure,
)
from attrbench.roar.store import RoarStore, slug


def test_store_tables_masks_and_refusal(tmp_path: Path) -> None:
    store = RoarStore(tmp_path, {"a": 1}, seed=0)
    assert not store.has("accuracy", "k1")
    store.write("accuracy", "k1", [{"variant": "v", "test_accuracy": 0.5}])
    store.write("accuracy", "k0", [{"variant": "w", "test_accuracy": 0.25}])
    assert store.has("accuracy", "k1") and store.read("accuracy").variant.tolist() == ["w", "v"]
    g = torch.Generator().manual_seed(0)
    odd = torch.rand(3, 5, 7, generator=g) < 0.3  # 105 bits: not a multiple of 8
    store.write_masks("m", train=odd, test=odd[:1])
    back = store.read_masks("m")
    assert torch.equal(back["train"], odd) and torch.equal(back["test"], odd[:1])
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(AttrbenchError, match="different configuration"):
        RoarStore(tmp_path, {"a": 2}, seed=0)
    assert slug("grad_cam|positive_sum") == "grad_cam+positive_sum"


def test_figures_from_tables() -> None:
    acc = pd.DataFrame({"benchmark": "roar", "variant": ["none", "none", "v", "v", "random"],
                        "threshold": [0, 0, 50, 50, 50], "repeat": [0, 1, 0, 1, 0],
                        "test_accuracy": [0.9, 0.8, 0.4, 0.5, 0.7]})
    assert isinstance(accuracy_figure(acc), Figure)
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(4, 6, 8, 8, generator=g) < 0.1
    overlap = pd.DataFrame([{"variant": v, "repeat": 0, **overlap_summary(masks, rho=0.5)}
                            for v in ("random", "v")])
    assert isinstance(overlap_bars_figure(overlap), Figure)
    assert isinstance(pairwise_overlap_figure(masks), Figure)
    assert isinstance(mask_sequence_figure(masks, samples=2), Figure)
    assert isinstance(mask_sequence_figure(masks.unsqueeze(2).expand(-1, -1, 3, -1, -1)), Figure)
    with pytest.raises(AttrbenchError, match="No accuracy rows"):
        accuracy_figure(acc.iloc[:0])
    with pytest.raises(AttrbenchError, match="No overlap rows"):
        overlap_bars_figure(overlap.iloc[:0])
