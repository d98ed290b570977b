"""Subsets that keep every class: stratified limits, and a warning for class-sorted first-N cuts
(issue 13 item 7)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attrbench.data import load_dataset
from attrbench.data.base import SubsetWarning, stratified_positions
from attrbench.errors import AttrbenchError


def test_stratified_quotas_by_largest_remainder() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2])
    # quotas 5 * (6, 3, 1) / 10 = 3, 1.5, 0.5 -> floors 3, 1, 0; the one place left goes to the
    # largest remainder (classes 1 and 2 tie at 0.5; the smaller index wins).
    pos = stratified_positions(labels, 5, seed=0)
    assert np.bincount(labels[pos], minlength=3).tolist() == [3, 2, 0]
    assert (np.diff(pos) > 0).all()
    assert (pos == stratified_positions(labels, 5, seed=0)).all()
    draws = {tuple(stratified_positions(labels, 5, seed=s)) for s in range(8)}
    assert len(draws) > 1  # the seed picks the images within classes
    with pytest.raises(AttrbenchError, match="needs 1..10 images, got 11"):
        stratified_positions(labels, 11)


def _tree(root: Path, classes: int = 4, per_class: int = 5) -> Path:
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8, 3), 10 * c + i, dtype=np.uint8)).save(
                root / f"c{c}" / f"{i}.png")
    return root


def test_first_n_of_a_class_sorted_folder_warns(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    with pytest.warns(SubsetWarning, match=r"first 8 images of imagefolder/all cover only 2 of "
                                           r"its 4 classes"):
        load_dataset(root, limit=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        subset = load_dataset(root, limit=8, limit_mode="stratified", seed=1)
    assert subset.label_histogram().tolist() == [2, 2, 2, 2]
    assert (np.diff(subset.ids.numpy()) > 0).all()
    with pytest.raises(AttrbenchError, match="exceeds the 20 images"):
        load_dataset(root, limit=21, limit_mode="stratified")


def test_cli_prints_the_warning_as_one_line(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    code = ("import sys, warnings; from attrbench.cli import _one_line_warning; "
            "warnings.showwarning = _one_line_warning; from attrbench.data import load_dataset; "
            f"load_dataset({str(root)!r}, limit=8)")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr
    assert err.startswith("warning: the first 8 images") and err.count("\n") == 1


def test_no_warning_for_a_split_in_random_class_order() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        subset = load_dataset("cifar10-mini", "test", limit=16)  # official order, not sorted
    assert int((subset.label_histogram() > 0).sum()) < 10
