"""ROAR / KAR with precomputed maps (``run_roar(maps=)``) and IteROAR refusing them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.models import load_checkpoint
from attrbench.postprocess import postprocess
from attrbench.results.identity import normalise
from attrbench.roar import IteRoarConfig, RoarConfig, run_iteroar, run_roar
from attrbench.roar.benchmark import MIN_AGREEMENT
from attrbench.roar.removal import removal_masks
from attrbench.roar.tensor_data import dataset_tensors


def _weights(folder: Path, key: str) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "train" / key / "model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_maps_equal_to_a_methods_retrain_the_same(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """The maps ROAR computed for VG, given back as maps, remove the same pixels: the retrained
    model is bit-identical to the VG one (and not to the random baseline's); the identity of a
    folder without maps is the config's identity, as before maps existed."""
    cfg = RoarConfig(variants=("VG_abs",), thresholds=(50,), repeats=1, **tiny)
    a = tmp_path / "a"
    run_roar(cfg, a)
    assert json.loads((a / "config.json").read_text())["config"] == normalise(cfg.identity())
    (cache,) = (a / "maps").glob("vanilla_gradient+abs_sum_*.npz")
    with np.load(cache) as data:
        train, test = data["split0"], data["split1"]
    assert train.shape == (48, 32, 32) and test.shape == (24, 32, 32)

    # The documented route: raw attributions of the unmodified (repeat-0, t = 0) model for the
    # class it predicts, post-processed by the key's chain, rank like the method's maps.
    model, _ = load_checkpoint(a / "train" / "none_t0_r0" / "model")
    x, _, _ = dataset_tensors(cfg.load_split("test"))
    raw = create_method("vanilla_gradient", model)(x, None)
    # Not bit-identical: the run computed its maps with the trained, channels_last module and
    # this reload is contiguous, so other conv kernels round differently, and with more than one
    # thread a rounding difference can flip a ReLU gate, which moves a few gradients by far more
    # than rounding (measured on a 2-core CPU: 99.88 % of values within 1e-4, 99.992 % of the
    # 50 % removal decisions equal). The bar is the one resumed ROAR maps must meet
    # (benchmark.MIN_AGREEMENT); a wrong post-processing chain fails it by far.
    mine = postprocess(raw.double(), x.double(), "abs_sum")
    cached = torch.from_numpy(test).double()
    close = torch.isclose(mine, cached, rtol=1e-4, atol=1e-9).double().mean()
    agree = (removal_masks(mine, 50) == removal_masks(cached, 50)).double().mean()
    assert close >= 0.995 and agree >= MIN_AGREEMENT, (close, agree)

    b = tmp_path / "b"
    lines: list[str] = []
    table = run_roar(RoarConfig(variants=("random",), thresholds=(50,), repeats=1, **tiny), b,
                     log=lines.append, maps={"vg": {"train": train, "test": test}})
    assert set(table["variant"]) == {"none", "random", "precomputed:vg|sum"}
    row = table.set_index("variant").loc["precomputed:vg|sum"]
    assert row["removed_fraction"] == 0.5 and row["threshold"] == 50
    given = _weights(b, "precomputed=vg+sum_t50_r0")
    assert _same(given, _weights(a, "vanilla_gradient+abs_sum_t50_r0"))
    assert not _same(given, _weights(b, "random_t50_r0"))
    record = json.loads((b / "config.json").read_text())["config"]["maps"]
    assert set(record) == {"precomputed:vg|sum"}
    assert record["precomputed:vg|sum"]["train"]["shape"] == [1, 32, 32]
    assert len(record["precomputed:vg|sum"]["test"]["sha256"]) == 64
    assert not (b / "maps").exists()  # given maps are not cached again


def test_array_and_id_mapping_align_alike_and_other_maps_are_refused(
        tmp_path: Path, tiny: dict[str, Any]) -> None:
    """With a stratified limit the run's images are scattered over the split: an array indexed
    by the unlimited split's positions and ``{image_id: map}`` give the same maps (the folder
    resumes with either), and other maps are refused by the identity."""
    cfg = RoarConfig(variants=("random",), thresholds=(50,), repeats=1,
                     **{**tiny, "train_limit": 40, "limit_mode": "stratified"})
    full = {s: load_dataset(cfg.dataset, s) for s in ("train", "test")}
    gen = np.random.default_rng(0)
    arrays = {s: gen.random((len(full[s]), 3, 32, 32)).astype(np.float32) for s in full}
    used = {s: cfg.load_split(s).ids.numpy() for s in full}
    assert not np.array_equal(used["train"], full["train"].ids.numpy()[:40])  # scattered
    position = {s: {int(i): p for p, i in enumerate(full[s].ids.numpy())} for s in full}
    by_id = {s: {int(i): arrays[s][position[s][int(i)]] for i in used[s]} for s in full}

    lines: list[str] = []
    run_roar(cfg, tmp_path, log=lines.append, maps={"m|abs_sum": arrays})
    assert len(lines) == 3  # t = 0, random, the maps
    again: list[str] = []
    table = run_roar(cfg, tmp_path, log=again.append, maps={"m|abs_sum": by_id})
    assert again == [] and "precomputed:m|abs_sum" in set(table["variant"])
    other = {**arrays, "test": arrays["test"][::-1].copy()}
    with pytest.raises(AttrbenchError, match="maps"):
        run_roar(cfg, tmp_path, maps={"m|abs_sum": other})
    with pytest.raises(AttrbenchError, match="maps"):
        run_roar(cfg, tmp_path)  # the folder holds a run with maps


def test_element_unit_squares_the_given_maps(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = RoarConfig(variants=("random",), thresholds=(30,), repeats=1, unit="element",
                     keep=True, **tiny)
    gen = np.random.default_rng(1)
    maps = {"e": {"train": gen.standard_normal((48, 3, 32, 32)),
                  "test": gen.standard_normal((24, 3, 32, 32))}}
    table = run_roar(cfg, tmp_path, maps=maps)
    row = table.set_index("variant").loc["precomputed:e"]
    assert row["removed_fraction"] == pytest.approx(int(0.3 * 3 * 32 * 32) / (3 * 32 * 32))


@pytest.mark.parametrize("maps, unit, match", [
    ({"m": {"train": np.zeros((48, 32, 32))}}, "spatial", "'train' and 'test'"),
    ({"m": np.zeros((48, 32, 32))}, "spatial", "'train' and 'test'"),
    ({"m": {"train": np.zeros((48, 32, 32)), "test": np.zeros((10, 32, 32))}}, "spatial",
     "rows"),
    ({"m": {"train": np.full((48, 32, 32), np.nan), "test": np.zeros((24, 32, 32))}}, "spatial",
     "NaN"),
    ({"m": {"train": np.zeros((48, 16, 16)), "test": np.zeros((24, 16, 16))}}, "spatial",
     "shape"),
    ({"m": {"train": {0: np.zeros((32, 32))}, "test": np.zeros((24, 32, 32))}}, "spatial",
     "no map for image ids"),
    ({"a b": {"train": np.zeros((48, 32, 32)), "test": np.zeros((24, 32, 32))}}, "spatial",
     "letters, digits"),
    ({"m": {"train": np.zeros((48, 32, 32)), "test": np.zeros((24, 32, 32))}}, "element",
     "per-element"),
    ({"m|abs_sum": {"train": np.zeros((48, 3, 32, 32)), "test": np.zeros((24, 3, 32, 32))}},
     "element", "chain"),
    ([np.zeros((48, 32, 32))], "spatial", "dict"),
])
def test_bad_maps_refused_before_anything_is_written(tmp_path: Path, tiny: dict[str, Any],
                                                     maps: Any, unit: str, match: str) -> None:
    cfg = RoarConfig(variants=("random",), thresholds=(50,), repeats=1, unit=unit, **tiny)
    with pytest.raises(AttrbenchError, match=match):
        run_roar(cfg, tmp_path / "out", maps=maps)
    assert not (tmp_path / "out").exists()


def test_iteroar_refuses_maps_and_names_the_way_out(tmp_path: Path,
                                                    tiny: dict[str, Any]) -> None:
    cfg = IteRoarConfig(variants=("random",), iterations=1, repeats=1, **tiny)
    with pytest.raises(AttrbenchError, match="re-explains.*as a variant"):
        run_iteroar(cfg, tmp_path / "out", maps={"m": {"train": 0, "test": 0}})
    assert not (tmp_path / "out").exists()
