"""ROAR / KAR and IteROAR split into shards (``shard=(K, N)``): each shard does its own rows,
together they make exactly the rows of one unsharded run, and a shard that needs shard 0's
reference model waits for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import attrbench.roar.store as roar_store
from attrbench.errors import AttrbenchError
from attrbench.results.shards import block_shard, wait_for
from attrbench.roar import RoarConfig, run_roar
from attrbench.roar.iterative import IteRoarConfig, run_iteroar

VG = "vanilla_gradient|abs_sum"


def _trained(lines: list[str]) -> list[str]:
    return [line.split(":")[0] for line in lines if not line.startswith(("maps", "waiting"))]


def test_block_shard_cuts_contiguous_blocks() -> None:
    assert [block_shard(i, 5, 2) for i in range(5)] == [0, 0, 0, 1, 1]
    assert [block_shard(i, 4, 4) for i in range(4)] == [0, 1, 2, 3]
    assert [block_shard(i, 2, 3) for i in range(2)] == [0, 1]  # shard 2 has nothing
    with pytest.raises(ValueError):
        block_shard(5, 5, 2)


def test_wait_for_polls_tells_once_and_times_out() -> None:
    calls, said = [0], []

    def ready() -> bool:
        calls[0] += 1
        return calls[0] >= 3

    wait_for(ready, "the model", said.append, poll_s=0.001)
    assert calls[0] == 3 and said == ["waiting for the model (checked every 0.001 s)"]
    with pytest.raises(AttrbenchError, match="Waited 0 s for the model"):
        wait_for(lambda: False, "the model", said.append, poll_s=0.001, timeout_s=0)


def test_roar_shards_make_the_unsharded_rows(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = RoarConfig(variants=("random", "VG_abs"), thresholds=(30, 60), repeats=1, **tiny)
    lines: list[str] = []
    first = run_roar(cfg, tmp_path / "s", shard=(0, 2), log=lines.append)
    # Points variant-major: (random, 60), (random, 30) | (VG, 60), (VG, 30).
    assert _trained(lines) == ["roar none t=0 repeat 0", "roar random t=60 repeat 0",
                               "roar random t=30 repeat 0"]
    assert first.attrs["missing_rows"] == 2
    lines.clear()
    both = run_roar(cfg, tmp_path / "s", shard=(1, 2), log=lines.append)
    assert _trained(lines) == [f"roar {VG} t=60 repeat 0", f"roar {VG} t=30 repeat 0"]
    assert both.attrs["missing_rows"] == 0
    whole = run_roar(cfg, tmp_path / "u")
    assert whole.attrs["missing_rows"] == 0
    cols, key = ["variant", "threshold", "repeat", "test_accuracy"], ["variant", "threshold"]
    pd.testing.assert_frame_equal(both[cols].sort_values(key).reset_index(drop=True),
                                  whole[cols].sort_values(key).reset_index(drop=True))
    with pytest.raises(AttrbenchError, match="shard index K must be in 0..1"):
        run_roar(cfg, tmp_path / "s", shard=(2, 2))


def test_roar_shard_waits_for_shard_zeros_reference(tmp_path: Path, tiny: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def refuse(ready: Any, what: str, say: Any, **_: Any) -> None:
        seen.append(what)
        assert not ready()
        raise RuntimeError("stop")

    monkeypatch.setattr(roar_store, "wait_for", refuse)
    cfg = RoarConfig(variants=("random", "VG_abs"), thresholds=(30, 60), repeats=2, **tiny)
    with pytest.raises(RuntimeError, match="stop"):
        run_roar(cfg, tmp_path, shard=(1, 2))
    assert seen == ["shard 0 of 2 to train none_t0_r0, the model the maps come from"]
    assert not (tmp_path / "train").exists()  # shard 1 trained nothing itself


def test_iteroar_shards_make_the_unsharded_chains(tmp_path: Path, tiny: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = IteRoarConfig(variants=("random", VG), tau=90, rho=0.2, repeats=1, **tiny)
    assert cfg.iterations == 2
    seen: list[str] = []
    real_wait = roar_store.wait_for

    def record(ready: Any, what: str, say: Any, **kw: Any) -> None:
        seen.append(what)
        real_wait(ready, what, say, **kw)

    monkeypatch.setattr(roar_store, "wait_for", record)
    lines: list[str] = []
    zero = run_iteroar(cfg, tmp_path / "s", shard=(0, 2), log=lines.append)
    assert lines == [line for line in lines if " random " in line or " none " in line]
    assert zero["accuracy"].attrs["missing_chains"] == 1 and len(zero["overlap"]) == 1
    lines.clear()
    one = run_iteroar(cfg, tmp_path / "s", shard=(1, 2), log=lines.append)
    assert [line.split(":")[0] for line in lines] == [
        f"iteroar {VG} repeat 0 iteration 1", f"iteroar {VG} repeat 0 iteration 2"]
    assert seen == ["shard 0 of 2 to train original_r0_i0 (f_0 of repeat 0)"]  # ready at once
    assert one["accuracy"].attrs["missing_chains"] == 0
    whole = run_iteroar(cfg, tmp_path / "u")
    cols = ["variant", "repeat", "mmo", "mamo", "cma"]
    pd.testing.assert_frame_equal(
        one["overlap"][cols].sort_values("variant").reset_index(drop=True),
        whole["overlap"][cols].sort_values("variant").reset_index(drop=True))
