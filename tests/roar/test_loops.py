"""ROAR / KAR and IteROAR loops on a tiny CIFAR-mini subset: rows, resume, masks, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import overlap_summary
from attrbench.results import summarise
from attrbench.roar import RoarConfig, run_roar
from attrbench.roar.benchmark import data_key
from attrbench.roar.iterative import IteRoarConfig, chain_masks, run_iteroar


def test_roar_rows_and_resume(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = RoarConfig(variants=("random", "VG_abs"), thresholds=(0, 50), repeats=2, **tiny)
    assert cfg.variants == ("random", "vanilla_gradient|abs_sum") and cfg.thresholds == (50.0,)
    table = run_roar(cfg, tmp_path)
    assert len(table) == 2 + 2 * 2
    assert set(table["variant"]) == {"none", "random", "vanilla_gradient|abs_sum"}
    removed = table[table.threshold == 50].removed_fraction
    assert (removed == 0.5).all()  # floor(0.5 * 1024) pixels of every test image
    stats = summarise(table, ("benchmark", "variant", "threshold"), "test_accuracy")
    assert (stats["n"] == 2).all()
    # A lost row is recomputed from the finished training run, identically.
    victim = next((tmp_path / "tables" / "accuracy").glob("vanilla*_t50_r1.parquet"))
    victim.unlink()
    again = run_roar(cfg, tmp_path)
    cols = ["variant", "threshold", "repeat", "test_accuracy", "train_accuracy"]
    pd.testing.assert_frame_equal(again[cols], table[cols])
    with pytest.raises(AttrbenchError, match="different configuration"):
        run_roar(RoarConfig(variants=("random",), thresholds=(50,), repeats=2, **tiny), tmp_path)


def test_roar_variant_order_same_rows_same_folder(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """order="variant" retrains every threshold of a variant before the next variant; the order
    is not part of the folder's identity, so a threshold-ordered run resumes it, and the rows
    equal a threshold-ordered run's."""
    lines: list[str] = []
    variants = ("random", "VG_abs")
    by_variant = RoarConfig(variants=variants, thresholds=(30, 60), repeats=1, order="variant",
                            **tiny)
    table = run_roar(by_variant, tmp_path / "v", log=lines.append)
    trained = [line.split(":")[0] for line in lines if not line.startswith("maps")]
    assert trained == ["roar none t=0 repeat 0", "roar random t=60 repeat 0",
                       "roar random t=30 repeat 0", "roar vanilla_gradient|abs_sum t=60 repeat 0",
                       "roar vanilla_gradient|abs_sum t=30 repeat 0"]
    lines.clear()
    by_threshold = RoarConfig(variants=variants, thresholds=(30, 60), repeats=1, **tiny)
    reference = run_roar(by_threshold, tmp_path / "t", log=lines.append)
    assert [line.split(":")[0] for line in lines if not line.startswith("maps")][1:3] == [
        "roar random t=60 repeat 0", "roar vanilla_gradient|abs_sum t=60 repeat 0"]
    cols = ["variant", "threshold", "repeat", "test_accuracy", "removed_fraction"]
    key = ["variant", "threshold", "repeat"]
    pd.testing.assert_frame_equal(table[cols].sort_values(key).reset_index(drop=True),
                                  reference[cols].sort_values(key).reset_index(drop=True))
    # The other order resumes the folder: the lost row alone is retrained.
    next((tmp_path / "v" / "tables" / "accuracy").glob("random_t30_r0.parquet")).unlink()
    lines.clear()
    again = run_roar(by_threshold, tmp_path / "v", log=lines.append)
    assert lines == [f"roar random t=30 repeat 0: test accuracy "
                     f"{table.set_index(key).loc[('random', 30.0, 0), 'test_accuracy']:.3f}"]
    assert len(again) == len(table)
    with pytest.raises(AttrbenchError, match="Unknown order 'estimator'; use one of: threshold"):
        RoarConfig(order="estimator", **tiny)


def test_kar_reuses_the_roar_reference_models(tmp_path: Path, tiny: dict[str, Any]) -> None:
    """t = 0 data is the same for ROAR and KAR: KAR loads ROAR's copied t = 0 training folder
    (nothing retrained) and so ranks by the very maps ROAR used."""
    roar = RoarConfig(variants=("VG_abs",), thresholds=(30,), repeats=1, **tiny)
    first = run_roar(roar, tmp_path / "roar").set_index("variant")
    copied = tmp_path / "kar" / "train" / "none_t0_r0"
    shutil.copytree(tmp_path / "roar" / "train" / "none_t0_r0", copied)
    stamp = (copied / "model.safetensors").stat().st_mtime_ns
    kar = run_roar(RoarConfig(variants=("VG_abs",), thresholds=(30,), repeats=1, keep=True,
                              **tiny), tmp_path / "kar").set_index("variant")
    assert (copied / "model.safetensors").stat().st_mtime_ns == stamp  # loaded, not trained
    for col in ("model_sha256", "test_accuracy"):
        assert kar.loc["none", col] == first.loc["none", col]
    maps = [pd.read_parquet(next((tmp_path / b / "tables" / "maps").glob("*.parquet")))
            for b in ("roar", "kar")]
    assert maps[0]["maps_sha256"].item() == maps[1]["maps_sha256"].item()
    assert kar.loc["vanilla_gradient|abs_sum", "benchmark"] == "kar"


def test_data_key_keeps_a_legacy_kar_reference(tmp_path: Path, tiny: dict[str, Any]) -> None:
    kar = RoarConfig(variants=("VG_abs",), thresholds=(30,), keep=True, **tiny)
    assert data_key(kar, tmp_path, "none_t0_r0", "none") == "roar/none_t0_r0"
    assert data_key(kar, tmp_path, "vg_t30_r0", "VG") == "kar/vg_t30_r0"
    (tmp_path / "run.json").write_text('{"config": {"dataset": "in-memory:kar/none_t0_r0"}}')
    assert data_key(kar, tmp_path, "none_t0_r0", "none") == "kar/none_t0_r0"


def test_kar_element_unit(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = RoarConfig(variants=("vanilla_gradient",), thresholds=(30,), repeats=1, keep=True,
                     unit="element", fill="zero", **tiny)
    table = run_roar(cfg, tmp_path)
    row = table[table.variant == "vanilla_gradient"].iloc[0]
    assert row.benchmark == "kar" and row.unit == "element"
    assert row.removed_fraction == pytest.approx(int(0.3 * 3 * 1024) / (3 * 1024))


def test_config_errors(tiny: dict[str, Any]) -> None:
    with pytest.raises(AttrbenchError, match="needs a post-processing"):
        RoarConfig(variants=("vanilla_gradient",), **tiny)
    with pytest.raises(AttrbenchError, match="Unknown ranking unit 'channel'"):
        RoarConfig(unit="channel", **tiny)
    with pytest.raises(AttrbenchError, match="repeats must be >= 1"):
        RoarConfig(repeats=0, **tiny)
    with pytest.raises(AttrbenchError, match="Unknown method 'vanila_gradient'"):
        RoarConfig(variants=("vanila_gradient|abs_sum",), **tiny)
    with pytest.raises(AttrbenchError, match="tau must be a percentile"):
        IteRoarConfig(tau=100, **tiny)
    with pytest.raises(AttrbenchError, match="rho must lie strictly between 0 and 1"):
        IteRoarConfig(rho=1.5, **tiny)
    with pytest.raises(AttrbenchError, match="Unknown target"):
        IteRoarConfig(target="other", **tiny)
    assert IteRoarConfig(**tiny).iterations == 10


def test_iteroar_budget_refused_before_training(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = IteRoarConfig(tau=95, rho=0.5, iterations=11, variants=("random",), **tiny)
    with pytest.raises(AttrbenchError, match="more than rho\\*A = 512; use at most 10"):
        run_iteroar(cfg, tmp_path)
    assert not (tmp_path / "train").exists()


def test_iteroar_loop_masks_metrics_and_resume(tmp_path: Path, tiny: dict[str, Any]) -> None:
    cfg = IteRoarConfig(variants=("random", "vanilla_gradient|abs_sum"), tau=90, rho=0.3,
                        repeats=1, fill="removed_mean", **tiny)
    assert cfg.iterations == 3
    out = run_iteroar(cfg, tmp_path)
    acc = out["accuracy"]
    assert sorted(acc.iteration.tolist()) == [0, 1, 1, 2, 2, 3, 3]  # f_0 shared
    masks = chain_masks(tmp_path, "vanilla_gradient|abs_sum", 0)
    assert masks.shape == (3, 24, 32, 32)
    assert (masks.flatten(2).sum(-1) == int(0.1 * 1024)).all()
    train_masks = chain_masks(tmp_path, "random", 0, split="train")
    assert train_masks.shape == (3, 48, 32, 32)
    row = out["overlap"].set_index("variant").loc["vanilla_gradient|abs_sum"]
    expected = overlap_summary(masks, rho=0.3)
    assert row["mamo"] == pytest.approx(expected["mamo"])
    assert row["cma"] <= 3 * 102 and row["cma_frac_budget"] <= 1.0
    samples = out["overlap_samples"]
    assert len(samples) == 2 * 3 * 24
    assert (samples[samples.iteration == 0].overlap_previous == -1).all()
    # Random masks land near their closed-form expectation even on 24 images.
    rnd = out["overlap"].set_index("variant").loc["random"]
    assert rnd["mmo"] == pytest.approx(rnd["random_mmo"], rel=0.35)
    # Resume after losing the last model and the overlap table: same numbers.
    shutil.rmtree(tmp_path / "train" / "vanilla_gradient+abs_sum_r0_i3")
    shutil.rmtree(tmp_path / "tables" / "overlap")
    for f in (tmp_path / "tables" / "accuracy").glob("vanilla*_i3.parquet"):
        f.unlink()
    again = run_iteroar(cfg, tmp_path)
    pd.testing.assert_frame_equal(again["overlap"], out["overlap"])
    key = ["variant", "iteration"]
    a, b = (t.sort_values(key).reset_index(drop=True) for t in (again["accuracy"], acc))
    pd.testing.assert_series_equal(a.test_accuracy, b.test_accuracy)
    assert torch.equal(chain_masks(tmp_path, "vanilla_gradient|abs_sum", 0), masks)
