"""Sharded robustness runs (issue 14 item 2): shards K/N into one folder add up to the 1-process
rows; a shard reports how many units of other shards are still missing."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.robustness.pipeline import RobustnessConfig, run_robustness

# 2 models x 1 attack x 2 eps x 3 chunks = 12 units of work
CFG = RobustnessConfig(attacks=("random",), eps=(0.0, 0.1), k=50, windows=(1,),
                       attack_params={"iterations": 2}, num_images=12, chunk_size=4)


def test_three_shards_equal_one_process(mnist_model, mnist_space, tmp_path: Path) -> None:
    data = load_dataset("mnist-mini", "test")
    models = {"natural": mnist_model, "copy": copy.deepcopy(mnist_model)}
    full = run_robustness(models, data, CFG, mnist_space, out=tmp_path / "one")
    units = len(list((tmp_path / "one" / "shards").glob("*.parquet")))
    assert full.attrs["missing_shards"] == 0 and units == 12
    missing = []
    for k in range(3):
        part = run_robustness(models, data, CFG, mnist_space, out=tmp_path / "three",
                              shard=(k, 3))
        missing.append(part.attrs["missing_shards"])
        assert len(list((tmp_path / "three" / "shards").glob("*.parquet"))) == 4 * (k + 1)
    assert missing == [8, 4, 0]
    pd.testing.assert_frame_equal(part.drop(columns="run"), full.drop(columns="run"))
    with pytest.raises(AttrbenchError, match=r"--shard 3/3"):
        run_robustness(models, data, CFG, mnist_space, shard=(3, 3))
