"""scripts/bam_results.py on a tiny synthetic run folder: tables and the paper-claim rules."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bam_results.py"
METHODS = ("GC", "VG", "SG", "IG", "IG-SG", "GxI", "GB", "GGC")
KS = ("k0.5", "k1.0")


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("bam_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bam_results"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _metric_rows(mcs: dict, idr: dict, iir: dict, series: dict, rho: dict) -> list[dict]:
    rows = []
    for metric, values in (("MCS", mcs), ("IDR", idr), ("IIR", iir)):
        for m, v in values.items():
            rows.append({"metric": metric, "method": m, "region": "object", "k": math.nan,
                         "mean": v, "std": 0.01, "trial_size": 50, "eligible": 80})
            rows.append({"metric": metric, "method": m, "region": "random", "k": math.nan,
                         "mean": 0.5, "std": math.nan, "trial_size": 20, "eligible": 20})
    for m, values in series.items():
        rows += [{"metric": "MCS_k", "method": m, "region": "object", "k": float(k[1:]),
                  "mean": v, "std": math.nan, "trial_size": 5, "eligible": 5}
                 for k, v in zip(KS[:-1] + ("k0.7",), values)]
    rows += [{"metric": "MCS_k_pearson", "method": m, "region": "object", "k": math.nan,
              "mean": v, "std": math.nan, "trial_size": 0, "eligible": 2}
             for m, v in rho.items()]
    rows += [{"metric": "TCAV", "method": "TCAV", "region": n, "k": math.nan, "mean": v,
              "std": math.nan, "trial_size": 5, "eligible": 1}
             for n, v in (("f_o", 0.95), ("f_s", 0.05))]
    return rows


def make_run(tmp: Path, *, mcs: dict, idr: dict, iir: dict, series: dict, rho: dict,
             f_o: float = 0.5) -> Path:
    data, run = tmp / "data", tmp / "run"
    data.mkdir()
    (run / "models").mkdir(parents=True)
    (data / "bam.json").write_text(json.dumps({
        "objects": ["ball", "cup"], "scenes": ["coast", "forest"], "cf_object": "ball",
        "cf_scene": "forest", "commonality_sets": list(KS), "image_size": 32,
        "config": {"per_pair": 4, "image_size": 32, "val_fraction": 0.25}}))
    manifest = pd.DataFrame([
        {"set": "bam", "stem": f"{o}-{i}", "split": "test" if i == 3 else "train",
         "object": o, "object_file": f"{o}/{i % 2 if o == 'ball' else i}.png", "mask": "m"}
        for o in ("ball", "cup") for i in range(4)])  # ball: crop 1 is in both splits
    manifest.to_csv(data / "manifest.csv", index=False)
    (run / "run.json").write_text(json.dumps({"config": {
        "root": str(data), "preset": "cpu", "train": {"model": "m", "epochs": 1},
        "run": {"num_images": 8, "n_trials": 2, "trial_size": 50},
        "seconds": {"verify": 1.0, "metrics": 120.0}}}))
    verify = [("f_o", "X_os", "accuracy", f_o), ("f_s", "X_os", "accuracy", 0.8),
              ("f_o", "X_0s", "accuracy", 0.1), ("f_s", "X_0s", "accuracy", 0.7),
              ("f_o", "X_og", "accuracy", 0.6), ("f_s", "X_og", "accuracy", 0.1),
              ("f_s", "X_os->X_0s", "confidence_increase", 0.75),
              ("f_k0.5", "k0.5", "accuracy", 0.9), ("f_k0.5", "forest+CF", "accuracy", 0.9),
              ("f_k0.5", "forest-CF", "accuracy", 0.6), ("f_k0.5", "forest", "accuracy_drop", 0.3)]
    pd.DataFrame(verify, columns=["model", "test_set", "quantity", "value"]).to_csv(
        run / "verify.csv", index=False)
    pd.DataFrame(_metric_rows(mcs, idr, iir, series, rho)).to_csv(run / "metrics.csv",
                                                                   index=False)
    (run / "delta.json").write_text(json.dumps({"iir_pairs": 7, "excluded_correct_pairs": 1,
                                                "tolerance": 0.05,
                                                "median_relative_output_change": 0.01}))
    for name, acc in (("f_o", f_o), ("f_s", 0.8)):
        (run / "models" / name).mkdir()
        (run / "models" / name / "history.json").write_text(json.dumps(
            [{"epoch": 1, "train_accuracy": 0.9, "test_accuracy": acc, "seconds": 30.0}]))
    return run


def _claims_case(tmp: Path, **changes) -> Path:
    base = dict(
        mcs={**{m: 0.1 * i for i, m in enumerate(METHODS[::-1])}, "GC": 0.8, "TCAV": 0.9},
        idr={**{m: 0.5 for m in METHODS}, "GC": 0.9, "VG": 0.8},
        iir={**{m: 0.2 for m in METHODS}, "VG": 0.6},
        series={"GC": (0.5, 0.1), "GB": (0.02, 0.01), "SG": (0.3, 0.1), "TCAV": (0.8, 0.2)},
        rho={"GC": 0.9, "GB": 0.1, "SG": 0.5, "TCAV": 0.2})
    base.update(changes)
    return make_run(tmp, **base)


def test_claim_rules_on_hand_made_metrics(script, tmp_path: Path) -> None:
    mcs = {**{m: 0.1 * i for i, m in enumerate(METHODS[::-1])}, "GC": 0.8, "TCAV": 0.9}
    mcs["VG"] = 0.05  # VG: lowest MCS of the saliency methods
    run = _claims_case(tmp_path, mcs=mcs)
    claims = script.paper_claims(script.load_run(run)).set_index("paper finding")["verdict"]
    assert list(claims) == ["holds", "does not hold", "holds", "holds", "holds"]
    # MCS ranking TCAV 0.9 > GC 0.8 > ...; Pearson r: GC 0.9 > SG 0.5 > TCAV 0.2 > GB 0.1
    measured = script.paper_claims(script.load_run(run))["measured"]
    assert measured[0].startswith("ranking: TCAV 0.900, GC 0.800")
    assert measured[1] == "ranking: GC 0.90, SG 0.50, TCAV 0.20, GB 0.10"
    assert measured[2].startswith("range, smallest first: GB 0.010, SG 0.200, GC 0.400")
    assert measured[4] == "IDR rank 2, IIR rank 1, MCS rank 7"  # GGC 0.0 < VG 0.05


def test_claims_fail_and_unmeasured(script, tmp_path: Path) -> None:
    mcs = {m: 0.1 * i for i, m in enumerate(METHODS)}  # GGC highest, GC lowest; no TCAV
    idr = {m: 0.5 + 0.01 * i for i, m in enumerate(METHODS)}  # GGC, GB highest
    run = _claims_case(tmp_path, mcs=mcs, idr=idr,
                       series={"GC": (0.5, 0.1), "GB": (0.9, 0.1)},
                       rho={"GC": 0.9, "GB": 0.1})
    claims = script.paper_claims(script.load_run(run))
    # no TCAV MCS: finding 1 is not measured; no TCAV series: finding 2 neither
    assert list(claims["verdict"]) == ["not measured", "not measured", "does not hold",
                                       "does not hold", "does not hold"]


def test_page_has_every_table_and_the_accuracy_verdict(script, tmp_path: Path) -> None:
    run = _claims_case(tmp_path)
    page = script.render(script.load_run(run), ["attrbench bam run --preset cpu"])
    assert "    attrbench bam run --preset cpu" in page
    assert "f_o reaches 50.0 % and f_s 80.0 %" in page and "**not met**" in page
    assert "| ball | 2 | 1 | 1 | 3 | 1 |" in page  # crop 1 of ball sits in both splits
    assert "| cup | 3 | 1 | 0 | 3 | 1 |" in page
    assert "| GC | 0.800 ± 0.010 | 0.500 (n = 20, all pairs) |" in page
    assert "| f_s | X_{∅,s} (scene only) | 70.0 % | 95.5 % |" in page
    assert "| 0.5 | 90.0 % | 90.0 % | 60.0 % | 30.0 % |" in page
    assert "| TCAV-MCS = TCAV(f_o) - TCAV(f_s) |" in page
    assert "| accuracy drop (CF removed) | 0.300 |" in page
    assert "| GB | 0.020 | 0.010 | 0.10 | 0.010 |" in page  # series, Pearson r, range
    assert "metrics 2.0 min" in page and "training 1.0 min" in page
    (tmp_path / "x").mkdir()
    ok = script.render(script.load_run(_claims_case(tmp_path / "x", f_o=0.75)), [])
    assert "bar of 70.0 % for both is met" in ok


def test_main_writes_the_page_and_refuses_unfinished_runs(script, tmp_path: Path) -> None:
    run = _claims_case(tmp_path)
    (run / "commands.txt").write_text("cmd one\n\ncmd two\n")
    out = tmp_path / "bam.md"
    script.main([str(run), "--out", str(out)])
    assert "    cmd one\n    cmd two\n" in out.read_text()
    (run / "metrics.csv").unlink()
    with pytest.raises(SystemExit, match="lacks metrics.csv"):
        script.main([str(run), "--out", str(out)])


def test_page_of_a_run_whose_metrics_are_still_running(script, tmp_path: Path) -> None:
    run = _claims_case(tmp_path)
    bound = {"data": {"build": {"per_pair": 4, "image_size": 32}},
             "train": {"model": "m", "epochs": 1}}
    (run / "config.json").write_text(json.dumps({"config": bound}))
    for name in ("run.json", "metrics.csv", "delta.json"):
        (run / name).unlink()
    with pytest.raises(SystemExit, match="pass --data"):
        script.load_run(run)
    r = script.load_run(run, tmp_path / "data")
    assert not r.complete
    page = script.render(r, [])
    assert "was still running" in page and "f_o reaches 50.0 %" in page
    assert "## MCS / IDR / IIR" not in page and "| 0.5 | 90.0 % |" in page


def test_unfiltered_tcav_sensitivity_is_shown_never_judged(script, tmp_path: Path) -> None:
    """Where f_s has no layer passing the t-test, TCAV-MCS is undefined (App. F); the page shows
    the all-layer difference as a labelled sensitivity check, and the verdict stays unmeasured."""
    mcs = {m: 0.1 * i for i, m in enumerate(METHODS)}  # no TCAV MCS row
    run = _claims_case(tmp_path, mcs=mcs)
    pd.DataFrame({"model": ["f_o", "f_o", "f_s", "f_s"], "layer": ["a", "b", "a", "b"],
                  "concept": [0.6, 1.0, 0.5, 0.4], "random": 0.5, "p": [0.001, 0.2, 0.3, 0.4],
                  "passed": [True, False, False, False]}).to_csv(run / "tcav_layers.csv",
                                                                 index=False)
    loaded = script.load_run(run)
    assert script.tcav_mcs_unfiltered(loaded) == pytest.approx(0.8 - 0.45)
    claims = script.paper_claims(loaded)
    assert claims["verdict"][0] == "not measured"
    assert claims["measured"][0].endswith("without the t-test it would be 0.350")
    table = script.tcav_table(loaded).set_index("quantity")["value"]
    assert table.iloc[-1] == "0.350" and table.index[-1].startswith("sensitivity, not the paper")


def test_image_size_pilots_table(script, tmp_path: Path) -> None:
    """--pilot folders (f_o / f_s trained by `bam verify` on data of another size) get a table
    beside the run's own models: held-out accuracy from each folder's verify.csv."""
    run = _claims_case(tmp_path, mcs={m: 0.1 for m in METHODS})
    pilot_data, pilot = tmp_path / "data48", tmp_path / "pilot"
    pilot_data.mkdir()
    pilot.mkdir()
    (pilot_data / "bam.json").write_text(json.dumps({"image_size": 48}))
    pd.DataFrame([("f_o", "X_os", "accuracy", 0.61), ("f_s", "X_os", "accuracy", 0.66)],
                 columns=["model", "test_set", "quantity", "value"]).to_csv(
        pilot / "verify.csv", index=False)
    for folder, data in ((run, tmp_path / "data"), (pilot, pilot_data)):
        for name in ("f_o", "f_s"):
            (folder / "models" / name).mkdir(parents=True, exist_ok=True)
            (folder / "models" / name / "run.json").write_text(json.dumps(
                {"config": {"dataset": str(data / ("obj" if name == "f_o" else "scene"))}}))
    (pilot / "models" / "f_o" / "history.json").write_text(json.dumps(
        [{"epoch": e, "train_accuracy": 0.9, "test_accuracy": 0.6, "seconds": s}
         for e, s in ((1, 100.0), (2, 120.0), (3, 200.0))]))
    (pilot / "models" / "f_s" / "history.json").write_text(json.dumps(
        [{"epoch": 1, "train_accuracy": 0.9, "test_accuracy": 0.66, "seconds": 90.0}]))
    table = script.pilot_table(script.pilot_accuracies(script.load_run(run), [pilot]))
    assert list(table["image size"]) == ["32 px", "32 px", "48 px", "48 px"]
    assert list(table["held-out accuracy"]) == ["50.0 %", "80.0 %", "61.0 %", "66.0 %"]
    assert list(table["epochs"]) == [1, 1, 3, 1] and table["s / epoch (median)"][2] == "120"
    (pilot / "commands.txt").write_text("attrbench bam verify --dataset data48\n")
    out = tmp_path / "page.md"
    script.main([str(run), "--out", str(out), "--pilot", str(pilot)])
    page = out.read_text()
    assert "### Image size (f_o and f_s only)" in page
    assert "    attrbench bam verify --dataset data48" in page and "| 48 px | f_s |" in page
    # summary: 32 -> 48 px moves; train 90 % vs held-out 61 %: the gap line is there
    assert ("- From 32 px to 48 px: f_o held-out 50.0 % -> 61.0 %, train 90.0 % -> 90.0 %; "
            "f_s held-out 80.0 % -> 66.0 %") in page
    assert "still fit their training images at least 24 points better" in page
    (pilot / "models" / "f_s" / "history.json").write_text(json.dumps(
        [{"epoch": 1, "train_accuracy": 0.7, "test_accuracy": 0.66, "seconds": 90.0}]))
    script.main([str(run), "--out", str(out), "--pilot", str(pilot)])
    assert "fit their training images" not in out.read_text()  # f_s: 70 % vs 66 %
