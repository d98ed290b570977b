"""Write ``docs/results/bam.md`` from a finished ``attrbench bam run`` folder (issue 16, part 1).

Exactly what was run (one CPU core, ``OMP_NUM_THREADS=1``; see the generated page for times)::

    attrbench bam build --out runs/bam16/data32 --miniplaces ../shared/data/miniplaces --preset cpu
    attrbench bam run --preset cpu --dataset runs/bam16/data32 --out runs/bam16/cpu --device cpu
    python scripts/bam_results.py runs/bam16/cpu

Every number on the page is read from the run folder (``run.json``, ``verify.csv``,
``metrics.csv``, ``tcav_layers.csv``, ``delta.json``, ``models/*/history.json``) and the BAM data
folder it names (``bam.json``, ``manifest.csv``); nothing is typed by hand. The paper's findings
are checked by fixed rules (:func:`paper_claims`), stated on the page beside each verdict.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: The paper's eight saliency methods in its order (Figs. 4, 8, 10).
METHODS = ("GC", "VG", "SG", "IG", "IG-SG", "GxI", "GB", "GGC")
#: Fig. 2 as parsed in ../shared/papers/NOTES.md §2.6 (ResNet-50 at 224 px, COCO objects).
PAPER_FIG2 = {("f_o", "X_os"): 0.911, ("f_o", "X_og"): 0.931, ("f_o", "X_0s"): 0.097,
              ("f_s", "X_os"): 0.940, ("f_s", "X_0s"): 0.955, ("f_s", "X_og"): 0.098}
PAPER_CONFIDENCE_RISE = 0.867
#: The bar of issue 16 for f_o and f_s on held-out images.
ACCURACY_BAR = 0.70


@dataclass
class BamRun:
    """One run folder and its data folder, read back.

    Attributes:
        run: the run folder.
        config: ``run.json``'s ``config`` (root, preset, build, train, run, seconds).
        info: the data folder's ``bam.json``.
        manifest: the data folder's ``manifest.csv``.
        verify: ``verify.csv`` (model, test_set, quantity, value).
        metrics: ``metrics.csv`` (metric, method, region, k, mean, std, trial_size, eligible).
        tcav_layers: ``tcav_layers.csv`` or None.
        delta: ``delta.json``.
        histories: ``{model: history rows}`` from ``models/<model>/history.json``.
    """

    run: Path
    config: dict[str, Any]
    info: dict[str, Any]
    manifest: pd.DataFrame
    verify: pd.DataFrame
    metrics: pd.DataFrame
    tcav_layers: pd.DataFrame | None
    delta: dict[str, Any]
    histories: dict[str, list[dict[str, Any]]]
    complete: bool = True


METRIC_COLUMNS = ["metric", "method", "region", "k", "mean", "std", "trial_size", "eligible"]


def load_run(run: str | Path, data: str | Path | None = None) -> BamRun:
    """Read a run folder (and the data folder recorded in its ``run.json``).

    A run whose models are trained and verified but whose metrics are still being computed
    (``verify.csv`` and ``config.json`` but no ``run.json`` yet) is read as incomplete
    (``complete=False``, no metrics; ``data`` is then required).

    Raises:
        SystemExit: ``verify.csv`` is missing, or the metric files of a finished run.
    """
    run = Path(run)
    if not (run / "verify.csv").is_file():
        raise SystemExit(f"{run} lacks verify.csv: the models are not trained yet; rerun "
                         "'attrbench bam run' with the same options (it resumes).")
    complete = (run / "run.json").is_file()
    if complete:
        missing = [n for n in ("metrics.csv", "delta.json") if not (run / n).is_file()]
        if missing:
            raise SystemExit(f"{run} lacks {', '.join(missing)}: the run has not finished; "
                             "rerun 'attrbench bam run' with the same options (it resumes).")
        config = json.loads((run / "run.json").read_text())["config"]
    else:
        if data is None:
            raise SystemExit(f"{run} has no run.json yet (metrics running); pass --data.")
        bound = json.loads((run / "config.json").read_text())["config"]
        config = {"root": str(data), "preset": None, "build": bound["data"]["build"],
                  "train": bound["train"], "run": {}, "seconds": {}}
    root = Path(data) if data is not None else Path(config["root"])
    if not root.is_absolute() and not root.exists():
        root = ROOT / root
    tcav = run / "tcav_layers.csv"
    histories = {p.parent.name: json.loads(p.read_text())
                 for p in sorted((run / "models").glob("*/history.json"))}
    return BamRun(run=run, config=config, info=json.loads((root / "bam.json").read_text()),
                  manifest=pd.read_csv(root / "manifest.csv", keep_default_na=False),
                  verify=pd.read_csv(run / "verify.csv"),
                  metrics=(pd.read_csv(run / "metrics.csv") if complete
                           else pd.DataFrame(columns=METRIC_COLUMNS)),
                  tcav_layers=pd.read_csv(tcav) if complete and tcav.is_file() else None,
                  delta=json.loads((run / "delta.json").read_text()) if complete else {},
                  histories=histories, complete=complete)


# --------------------------------------------------------------------------- formatting


def pct(v: float) -> str:
    """A fraction as a percentage with one decimal (``n/a`` for NaN)."""
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f} %"


def num(v: float, digits: int = 3) -> str:
    """A number with ``digits`` decimals (``n/a`` for NaN)."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def mean_std(row: pd.Series | None) -> str:
    """``mean ± std (n)``; a whole-pool result (std NaN) as ``mean (n = N, all pairs)``."""
    if row is None or not math.isfinite(row["mean"]):
        return "n/a"
    if math.isfinite(row["std"]):
        return f"{row['mean']:.3f} ± {row['std']:.3f}"
    return f"{row['mean']:.3f} (n = {int(row['eligible'])}, all pairs)"


def md_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` (index dropped; cells as strings)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def _row(metrics: pd.DataFrame, metric: str, method: str, region: str = "object",
         ) -> pd.Series | None:
    sel = metrics[(metrics["metric"] == metric) & (metrics["method"] == method)
                  & (metrics["region"] == region)]
    return None if sel.empty else sel.iloc[0]


def _value(verify: pd.DataFrame, model: str, test_set: str, quantity: str = "accuracy") -> float:
    sel = verify[(verify["model"] == model) & (verify["test_set"] == test_set)
                 & (verify["quantity"] == quantity)]
    return float(sel["value"].iloc[0]) if len(sel) else math.nan


# --------------------------------------------------------------------------- tables


def data_table(r: BamRun) -> pd.DataFrame:
    """Per object class: crops in the training and held-out pools, their overlap, images."""
    bam = r.manifest[r.manifest["set"] == "bam"]
    rows = []
    for o in r.info["objects"]:
        sel = bam[bam["object"] == o]
        train = set(sel.loc[sel["split"] == "train", "object_file"])
        test = set(sel.loc[sel["split"] == "test", "object_file"])
        rows.append({"object": o, "train crops": len(train), "held-out crops": len(test),
                     "in both": len(train & test), "train images": int((sel["split"] == "train")
                                                                       .sum()),
                     "test images": int((sel["split"] == "test").sum())})
    return pd.DataFrame(rows)


def training_table(r: BamRun) -> pd.DataFrame:
    """Per model: epochs, final training and held-out accuracy, training seconds."""
    rows = []
    order = ["f_o", "f_s", *[f"f_{k}" for k in r.info.get("commonality_sets", [])]]
    for name in [n for n in order if n in r.histories]:
        h = r.histories[name]
        rows.append({"model": name, "epochs": len(h),
                     "train accuracy": pct(h[-1]["train_accuracy"]),
                     "held-out accuracy": pct(h[-1]["test_accuracy"]),
                     "seconds": f"{sum(e['seconds'] for e in h):.0f}"})
    return pd.DataFrame(rows)


def pilot_accuracies(r: BamRun, pilots: list[Path]) -> pd.DataFrame:
    """f_o / f_s accuracy by image size, as numbers: this run and each ``attrbench bam verify``
    pilot folder (models trained with this run's options on data built at another size).

    Columns ``size`` (px), ``model``, ``epochs``, ``train`` (last epoch), ``held_out``
    (``verify.csv``, X_{o,s}), ``seconds`` (median per epoch), ``folder``.
    """
    rows = []
    for folder in [r.run, *pilots]:
        verify = pd.read_csv(folder / "verify.csv")
        dataset = json.loads((folder / "models" / "f_o" / "run.json").read_text())["config"][
            "dataset"]
        data = Path(dataset).parent
        data = data if data.is_absolute() else ROOT / data
        size = json.loads((data / "bam.json").read_text())["image_size"]
        for name in ("f_o", "f_s"):
            h = json.loads((folder / "models" / name / "history.json").read_text())
            rows.append({"size": size, "model": name, "epochs": len(h),
                         "train": h[-1]["train_accuracy"],
                         "held_out": _value(verify, name, "X_os"),
                         "seconds": float(np.median([e["seconds"] for e in h])),
                         "folder": str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT)
                                       else folder)})
    return pd.DataFrame(rows)


def pilot_table(a: pd.DataFrame) -> pd.DataFrame:
    """:func:`pilot_accuracies` formatted for the page."""
    return pd.DataFrame({"image size": [f"{v} px" for v in a["size"]], "model": a["model"],
                         "epochs": a["epochs"], "train accuracy": [pct(v) for v in a["train"]],
                         "held-out accuracy": [pct(v) for v in a["held_out"]],
                         "s / epoch (median)": [f"{v:.0f}" for v in a["seconds"]],
                         "folder": a["folder"]})


def pilot_summary(accuracies: pd.DataFrame) -> str:
    """One summary line from :func:`pilot_accuracies`: how held-out and train accuracy moved
    from the smallest image size to the largest (where held-out stays far below train, more
    pixels did not close the gap)."""
    sizes = sorted(accuracies["size"].unique())
    lo, hi = (accuracies[accuracies["size"] == s].set_index("model")
              for s in (sizes[0], sizes[-1]))
    moves = "; ".join(
        f"{m} held-out {pct(lo.loc[m, 'held_out'])} -> {pct(hi.loc[m, 'held_out'])}, "
        f"train {pct(lo.loc[m, 'train'])} -> {pct(hi.loc[m, 'train'])}"
        for m in ("f_o", "f_s"))
    gap = 100 * min(hi.loc[m, "train"] - hi.loc[m, "held_out"] for m in ("f_o", "f_s"))
    return (f"- From {sizes[0]} px to {sizes[-1]} px: {moves}. "
            + (f"At {sizes[-1]} px both models still fit their training images at least "
               f"{gap:.0f} points better than held-out ones, so the limit is what they learn "
               "from (the object crops and scene images per class in the Data table), not the "
               "number of pixels." if gap >= 20 else ""))


def fig2_table(r: BamRun) -> pd.DataFrame:
    """Fig. 2 (top): f_o and f_s on X_os, X_0s, X_og, with the paper's values."""
    names = {"X_os": "X_{o,s} (object in scene)", "X_0s": "X_{∅,s} (scene only)",
             "X_og": "X_{o,g} (object on gray)"}
    rows = []
    for model in ("f_o", "f_s"):
        for test_set, label in names.items():
            rows.append({"model": model, "test set": label,
                         "accuracy": pct(_value(r.verify, model, test_set)),
                         "paper": pct(PAPER_FIG2[(model, test_set)])})
    rows.append({"model": "f_s", "test set": "correct on X_{o,s}: confidence rises without the "
                                             "object", "accuracy":
                 pct(_value(r.verify, "f_s", "X_os->X_0s", "confidence_increase")),
                 "paper": pct(PAPER_CONFIDENCE_RISE)})
    return pd.DataFrame(rows)


def commonality_table(r: BamRun) -> pd.DataFrame:
    """Fig. 2 (bottom): each X^k model's accuracy and its drop on the always-CF class."""
    cf_scene = r.info["cf_scene"]
    rows = []
    for k in r.info.get("commonality_sets", []):
        m = f"f_{k}"
        if not (r.verify["model"] == m).any():
            continue
        rows.append({"k": k[1:], "accuracy on own test set": pct(_value(r.verify, m, k)),
                     f"{cf_scene} with CF": pct(_value(r.verify, m, f"{cf_scene}+CF")),
                     f"{cf_scene} without CF": pct(_value(r.verify, m, f"{cf_scene}-CF")),
                     "accuracy drop": pct(_value(r.verify, m, cf_scene, "accuracy_drop"))})
    return pd.DataFrame(rows)


def methods_in(r: BamRun) -> list[str]:
    """The saliency methods of the run, the paper's order first."""
    found = list(dict.fromkeys(r.metrics.loc[r.metrics["metric"].isin(["MCS", "IDR", "IIR"]),
                                             "method"]))
    return [m for m in METHODS if m in found] + [m for m in found
                                                  if m not in METHODS and m != "TCAV"]


def metric_table(r: BamRun) -> pd.DataFrame:
    """MCS / IDR / IIR per method, object region and random-region baseline."""
    rows = []
    for method in [*methods_in(r), "TCAV"]:
        row: dict[str, str] = {"method": method}
        for metric in ("MCS", "IDR", "IIR"):
            for region, label in (("object", ""), ("random", " (random region)")):
                row[metric + label] = mean_std(_row(r.metrics, metric, method, region))
        if method == "TCAV" and all(v == "n/a" for k, v in row.items() if k != "method"):
            continue
        rows.append(row)
    return pd.DataFrame(rows)


def tcav_table(r: BamRun) -> pd.DataFrame:
    """TCAV per model (score over passing layers) and TCAV-MCS, with the random-CAV baseline."""
    rows = []
    for model in ("f_o", "f_s"):
        row = _row(r.metrics, "TCAV", "TCAV", model)
        layers = (r.tcav_layers[r.tcav_layers["model"] == model]
                  if r.tcav_layers is not None else pd.DataFrame())
        rows.append({"quantity": f"TCAV score of {model}",
                     "value": num(row["mean"]) if row is not None else "n/a",
                     "layers passing (p <= 0.01)": (f"{int(layers['passed'].sum())} of "
                                                    f"{len(layers)}") if len(layers) else "n/a"})
    mcs, base = _row(r.metrics, "MCS", "TCAV"), _row(r.metrics, "MCS", "TCAV", "random")
    rows.append({"quantity": "TCAV-MCS = TCAV(f_o) - TCAV(f_s)",
                 "value": num(mcs["mean"]) if mcs is not None else "n/a",
                 "layers passing (p <= 0.01)": ""})
    rows.append({"quantity": "random-CAV baseline of TCAV-MCS",
                 "value": num(base["mean"]) if base is not None else "n/a",
                 "layers passing (p <= 0.01)": ""})
    unfiltered = tcav_mcs_unfiltered(r)
    if unfiltered is not None:
        rows.append({"quantity": "sensitivity, not the paper's TCAV-MCS: mean concept score over "
                                 "all layers (no t-test), f_o minus f_s",
                     "value": num(unfiltered), "layers passing (p <= 0.01)": "all counted"})
    return pd.DataFrame(rows)


def tcav_mcs_unfiltered(r: BamRun) -> float | None:
    """TCAV(f_o) - TCAV(f_s) with every layer's concept score averaged, the t-test skipped.

    Not the paper's TCAV-MCS (App. F drops layers with p > 0.01, and a model with no passing
    layer has no TCAV score): a sensitivity check for runs where the filter leaves TCAV-MCS
    undefined, shown beside it and never used for a verdict.
    """
    if r.tcav_layers is None:
        return None
    means = r.tcav_layers.groupby("model")["concept"].mean()
    if not {"f_o", "f_s"} <= set(means.index):
        return None
    return float(means["f_o"] - means["f_s"])


def tcav_layer_table(r: BamRun) -> pd.DataFrame:
    """Per model and layer: mean TCAV score of the concept and of random CAVs, p-value."""
    if r.tcav_layers is None:
        return pd.DataFrame()
    t = r.tcav_layers
    return pd.DataFrame({"model": t["model"], "layer": t["layer"],
                         "concept": [num(v) for v in t["concept"]],
                         "random": [num(v) for v in t["random"]],
                         "p": [f"{v:.2g}" for v in t["p"]],
                         "passed": ["yes" if bool(v) else "no" for v in t["passed"]]})


def series(r: BamRun) -> pd.DataFrame:
    """The X^k MCS series: rows ``method``, columns ``k`` (float), values the means."""
    s = r.metrics[r.metrics["metric"] == "MCS_k"]
    if s.empty:
        return pd.DataFrame()
    return s.pivot_table(index="method", columns="k", values="mean", aggfunc="first",
                         sort=False)


def pearson(r: BamRun) -> dict[str, float]:
    """``{method: Pearson r of its MCS series with the accuracy drop}``."""
    s = r.metrics[r.metrics["metric"] == "MCS_k_pearson"]
    return {m: float(v) for m, v in zip(s["method"], s["mean"])}


def series_table(r: BamRun) -> pd.DataFrame:
    """X^k MCS series with Pearson r and the series' range per method; the drop row on top."""
    table = series(r)
    if table.empty:
        return table
    ks = list(table.columns)
    drops = {float(k[1:]): _value(r.verify, f"f_{k}", r.info["cf_scene"], "accuracy_drop")
             for k in r.info.get("commonality_sets", [])}
    rows = [{"method": "accuracy drop (CF removed)", **{f"k={k:g}": num(drops.get(k, math.nan))
                                                       for k in ks},
             "Pearson r": "", "range": ""}]
    r_of = pearson(r)
    order = [m for m in ["TCAV", *METHODS] if m in table.index] + [
        m for m in table.index if m not in METHODS and m != "TCAV"]
    for m in order:
        values = table.loc[m].to_numpy(dtype=float)
        rows.append({"method": m, **{f"k={k:g}": num(v) for k, v in zip(ks, values)},
                     "Pearson r": num(r_of.get(m, math.nan), 2),
                     "range": num(float(np.nanmax(values) - np.nanmin(values)))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- paper claims


def _ranked(values: dict[str, float]) -> list[str]:
    """Keys by value, highest first; NaN values dropped."""
    return [k for k, v in sorted(values.items(), key=lambda kv: -kv[1]) if math.isfinite(v)]


def _means(metrics: pd.DataFrame, metric: str, methods: list[str]) -> dict[str, float]:
    out = {}
    for m in methods:
        row = _row(metrics, metric, m)
        if row is not None:
            out[m] = float(row["mean"])
    return out


def _fmt(values: dict[str, float], keys: list[str], digits: int = 3) -> str:
    return ", ".join(f"{k} {num(values[k], digits)}" for k in keys)


def paper_claims(r: BamRun) -> pd.DataFrame:
    """The paper's five findings (issue 16) checked by fixed rules on this run.

    Rules ("methods" = the saliency methods of the run, TCAV added where the paper compares it):
    1. TCAV and GC have the best MCS: they are the two highest MCS (object region).
    2. TCAV's and GC's MCS series follow the accuracy drop: they have the two highest Pearson r.
    3. GB changes least: GB's X^k MCS series has the smallest range (max - min) of the
       saliency methods.
    4. GC and VG have the highest IDR: they are the two highest IDR.
    5. VG has high IDR and IIR but low MCS: VG is in the upper half of the saliency methods for
       IDR and for IIR and in the lower half for MCS.

    Returns:
        Rows (finding, rule, measured, verdict) with verdict ``holds``, ``does not hold`` or
        ``not measured``.
    """
    saliency = methods_in(r)
    rows = []

    def add(finding: str, rule: str, measured: str, ok: bool | None) -> None:
        verdict = "not measured" if ok is None else ("holds" if ok else "does not hold")
        rows.append({"paper finding": finding, "rule here": rule, "measured": measured,
                     "verdict": verdict})

    mcs = _means(r.metrics, "MCS", [*saliency, "TCAV"])
    ranked = _ranked(mcs)
    unfiltered = tcav_mcs_unfiltered(r)
    aside = ("" if "TCAV" in ranked or unfiltered is None else
             f"; TCAV-MCS is undefined (a model has no layer passing the t-test); over all layers "
             f"without the t-test it would be {unfiltered:.3f}")
    add("TCAV and GC have the best MCS", "TCAV and GC are the two highest MCS",
        "ranking: " + _fmt(mcs, ranked) + aside,
        None if {"TCAV", "GC"} - set(ranked) else set(ranked[:2]) == {"TCAV", "GC"})
    rho = pearson(r)
    ranked_r = _ranked(rho)
    add("TCAV's and GC's MCS series follow the accuracy drop on CF removal (highest Pearson r)",
        "TCAV and GC have the two highest Pearson r",
        "ranking: " + _fmt(rho, ranked_r, 2) if ranked_r else "no series",
        None if {"TCAV", "GC"} - set(ranked_r) else set(ranked_r[:2]) == {"TCAV", "GC"})
    table = series(r)
    spans = {m: float(np.nanmax(table.loc[m]) - np.nanmin(table.loc[m]))
             for m in saliency if m in table.index} if not table.empty else {}
    spans = {m: v for m, v in spans.items() if math.isfinite(v)}
    low_first = [m for m in reversed(_ranked(spans))]
    add("GB changes least (its X^k MCS barely moves)",
        "GB's X^k MCS series has the smallest range of the saliency methods",
        "range, smallest first: " + _fmt(spans, low_first) if spans else "no series",
        None if "GB" not in spans else low_first[0] == "GB")
    idr = _means(r.metrics, "IDR", saliency)
    ranked_idr = _ranked(idr)
    add("GC and VG have the highest IDR", "GC and VG are the two highest IDR",
        "ranking: " + _fmt(idr, ranked_idr),
        None if {"GC", "VG"} - set(ranked_idr) else set(ranked_idr[:2]) == {"GC", "VG"})
    iir = _means(r.metrics, "IIR", saliency)
    mcs_s = {m: v for m, v in mcs.items() if m in saliency}
    half = len(saliency) / 2

    def rank_of(values: dict[str, float]) -> int | None:
        order = _ranked(values)
        return order.index("VG") + 1 if "VG" in order else None

    ranks = {"IDR": rank_of(idr), "IIR": rank_of(iir), "MCS": rank_of(mcs_s)}
    ok = (None if None in ranks.values() else
          ranks["IDR"] <= half and ranks["IIR"] <= half and ranks["MCS"] > half)
    add("VG has high IDR and IIR but low MCS",
        f"VG ranks in the upper half of the {len(saliency)} saliency methods for IDR and IIR "
        "and in the lower half for MCS",
        ", ".join(f"{k} rank {v}" for k, v in ranks.items()), ok)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- page


def render(r: BamRun, commands: list[str], pilots: tuple[Path, ...] = (),
           pilot_commands: tuple[str, ...] = ()) -> str:
    """The Markdown page (``pilots``: f_o / f_s folders at other image sizes, with the
    commands that made them)."""
    cfg, info = r.config, r.info
    train, run_cfg, build = cfg.get("train", {}), cfg.get("run", {}), info.get("config", {})
    f_o = _value(r.verify, "f_o", "X_os")
    f_s = _value(r.verify, "f_s", "X_os")
    bar_ok = f_o >= ACCURACY_BAR and f_s >= ACCURACY_BAR
    train_s = sum(e["seconds"] for h in r.histories.values() for e in h)
    seconds = cfg.get("seconds", {})
    claims = paper_claims(r) if r.complete else pd.DataFrame(columns=["verdict"])
    accuracies = pilot_accuracies(r, list(pilots)) if pilots else None
    held = claims["verdict"].eq("holds").sum()
    parts = [
        "# BAM at full class count (issue 16, part 1)",
        "",
        "Generated by `python scripts/bam_results.py` from the run folder "
        f"`{r.run.relative_to(ROOT) if r.run.is_relative_to(ROOT) else r.run}`; do not edit "
        "by hand. Yang & Kim (2019), *BAM: Benchmarking Attribution Methods with Relative "
        "Feature Importance*.",
        "",
        "## Commands",
        "",
        *[f"    {c}" for c in commands],
        "",
        f"Preset `{cfg.get('preset') or 'cpu (see commands)'}`: data {build.get('image_size')} px, "
        f"{build.get('per_pair')} images per (object, scene) pair, held-out fraction "
        f"{build.get('val_fraction')}; models `{train.get('model')}` fine-tuned from "
        f"`{train.get('init')}` (recipe `{train.get('recipe')}`, lr {train.get('lr')}, batch "
        f"{train.get('batch_size')}, f_o / f_s {train.get('epochs')} epochs, X^k "
        f"{train.get('k_epochs') or train.get('epochs')} epochs, bf16 autocast "
        f"{'on' if train.get('amp') else 'off'})"
        + ("." if not r.complete else
           f"; metrics on {run_cfg.get('num_images')} "
        f"held-out X_{{o,s}} images, {run_cfg.get('n_trials')} trials of "
        f"{run_cfg.get('trial_size')} pairs, IIR t = {run_cfg.get('iir_threshold')}, delta "
        f"{run_cfg.get('delta_steps')} steps of {run_cfg.get('delta_step_size')} (0-255 units)."),
        "",
        f"Run time on one CPU core: training {train_s / 60:.1f} min (sum of all epochs of all "
        f"{len(r.histories)} models)"
        + (f", Fig. 2 checks {seconds.get('verify', math.nan):.0f} s, metrics "
           f"{seconds.get('metrics', math.nan) / 60:.1f} min." if r.complete else "."),
        "",
        "## Summary",
        "",
        f"- f_o reaches {pct(f_o)} and f_s {pct(f_s)} on held-out X_{{o,s}} images: the "
        f"issue's bar of {pct(ACCURACY_BAR)} for both is "
        f"{'met' if bar_ok else '**not met**'}.",
        *([pilot_summary(accuracies)] if accuracies is not None else []),
        *([f"- The X^k MCS series' Pearson r: "
           + ", ".join(f"{m} {num(v, 2)}" for m, v in pearson(r).items()) + ".",
           f"- {held} of {len(claims)} of the paper's findings hold here (table at the end)."]
          if r.complete else
          ["- **The metric phase (MCS / IDR / IIR, TCAV, X^k series) was still running when this "
           "page was written; rerun this script when the run folder has run.json.**"]),
        "",
        "## Data",
        "",
        f"{len(info['objects'])} object classes ({', '.join(info['objects'])}) x "
        f"{len(info['scenes'])} scene classes ({', '.join(info['scenes'])}); common-feature "
        f"object `{info['cf_object']}`, always-CF scene `{info['cf_scene']}`. Each class's crops "
        "are split into disjoint training and held-out pools (column 'in both' must be 0).",
        "",
        md_table(data_table(r)),
        "",
        "## Training (held-out accuracy = the test split, unseen object crops)",
        "",
        md_table(training_table(r)),
        "",
        *(["### Image size (f_o and f_s only)",
           "",
           "The same training options on data built at another size (`bam build --image-size`, "
           "X^k sets skipped), trained and checked by:",
           "",
           *[f"    {c}" for c in pilot_commands],
           "",
           md_table(pilot_table(accuracies)),
           "",
           "Seconds per epoch were measured beside other jobs on the same two cores (ROAR "
           "retraining, tests): compare them within a row group only.",
           ""] if accuracies is not None else []),
        "## Fig. 2 checks",
        "",
        md_table(fig2_table(r)),
        "",
        "Commonality models (Fig. 2 bottom; paper: drop from ~97 % to 75-81 % for k <= 0.6):",
        "",
        md_table(commonality_table(r)),
        "",
    ]
    if not r.complete:
        return "\n".join(parts)
    parts += [
        "## MCS / IDR / IIR per method",
        "",
        "Mean ± std over trials of pairs (only correctly classified inputs count; where the "
        "eligible pool is no larger than one trial, the mean over all n pairs). Random region: "
        "the same computation with each object mask moved to a random place (App. G).",
        "",
        md_table(metric_table(r)),
        "",
        f"Delta search for IIR (App. A): {r.delta.get('iir_pairs')} pairs entered IIR, "
        f"{r.delta.get('excluded_correct_pairs')} correctly classified pairs were excluded "
        f"because ||f(x+δ) - f(x)|| exceeded {r.delta.get('tolerance')} ||f(x)|| (median "
        f"relative change {num(r.delta.get('median_relative_output_change', math.nan), 4)}).",
        "",
        "## TCAV",
        "",
        md_table(tcav_table(r)),
        "",
        md_table(tcav_layer_table(r)) if r.tcav_layers is not None else "",
        "",
        "## X^k MCS series (Fig. 6)",
        "",
        "MCS of each X^k model against X^1.0 on the always-CF class's held-out images with the "
        "CF; TCAV's series is TCAV(f_k) - TCAV(f_1.0). Pearson r is taken with the accuracy "
        "drop on CF removal (first row).",
        "",
        md_table(series_table(r)),
        "",
        "## The paper's findings at this scale",
        "",
        md_table(claims),
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?", default=ROOT / "runs" / "bam16" / "cpu")
    parser.add_argument("--data", type=Path, default=None,
                        help="BAM data folder [default: the one in run.json].")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "bam.md")
    parser.add_argument("--commands", type=Path, default=None,
                        help="Text file of the commands that made the run, one a line "
                             "[default: RUN/commands.txt if present].")
    parser.add_argument("--pilot", type=Path, action="append", default=[],
                        help="An 'attrbench bam verify' folder of f_o / f_s trained on data of "
                             "another image size (repeatable); its commands.txt is shown.")
    args = parser.parse_args(argv)
    run = load_run(args.run, args.data)
    cmd_file = args.commands or args.run / "commands.txt"
    commands = ([c for c in cmd_file.read_text().splitlines() if c.strip()]
                if cmd_file.is_file() else ["(commands.txt missing in the run folder)"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    pilot_commands = tuple(c for p in args.pilot if (p / "commands.txt").is_file()
                           for c in (p / "commands.txt").read_text().splitlines() if c.strip())
    tmp.write_text(render(run, commands, tuple(args.pilot), pilot_commands))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
