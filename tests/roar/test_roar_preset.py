"""The ``cifar`` preset, estimator parameters, the informative run order and the map cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import attrbench.roar.benchmark as bench
from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.roar import RoarConfig, run_roar
from attrbench.results.identity import state_dict_sha256
from attrbench.roar.benchmark import informative_order, run_order
from attrbench.roar.config import CIFAR_METHOD_PARAMS
from attrbench.roar.iterative import IteRoarConfig
from attrbench.roar.scores import split_scores


def test_informative_order() -> None:
    assert informative_order((10, 30, 50, 70, 90)) == [90, 50, 10, 70, 30]
    assert informative_order((50,)) == [50]
    assert informative_order((30, 60)) == [60, 30]
    nine = informative_order(range(10, 100, 10))
    assert sorted(nine) == list(range(10, 100, 10)) and nine[:3] == [90, 50, 10]


def test_run_order() -> None:
    by_threshold = run_order((10, 50, 90), ("random", "VG"))
    assert by_threshold == [("random", 90), ("VG", 90), ("random", 50), ("VG", 50),
                            ("random", 10), ("VG", 10)]
    by_variant = run_order((10, 50, 90), ("random", "VG"), "variant")
    assert by_variant == [("random", 90), ("random", 50), ("random", 10), ("VG", 90),
                          ("VG", 50), ("VG", 10)]
    assert sorted(by_variant) == sorted(by_threshold)
    assert RoarConfig(order="variant").identity() == RoarConfig().identity()


def test_cifar_preset_values_and_identity() -> None:
    cfg = RoarConfig.preset("cifar", data_root="runs/data")
    assert (cfg.dataset, cfg.model, cfg.recipe, cfg.repeats) == (
        "cifar10-jpeg", "cifar_resnet20", "roar-cifar", 2)
    assert cfg.variants == ("random", "vanilla_gradient|abs_sum", "smoothgrad_sq|sum",
                            "vargrad|sum", "integrated_gradients|abs_sum")
    assert cfg.thresholds == (10.0, 30.0, 50.0, 70.0, 90.0)
    train = cfg.train_config()
    assert train.amp and train.epochs == 10 and train.schedule == "cosine"
    assert cfg.params_of("integrated_gradients|abs_sum") == {"steps": 16}
    assert cfg.params_of("random") == {}
    ident = cfg.identity()
    assert ident["method_params"] == CIFAR_METHOD_PARAMS and ident["train"]["amp"] is True
    assert "amp" not in ident and "device" not in ident
    # Explicit values win over the preset, and change the identity.
    other = RoarConfig.preset("cifar", data_root="runs/data", epochs=12, repeats=3)
    assert other.train_config().epochs == 12 and other.repeats == 3
    assert other.identity() != ident
    assert IteRoarConfig.preset("cifar", data_root="runs/data").iterations == 10
    ite = IteRoarConfig.preset("cifar-iteroar", data_root="runs/data")
    assert (ite.train_limit, ite.limit_mode, ite.test_limit, ite.repeats) == (
        10_000, "stratified", None, 3)
    assert ite.iterations == 10 and ite.fill == "zero" and ite.variants == cfg.variants


def test_default_identity_has_no_new_keys(tiny: dict[str, Any]) -> None:
    """Folders written before amp / method_params existed keep their identity."""
    ident = RoarConfig(**tiny).identity()
    assert "amp" not in ident and "method_params" not in ident
    assert ident["train"]["amp"] is False


@pytest.mark.parametrize("params, match", [
    ({"integrated_gradient": {"steps": 4}}, "integrated_gradient"),
    ({"integrated_gradients": {"step": 4}}, "Unknown parameter"),
    ({"smoothgrad_sq": {"seed": 3}}, "seed"),
    ({"integrated_gradients": 4}, "mapping"),
])
def test_method_params_refused(tiny: dict[str, Any], params: Any, match: str) -> None:
    with pytest.raises(AttrbenchError, match=match):
        RoarConfig(method_params=params, **tiny)


def test_split_scores_uses_params(small_cnn_model: torch.nn.Module) -> None:
    x = torch.randn(3, 3, 32, 32)
    got = split_scores(small_cnn_model, x, "integrated_gradients|abs_sum", "spatial",
                       params={"steps": 4})
    want = create_method("integrated_gradients", small_cnn_model, steps=4)(x, None).abs().sum(1)
    torch.testing.assert_close(got, want.double())
    default = split_scores(small_cnn_model, x, "integrated_gradients|abs_sum", "spatial")
    assert not torch.equal(got, default)  # 4 steps, not the default 200


def test_threshold_major_order_and_map_cache(tmp_path: Path, tiny: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = bench.split_scores

    def counting(model: Any, x: torch.Tensor, variant: str, *args: Any, **kw: Any) -> Any:
        calls.append(variant)
        return real(model, x, variant, *args, **kw)

    monkeypatch.setattr(bench, "split_scores", counting)
    cfg = RoarConfig(variants=("random", "VG_abs"), thresholds=(10, 50), repeats=2, **tiny)
    lines: list[str] = []
    table = run_roar(cfg, tmp_path, log=lines.append)
    order = [line.split(":")[0] for line in lines if not line.startswith("maps")]
    vg = "vanilla_gradient|abs_sum"
    # every repeat's t = 0 model first, then threshold-major with all repeats of a variant
    assert order == ([f"roar none t=0 repeat {r}" for r in (0, 1)]
                     + [f"roar {w} t={t} repeat {r}" for t in (50, 10) for w in ("random", vg)
                        for r in (0, 1)])
    assert calls.count(vg) == 2  # train + test split, once for both thresholds and repeats
    cache = list((tmp_path / "maps").glob("*.npz"))
    assert len(cache) == 1 and cache[0].name.startswith("vanilla_gradient+abs_sum_")
    # The cache holds exactly the maps of the repeat-0 model (float32 is lossless here).
    with np.load(cache[0], allow_pickle=False) as data:
        assert data["split0"].dtype == np.float32 and data["split0"].shape == (48, 32, 32)
    maps = bench.ResultStore(tmp_path, cfg.identity(), cfg.seed).table("maps").read()
    assert list(maps["variant"]) == [vg] and (maps["seconds"] >= 0).all()
    # A resumed run with lost rows retrains them but reads the maps from the cache.
    for victim in (tmp_path / "tables" / "accuracy").glob("vanilla*_r1.parquet"):
        victim.unlink()
    calls.clear()
    again = run_roar(cfg, tmp_path)
    assert vg not in calls
    cols = ["variant", "threshold", "repeat", "test_accuracy"]
    key = ["variant", "threshold", "repeat"]
    assert again[cols].sort_values(key).reset_index(drop=True).equals(
        table[cols].sort_values(key).reset_index(drop=True))


def test_cached_maps_equal_computed(tmp_path: Path, tiny: dict[str, Any],
                                    small_cnn_model: torch.nn.Module) -> None:
    cfg = RoarConfig(variants=("smoothgrad_sq|sum",), thresholds=(50,), repeats=1,
                     method_params={"smoothgrad_sq": {"n_samples": 3}}, **tiny)
    store = bench.ResultStore(tmp_path, cfg.identity(), cfg.seed)
    x = (torch.randn(5, 3, 32, 32), torch.randn(4, 3, 32, 32))
    digest = state_dict_sha256(small_cnn_model)
    first, seconds, sha = bench.cached_split_scores(store, cfg, small_cnn_model, digest,
                                                    "smoothgrad_sq|sum", x, torch.device("cpu"))
    again, none, sha_read = bench.cached_split_scores(store, cfg, small_cnn_model, digest,
                                                      "smoothgrad_sq|sum", x,
                                                      torch.device("cpu"))
    assert seconds is not None and none is None
    assert sha == sha_read == bench.maps_sha256([s.float().numpy() for s in first])
    direct = split_scores(small_cnn_model, x[1], "smoothgrad_sq|sum", "spatial", seed=cfg.seed + 1,
                          params={"n_samples": 3})
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert torch.equal(again[1], direct)
    # Another model gets other maps (the key holds the weights' digest).
    with torch.no_grad():
        next(small_cnn_model.parameters()).add_(1.0)
    assert state_dict_sha256(small_cnn_model) != digest


def test_stratified_limit(tiny: dict[str, Any]) -> None:
    """limit_mode='stratified' draws every class in proportion (class-sorted folders)."""
    cfg = RoarConfig(**{**tiny, "train_limit": 40, "limit_mode": "stratified"})
    labels = cfg.load_split("train").labels
    assert len(labels) == 40 and torch.bincount(labels, minlength=10).tolist() == [4] * 10
    assert cfg.identity()["limit_mode"] == "stratified"
    with pytest.raises(AttrbenchError, match="limit_mode"):
        RoarConfig(**{**tiny, "limit_mode": "random"})
