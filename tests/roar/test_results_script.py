"""scripts/roar_results.py on tiny synthetic run folders: tables, progress and the claim rules."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from attrbench.results import ResultStore
from attrbench.roar import RoarConfig
from attrbench.roar.iterative import IteRoarConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "roar_results.py"
VG, SQ = "vanilla_gradient|abs_sum", "smoothgrad_sq|sum"


@pytest.fixture(scope="module")
def script() -> Any:
    spec = importlib.util.spec_from_file_location("roar_results", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["roar_results"] = module
    spec.loader.exec_module(module)
    return module


def _roar_folder(root: Path, tiny: dict[str, Any], acc: dict[tuple[str, float], list[float]],
                 keep: bool = False) -> RoarConfig:
    """A run folder whose accuracy table holds ``acc[(variant, t)]`` per repeat."""
    cfg = RoarConfig(variants=("random", VG, SQ), thresholds=(50, 90), repeats=2, keep=keep,
                     **tiny)
    store = ResultStore(root, cfg.identity(), cfg.seed, benchmark="roar")
    table = store.table("accuracy")
    for (variant, t), values in acc.items():
        for r, a in enumerate(values):
            slug = variant.replace("|", "+")
            table.write(f"{slug}_t{t:g}_r{r}", [{
                "benchmark": cfg.benchmark, "variant": variant, "unit": "spatial",
                "fill": "mean", "threshold": t, "repeat": r, "seed": r, "test_accuracy": a,
                "train_accuracy": a, "removed_fraction": t / 100, "epochs": 1,
                "seconds": 60.0}])
    return cfg


def _full(vg: list[float], sq: list[float]) -> dict[tuple[str, float], list[float]]:
    acc: dict[tuple[str, float], list[float]] = {("none", 0.0): [0.85, 0.83]}
    for t in (50.0, 90.0):
        acc[("random", t)] = [0.60, 0.62]
        acc[(VG, t)] = vg
        acc[(SQ, t)] = sq
    return acc


def test_claims_on_a_finished_run(tmp_path: Path, tiny: dict[str, Any], script: Any) -> None:
    # VG overlaps random (no better), SG² lies below it at both thresholds: the paper's finding.
    _roar_folder(tmp_path / "roar", tiny, _full(vg=[0.59, 0.63], sq=[0.40, 0.45]))
    run = script.read_run(tmp_path / "roar")
    claims = script.roar_claims(run, None).set_index("claim")["status"]
    assert claims["The unmodified model reaches >= 80 % (issue 16)"] == "holds"
    assert claims["ROAR paper: VG is no better than random"] == "holds"
    assert claims["ROAR paper: SG² degrades accuracy faster than random"] == "holds"
    page = script.roar_page(run, None)
    assert "**14 of 14**" in page and "84.0 ± 1.4 (2)" in page
    kar = page[page.index("## KAR"):]  # not started: its plan and the command that starts it
    assert "Not started." in kar and script.KAR_COMMAND in kar and "--kar" in script.KAR_COMMAND
    sep = script.separation(run["accuracy"], False, 2).set_index(["variant", "threshold"])
    assert bool(sep.loc[(SQ, 90.0), "separated"]) and not bool(sep.loc[(VG, 90.0), "separated"])
    assert sep.loc[(SQ, 90.0), "diff"] == pytest.approx(0.425 - 0.61)


def test_claims_flip_and_partial(tmp_path: Path, tiny: dict[str, Any], script: Any) -> None:
    # VG clearly below random, SG² above: both paper claims fail.
    _roar_folder(tmp_path / "a", tiny, _full(vg=[0.30, 0.31], sq=[0.70, 0.71]))
    claims = script.roar_claims(script.read_run(tmp_path / "a"), None).set_index("claim")
    assert claims.loc["ROAR paper: VG is no better than random", "status"] == "does not hold"
    assert claims.loc["ROAR paper: SG² degrades accuracy faster than random",
                      "status"] == "does not hold"
    # One repeat missing at t = 90: that threshold is not complete, so no verdict yet.
    acc = _full(vg=[0.30, 0.31], sq=[0.40, 0.41])
    acc[(VG, 90.0)] = [0.30]
    acc[("none", 0.0)] = [0.78]
    _roar_folder(tmp_path / "b", tiny, acc)
    run = script.read_run(tmp_path / "b")
    claims = script.roar_claims(run, None).set_index("claim")["status"]
    assert claims["ROAR paper: VG is no better than random"].startswith(
        "not yet (1 of 2 thresholds")
    assert claims["The unmodified model reaches >= 80 % (issue 16)"] == (
        "does not hold (so far; 1 of 2 repeats)")
    page = script.roar_page(run, None)
    assert "**12 of 14**" in page and "not yet" in page


def test_kar_separates_upwards(tmp_path: Path, tiny: dict[str, Any], script: Any) -> None:
    _roar_folder(tmp_path / "roar", tiny, _full(vg=[0.59, 0.63], sq=[0.40, 0.45]))
    _roar_folder(tmp_path / "kar", tiny, _full(vg=[0.70, 0.72], sq=[0.61, 0.65]), keep=True)
    roar, kar = script.read_run(tmp_path / "roar"), script.read_run(tmp_path / "kar")
    claims = script.roar_claims(roar, kar)
    row = claims[claims["claim"].str.startswith("ROAR paper (as we read it): KAR")].iloc[0]
    assert row["status"] == "does not hold" and "VG" in row["evidence"]
    assert "## KAR" in script.roar_page(roar, kar)


def test_in_progress_retrain_is_reported(tmp_path: Path, tiny: dict[str, Any],
                                         script: Any) -> None:
    _roar_folder(tmp_path / "roar", tiny, {("none", 0.0): [0.85]})
    hist = tmp_path / "roar" / "train" / "random_t90_r0"
    hist.mkdir(parents=True)
    (hist / "history.json").write_text(json.dumps([{"epoch": 1, "seconds": 30.0}]))
    (tmp_path / "roar.cmd").write_text("attrbench roar --preset cifar")
    page = script.roar_page(script.read_run(tmp_path / "roar"), None)
    assert "In progress: `random_t90_r0`, 1 of 1 epochs" in page
    assert "attrbench roar --preset cifar" in page and "**1 of 14**" in page


def test_iteroar_claims(tmp_path: Path, tiny: dict[str, Any], script: Any) -> None:
    cfg = IteRoarConfig(variants=("random", VG), repeats=1, **tiny)
    store = ResultStore(tmp_path / "ite", cfg.identity(), cfg.seed, benchmark="iteroar")
    base = {"repeat": 0, "tau": 95.0, "rho": 0.5, "area": 1024.0, "random_mmo": 2.6,
            "random_mamo": 12.0, "random_cma": 412.0}
    store.table("overlap").write("vg", [{**base, "variant": VG, "mmo": 0.1, "mamo": 5.0,
                                         "cma": 400.0}])
    store.table("overlap").write("random", [{**base, "variant": "random", "mmo": 2.5,
                                             "mamo": 11.0, "cma": 410.0}])
    run = script.read_run(tmp_path / "ite")
    claims = script.iteroar_claims(run).set_index("claim")["status"]
    assert claims[script.ITEROAR_CLAIMS[0]] == "holds for 1 of 1 finished chains"  # 0.1 <= 0.26
    assert claims[script.ITEROAR_CLAIMS[1]] == "holds for 0 of 1 finished chains"  # 5 > 1.2
    assert claims[script.ITEROAR_CLAIMS[2]] == "holds for 0 of 1 finished chains"  # 400 < .95 ρA
    assert claims[script.ITEROAR_CLAIMS[3]].startswith("not yet")
    page = script.iteroar_page(run, "PLAN TEXT")
    assert "PLAN TEXT" in page and "Mask overlap" in page


def test_maps_left_is_scaled_from_the_measured_rate(tmp_path: Path, tiny: dict[str, Any],
                                                    script: Any) -> None:
    cfg = _roar_folder(tmp_path / "roar", tiny, {("none", 0.0): [0.85]})
    store = ResultStore(tmp_path / "roar", cfg.identity(), cfg.seed, benchmark="roar")
    # VG: 1 gradient per image, 100 images in 10 s -> 0.1 s per gradient; SG² (15) remains.
    store.table("maps").write("vg", [{"variant": VG, "model_sha256": "x", "seconds": 10.0,
                                      "images": 100, "params": "{}"}])
    run = script.read_run(tmp_path / "roar")
    # Both have rows left: VG's maps once more (the cache does not survive a session), measured.
    assert script.maps_left_seconds(run) == pytest.approx(10.0 + 0.1 * 100 * 15)
    acc = {("none", 0.0): [0.85], (VG, 50.0): [0.5, 0.5], (VG, 90.0): [0.3, 0.3]}
    _roar_folder(tmp_path / "roar", tiny, acc)  # VG finished: only SG² is left
    run = script.read_run(tmp_path / "roar")
    assert script.maps_left_seconds(run) == pytest.approx(0.1 * 100 * 15)


def test_page_reads_the_ledger_when_the_folder_is_gone(tmp_path: Path, tiny: dict[str, Any],
                                                       script: Any) -> None:
    _roar_folder(tmp_path / "ledger" / "roar", tiny, _full(vg=[0.59, 0.63], sq=[0.40, 0.45]))
    (tmp_path / "ledger" / "roar.cmd").write_text("attrbench roar --preset cifar\n")
    assert script.read_run(tmp_path / "gone") is None
    run = script.read_run(tmp_path / "gone", tmp_path / "ledger" / "roar")
    assert run is not None and run["ledger"] == tmp_path / "ledger" / "roar"
    page = script.roar_page(run, None)
    assert "read from its ledger copy" in page and "**14 of 14**" in page
    assert f"python scripts/ledger.py restore {tmp_path / 'ledger' / 'roar'} " in page
    assert "attrbench roar --preset cifar" in page  # the command kept beside the ledger copy
    # The live folder wins over the ledger when both exist.
    _roar_folder(tmp_path / "live", tiny, {("none", 0.0): [0.85]})
    live = script.read_run(tmp_path / "live", tmp_path / "ledger" / "roar")
    assert live is not None and live["ledger"] is None and len(live["accuracy"]) == 1


def test_page_names_recomputed_maps(tmp_path: Path, tiny: dict[str, Any], script: Any) -> None:
    _roar_folder(tmp_path / "roar", tiny, _full(vg=[0.59, 0.63], sq=[0.40, 0.45]))
    ResultStore(tmp_path / "roar", RoarConfig(variants=("random", VG, SQ), thresholds=(50, 90),
                                              repeats=2, **tiny).identity(), 0,
                benchmark="roar").table("maps_recomputed").write(
        "vg", [{"variant": VG, "probe_agreement": 0.99995}])
    page = script.roar_page(script.read_run(tmp_path / "roar"), None)
    assert "used because the probe's removal decisions agree: VG 99.995 %." in page


def test_ig_never_reselects_a_zero_filled_pixel(script: Any) -> None:
    """The premise of ``baseline_is_fill``: IG with baseline 0 gives exactly 0 at pixels filled
    with 0 (all channels), so an IteROAR chain of IG cannot overlap; only that variant is named."""
    import torch

    from attrbench.roar.scores import split_scores

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
    x = torch.randn(5, 3, 8, 8)
    filled = torch.rand(5, 8, 8) < 0.3
    x = x.masked_fill(filled[:, None], 0.0)
    scores = split_scores(model, x, "integrated_gradients|abs_sum", "spatial", seed=0,
                          batch_size=5, device=torch.device("cpu"),
                          params={"steps": 4})
    assert scores.shape == (5, 8, 8)
    assert torch.all(scores[filled] == 0) and torch.all(scores[~filled] > 0)
    ig = "integrated_gradients|abs_sum"
    cfg = {"fill": "zero", "variants": [VG, ig], "method_params": {}}
    assert script.baseline_is_fill(cfg) == (ig,)
    assert script.baseline_is_fill({**cfg, "fill": "mean"}) == ()
    assert script.baseline_is_fill({**cfg, "method_params": {
        "integrated_gradients": {"baseline": 0.5}}}) == ()
