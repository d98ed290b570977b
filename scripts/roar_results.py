"""Write docs/results/roar.md and docs/results/iteroar.md from ROAR / KAR / IteROAR run folders.

Every number in the two pages is read from the run folders (``tables/*``, ``config.json``,
``train/<key>/history.json``); nothing is typed by hand. Partial runs are fine: the pages say how
many retrains are done, which one is in progress (and at which epoch), and mark each claim
"not yet" until the rows it needs exist.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/roar_results.py \\
        --roar runs/roar16/roar --kar runs/roar16/kar --iteroar runs/roar16/iteroar \\
        --out docs/results

A folder that does not exist is read from its ledger copy instead (``--ledger``, default
``docs/results/ledger/roar16/<name>``, kept by ``scripts/ledger.py``: config, tables and the
command, without the in-progress retrain), so the pages regenerate on any checkout; only if
neither exists is it "not started". The exact command of a run is read from ``<folder>.cmd``
beside it (one shell line, written when the run was started).

"Beyond the repeat spread" (issue 16): at a threshold, an estimator degrades accuracy faster
than random when every one of its repeats is below every repeat of random (ROAR; KAR: above), i.e.
the two ranges do not overlap; the exact permutation test of :mod:`attrbench.roar.compare` is shown
beside it (with 2 repeats per side its smallest p is 0.33, so it cannot be significant).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from attrbench.results import read_table
from attrbench.roar.compare import compare_to_random

RANDOM = "random"
ORIGINAL = "none"

#: Short names of the preset's variants (tables stay narrow); others print in full.
SHORT = {"vanilla_gradient|abs_sum": "VG", "integrated_gradients|abs_sum": "IG",
         "smoothgrad_sq|sum": "SG²", "vargrad|sum": "VarGrad", RANDOM: "random",
         ORIGINAL: "unmodified"}

#: ROAR paper (Hooker et al. 2019): plain estimators are no better than random, the squared
#: ensembles (SmoothGrad², VarGrad) are.
ROAR_EXPECT = {"vanilla_gradient|abs_sum": False, "integrated_gradients|abs_sum": False,
               "smoothgrad_sq|sum": True, "vargrad|sum": True}


def short(variant: str) -> str:
    """Display name of a variant."""
    return SHORT.get(variant, variant)


def markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (all cells as given, index dropped)."""
    if df.empty:
        return "_(no rows yet)_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def minutes(seconds: float) -> str:
    """Seconds as ``"12.3 min"`` or ``"1.5 h"``."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


# ---------------------------------------------------------------------------------- run folders


def read_run(folder: Path, ledger: Path | None = None) -> dict[str, Any] | None:
    """The configuration and tables of one run folder (or, if it does not exist, of its ledger
    copy ``ledger``); None if neither exists."""
    if not (folder / "config.json").exists():
        if ledger is None or not (ledger / "config.json").exists():
            return None
        run = read_run(ledger)
        assert run is not None
        return {**run, "ledger": ledger, "ledger_dir": ledger, "folder": folder}
    config = json.loads((folder / "config.json").read_text())
    cfg = config.get("config", config)
    tables = {}
    for name in ("accuracy", "maps", "maps_recomputed", "overlap", "leakage"):
        try:
            tables[name] = read_table(folder, name)
        except Exception:  # noqa: BLE001 - a table not written yet
            tables[name] = pd.DataFrame()
    cmd_file = folder.with_suffix(".cmd")
    command = cmd_file.read_text().strip() if cmd_file.exists() else None
    return {"folder": folder, "config": cfg, "command": command, **tables,
            "in_progress": in_progress(folder, tables["accuracy"]), "ledger": None,
            "ledger_dir": ledger}


def folder_lines(run: dict[str, Any], ledger: Path | None) -> list[str]:
    """Where the rows are, and how a new checkout resumes the run from the ledger."""
    folder = run["folder"]
    if ledger is None:
        return [f"Folder: `{folder}`", ""]
    source = ("read from its ledger copy (the run folder is not on this machine)"
              if run["ledger"] is not None else "read from the run folder")
    return [f"Folder: `{folder}` ({source}); ledger `{ledger}`. Only git survives from one "
            "working session to the next, so `scripts/ledger.py save` copies the folder's "
            "config, tables and the reference models into the ledger as rows finish "
            "(`scripts/ledger_autosave.sh` commits it every 10 minutes). "
            "To resume on a new checkout:", "", "```",
            f"python scripts/ledger.py restore {ledger} {folder}",
            f"bash {folder}.cmd   # restored beside the folder", "```", "",
            "Before a working session ends (pause the jobs first: `kill -STOP`), a session-end "
            "save keeps the retrain in flight (its `resume.pt`, so it goes on from its last "
            "epoch) and, for IteROAR, the masks of the chain in flight (`--masks-of "
            "<estimator>_r<repeat>`, as in its folder's `masks/`):", "", "```",
            f"python scripts/ledger.py save --session-end {folder} {ledger}"
            + ("   # IteROAR: add --masks-of CHAIN (or auto)" if "iteroar" in str(folder)
               else ""),
            "```", "", "`scripts/roar16_session.sh start` and `end` do both for every run "
            "of issue 16 (set-up, restore, start on a snapshot of `src/`, autosave; pause, "
            "session-end save with `--masks-of auto`, commit).", "",
            "The rows record the SHA-256 of their model and (ROAR) of each estimator's maps; a "
            "resume that would retrain a different reference model is refused, and recomputed "
            "maps are used only if they are the recorded ones or repeat at least 99.9 % of the "
            "removal decisions of a kept probe, so rows measured in different sessions never "
            "mix.", "", LOST, ""]


#: Session 4's rows came from run folders that were lost with its checkout (before the ledger).
LOST = ("History: the partial results published on 2026-12-07 by session 4 (ROAR 16 of 52 "
        "retrains, IteROAR 26 of 153; archived in `docs/results/archive/session4-roar.md` and "
        "`session4-iteroar.md`) came from run folders in `runs/`, which is not in git; they were "
        "lost with that session's checkout, before the ledger existed. Every row on this page "
        "was measured again, from scratch, with the same presets and seeds, on a machine whose "
        "CPU rounds differently (IteROAR's f_0: 57.9 % here, 58.9 % then), so the two sets of "
        "numbers agree only up to that.")


def in_progress(folder: Path, acc: pd.DataFrame) -> list[tuple[str, int, float]]:
    """Retrains with epochs on disk but no accuracy row: ``(key, epochs done, seconds)``."""
    done = set()
    if not acc.empty:
        for row in acc.itertuples(index=False):
            done.add(row_key(row._asdict()))
    out = []
    for hist in sorted((folder / "train").glob("*/history.json")):
        key = hist.parent.name
        if key in done:
            continue
        epochs = json.loads(hist.read_text())
        out.append((key, len(epochs), sum(float(e["seconds"]) for e in epochs)))
    return out


def row_key(row: dict[str, Any]) -> str:
    """The train-folder key of an accuracy row (as the runners name them)."""
    variant = str(row["variant"]).replace("|", "+").replace("/", "-")
    if "iteration" in row:
        if int(row["iteration"]) == 0:
            return f"original_r{int(row['repeat'])}_i0"
        return f"{variant}_r{int(row['repeat'])}_i{int(row['iteration'])}"
    return f"{variant}_t{float(row['threshold']):g}_r{int(row['repeat'])}"


def expected_retrains(cfg: dict[str, Any]) -> int:
    """Retrains of a finished ROAR / KAR run: repeats x (1 + thresholds x variants)."""
    thresholds = [t for t in cfg["thresholds"] if float(t) > 0]
    return int(cfg["repeats"]) * (1 + len(thresholds) * len(cfg["variants"]))


def epochs_of(cfg: dict[str, Any]) -> int:
    """Epochs of each retrain (the resolved training config)."""
    return int(cfg["train"]["epochs"])


# ------------------------------------------------------------------------------------ ROAR / KAR


def accuracy_grid(acc: pd.DataFrame, cfg: dict[str, Any]) -> pd.DataFrame:
    """Variant x threshold: mean ± SD over repeats (n) of the test accuracy, in %."""
    thresholds = [0.0] + sorted(float(t) for t in cfg["thresholds"] if float(t) > 0)
    rows = []
    for variant in [RANDOM] + [v for v in cfg["variants"] if v != RANDOM]:
        if variant not in cfg["variants"]:
            continue
        row = {"estimator": short(variant)}
        for t in thresholds:
            sel = acc[(acc["variant"] == (ORIGINAL if t == 0 else variant))
                      & (acc["threshold"] == t)]["test_accuracy"]
            row[f"t={t:g} %"] = cell(sel)
        rows.append(row)
    return pd.DataFrame(rows)


def cell(values: pd.Series) -> str:
    """``mean ± sd (n)`` in %; ``–`` when empty, no ± with one value."""
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{pct(values.iloc[0])} (1)"
    return f"{pct(values.mean())} ± {pct(values.std(ddof=1))} ({len(values)})"


def separation(acc: pd.DataFrame, keep: bool, repeats: int) -> pd.DataFrame:
    """Per (estimator, threshold) with all ``repeats`` of both sides: ranges and whether they
    separate (ROAR: estimator max < random min; KAR: estimator min > random max), plus the
    exact permutation test of :func:`compare_to_random`."""
    data = acc[acc["variant"] != ORIGINAL]
    if RANDOM not in set(data["variant"]) or data["variant"].nunique() < 2:
        return pd.DataFrame()
    tests = compare_to_random(data)
    rows = []
    for t, unit in data.groupby("threshold"):
        ref = unit.loc[unit["variant"] == RANDOM, "test_accuracy"]
        for variant, cellv in unit[unit["variant"] != RANDOM].groupby("variant"):
            vals = cellv["test_accuracy"]
            complete = len(vals) >= repeats and len(ref) >= repeats
            sep = (vals.max() < ref.min()) if not keep else (vals.min() > ref.max())
            test = tests[(tests["threshold"] == t) & (tests["variant"] == variant)]
            p = float(test["p_perm"].iloc[0]) if len(test) else math.nan
            rows.append({"variant": variant, "threshold": float(t), "complete": complete,
                         "separated": bool(sep) and complete, "n": len(vals), "n_random": len(ref),
                         "diff": float(vals.mean() - ref.mean()), "min": float(vals.min()),
                         "max": float(vals.max()), "random_min": float(ref.min()),
                         "random_max": float(ref.max()), "p_perm": p})
    return pd.DataFrame(rows)


def separation_table(sep: pd.DataFrame) -> pd.DataFrame:
    """Display form of :func:`separation`."""
    if sep.empty:
        return sep
    out = sep.sort_values(["threshold", "variant"], ascending=[False, True])
    return pd.DataFrame({
        "t %": out["threshold"].map(lambda t: f"{t:g}"),
        "estimator": out["variant"].map(short),
        "n / n random": [f"{a} / {b}" for a, b in zip(out["n"], out["n_random"])],
        "estimator − random (pp)": out["diff"].map(lambda d: f"{100 * d:+.1f}"),
        "estimator range %": [f"{pct(a)}–{pct(b)}" for a, b in zip(out["min"], out["max"])],
        "random range %": [f"{pct(a)}–{pct(b)}" for a, b in zip(out["random_min"],
                                                                 out["random_max"])],
        "beyond spread": ["yes" if s else ("no" if c else "not yet")
                          for s, c in zip(out["separated"], out["complete"])],
        "perm. p": out["p_perm"].map(lambda p: "–" if math.isnan(p) else f"{p:.2f}"),
    })


def estimator_verdicts(sep: pd.DataFrame, cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per estimator: thresholds complete, thresholds separated, and whether all are done."""
    n_thr = len([t for t in cfg["thresholds"] if float(t) > 0])
    out = {}
    for variant in cfg["variants"]:
        if variant == RANDOM:
            continue
        part = sep[sep["variant"] == variant] if not sep.empty else sep
        complete = int(part["complete"].sum()) if not part.empty else 0
        separated = int(part["separated"].sum()) if not part.empty else 0
        out[variant] = {"complete": complete, "separated": separated, "of": n_thr,
                        "done": complete == n_thr,
                        "faster": separated > n_thr / 2}
    return out


def roar_claims(roar: dict[str, Any] | None, kar: dict[str, Any] | None) -> pd.DataFrame:
    """The claims table: what the ROAR paper found and whether it holds here."""
    rows = []
    if roar is None:
        return pd.DataFrame([{"claim": "ROAR", "status": "not yet (not started)", "evidence": ""}])
    cfg, acc = roar["config"], roar["accuracy"]
    t0 = (acc[acc["variant"] == ORIGINAL]["test_accuracy"] if not acc.empty
          else pd.Series([], dtype=float))
    reps = int(cfg["repeats"])
    if len(t0) == 0:
        status = "not yet (no unmodified retrain finished)"
    else:
        ok = bool(t0.mean() >= 0.80)
        status = ("holds" if ok else "does not hold") + (
            "" if len(t0) >= reps else f" (so far; {len(t0)} of {reps} repeats)")
    rows.append({"claim": "The unmodified model reaches >= 80 % (issue 16)", "status": status,
                 "evidence": f"t = 0: {cell(t0)} %"})
    sep = separation(acc, False, reps) if not acc.empty else pd.DataFrame()
    verdicts = estimator_verdicts(sep, cfg)
    for variant, expect in ROAR_EXPECT.items():
        if variant not in verdicts:
            continue
        v = verdicts[variant]
        paper = (f"{short(variant)} degrades accuracy faster than random" if expect else
                 f"{short(variant)} is no better than random")
        so_far = (f"faster than random beyond the repeat spread at {v['separated']} of "
                  f"{v['complete']} complete thresholds (of {v['of']})")
        if not v["done"]:
            status = f"not yet ({v['complete']} of {v['of']} thresholds with {reps} repeats)"
        else:
            status = "holds" if v["faster"] == expect else "does not hold"
        rows.append({"claim": f"ROAR paper: {paper}", "status": status, "evidence": so_far})
    if kar is None:
        rows.append({"claim": "KAR beside ROAR", "status": "not yet (not started)",
                     "evidence": ""})
    else:
        kacc, kcfg = kar["accuracy"], kar["config"]
        ksep = separation(kacc, True, int(kcfg["repeats"])) if not kacc.empty else pd.DataFrame()
        kv = estimator_verdicts(ksep, kcfg)
        done = all(v["done"] for v in kv.values()) and bool(kv)
        better = [short(k) for k, v in kv.items() if v["faster"]]
        complete = sum(v["complete"] for v in kv.values())
        total = sum(v["of"] for v in kv.values())
        status = ("not yet" + f" ({complete} of {total} estimator-thresholds complete)"
                  if not done else ("holds" if not better else "does not hold"))
        rows.append({"claim": "ROAR paper (as we read it): KAR discriminates poorly, no "
                              "estimator keeps accuracy clearly above random",
                     "status": status,
                     "evidence": "above random beyond the spread at a majority of thresholds: "
                                 + (", ".join(better) or "none so far")})
    return pd.DataFrame(rows)


def progress_lines(run: dict[str, Any], expected: int) -> list[str]:
    """How far a run is: retrains done, the one in progress, time spent and left."""
    acc, cfg = run["accuracy"], run["config"]
    done = len(acc)
    lines = [f"- Retrains finished: **{done} of {expected}**."]
    secs = acc["seconds"] if not acc.empty else pd.Series([], dtype=float)
    per = float(secs.mean()) if len(secs) else math.nan
    ep = epochs_of(cfg)
    for key, epochs, s in run["in_progress"]:
        lines.append(f"- In progress: `{key}`, {epochs} of {ep} epochs ({minutes(s)} so far).")
        if math.isnan(per) and epochs:
            per = s / epochs * ep
    if len(secs):
        lines.append(f"- Retrain time: {minutes(per)} on average, {minutes(float(secs.sum()))} "
                     "in total (training and evaluation; maps not included).")
    maps = run["maps"]
    if not maps.empty:
        lines.append("- Map computation, first measurement (on the repeat-0 model, "
                     f"{int(maps['images'].iloc[0])} images; repeated in every session that "
                     "uses the estimator, as the cache is not kept): " + ", ".join(
                         f"{short(v)} {minutes(float(s))}"
                         for v, s in zip(maps["variant"], maps["seconds"])) + ".")
    again = run.get("maps_recomputed", pd.DataFrame())
    if not again.empty:
        lines.append("- Maps recomputed on resume and not bit-identical to the first computation "
                     "(another CPU or library build), used because the probe's removal "
                     "decisions agree: " + ", ".join(
                         f"{short(v)} {100 * float(a):.3f} %"
                         for v, a in zip(again["variant"], again["probe_agreement"])) + ".")
    if not math.isnan(per) and expected > done:
        left = per * (expected - done)
        maps_left = maps_left_seconds(run)
        extra = ("" if maps_left is None else
                 f", plus about {minutes(maps_left)} of maps (each estimator with rows left "
                 "computes its maps once more in a later session: measured, or scaled from the "
                 "measured per-gradient rate)")
        lines.append(f"- Estimated time left: about {minutes(left)} of retraining on one "
                     f"core{extra}.")
    return lines


def gradients_per_image(variant: str, params: dict[str, Any]) -> int | None:
    """Input gradients per image of a preset estimator (None for others)."""
    method = variant.partition("|")[0]
    p = params.get(method, {})
    counts = {"vanilla_gradient": 1, "integrated_gradients": p.get("steps", 200),
              "smoothgrad_sq": p.get("n_samples", 15), "vargrad": p.get("n_samples", 15)}
    return counts.get(method)


def maps_left_seconds(run: dict[str, Any]) -> float | None:
    """Seconds of estimator maps still to compute: every estimator with rows left needs its maps
    once more (their cache, 200 MB per estimator, is not in the ledger, so each working session
    recomputes the maps it uses; with ``--order variant`` once per estimator and stretch). A
    measured estimator counts its measured time, an unmeasured one is scaled from the fastest
    measured per-gradient rate."""
    cfg, maps, acc = run["config"], run["maps"], run["accuracy"]
    params = cfg.get("method_params") or {}
    if maps.empty:
        return None
    rates = []
    for v, sec, n in zip(maps["variant"], maps["seconds"], maps["images"]):
        g = gradients_per_image(v, params)
        if g:
            rates.append(float(sec) / (float(n) * g))
    if not rates:
        return None
    images = float(maps["images"].iloc[0])
    measured = dict(zip(maps["variant"], maps["seconds"].astype(float)))
    per_variant = len(cfg["thresholds"]) * int(cfg["repeats"])
    finished = acc["variant"].value_counts() if not acc.empty else pd.Series(dtype=int)
    todo = [v for v in cfg["variants"]
            if v != RANDOM and int(finished.get(v, 0)) < per_variant]
    grads = [gradients_per_image(v, params) for v in todo if v not in measured]
    if any(g is None for g in grads):
        return None
    return (sum(measured[v] for v in todo if v in measured)
            + min(rates) * images * float(sum(grads)))  # type: ignore[arg-type]


def settings_lines(cfg: dict[str, Any]) -> list[str]:
    """The run's resolved settings, from its config.json."""
    train = cfg["train"]
    params = cfg.get("method_params") or {}
    return [
        f"- Data: `{cfg['dataset']}` (root `{cfg.get('data_root')}`), train limit "
        f"{cfg.get('train_limit') or 'all'}, test limit {cfg.get('test_limit') or 'all'}.",
        f"- Model `{cfg['model']}` retrained from scratch: recipe `{cfg['recipe']}`, "
        f"{train['epochs']} epochs, batch {train['batch_size']}, lr {train['lr']} "
        f"({train['schedule']}), wd {train['weight_decay']}, crop pad {train['crop_padding']}, "
        f"flip {train['hflip']}, bf16 autocast {train.get('amp', False)}.",
        f"- Estimators: {', '.join(short(v) + f' (`{v}`)' for v in cfg['variants'])}; "
        f"ranking `{cfg['unit']}`, fill `{cfg['fill']}`; parameters {json.dumps(params)}.",
        f"- Thresholds {', '.join(f'{float(t):g}' for t in cfg.get('thresholds', []))} %; "
        f"{cfg['repeats']} repeats (seed {cfg['seed']} + r).",
    ]


#: What starts KAR (issue 16) once both cores are free, as docs/results/ledger/roar16/kar.cmd:
#: the t = 0 repeat-0 model copied from ROAR's ledger (attrbench.roar.benchmark.data_key), two
#: shards, estimator-major order.
KAR_COMMAND = (
    "cd /work/main && mkdir -p runs/roar16/kar/train && { [ -d runs/roar16/kar/train/none_t0_r0 ] "
    "|| cp -r docs/results/ledger/roar16/roar/train/none_t0_r0 runs/roar16/kar/train/; } && "
    "for k in 0 1; do OMP_NUM_THREADS=1 PYTHONPATH=runs/roar16/snap/src nohup setsid "
    ".venv/bin/attrbench roar --preset cifar --kar --order variant --shard $k/2 --data-root "
    "runs/data --no-report --out runs/roar16/kar >> runs/roar16/kar.log 2>&1 & done")

KAR_PLAN = f"""Plan: KAR runs as two shards of one folder (`--shard 0/2`, `1/2`: each a
contiguous block of the (estimator, threshold) points, estimator-major, so each computes few
estimators' maps), one per core that frees up: shard 0 once IteROAR's repeat-0 chains are
finished (commit the command below with `for k in 0`), shard 1 once ROAR is finished (`for k in
0 1`). ROAR's repeat-0 `t = 0` model is copied in, so KAR ranks by the very maps ROAR used and
that model is not retrained. Committed as `docs/results/ledger/roar16/kar.cmd`,
`scripts/roar16_session.sh start` runs it:

```
{KAR_COMMAND}
```

"""


def roar_page(roar: dict[str, Any] | None, kar: dict[str, Any] | None) -> str:
    """docs/results/roar.md."""
    out = ["# ROAR and KAR on CIFAR-10 (ResNet-20, CPU)", "",
           "Generated by `scripts/roar_results.py` from the run folders; do not edit by hand.",
           "Accuracies are test accuracies (%) of models retrained from scratch on the modified "
           "train split and tested on the modified test split (10,000 images), mean ± SD over "
           "repeats (n). Issue 16 part 2.", ""]
    claims = roar_claims(roar, kar)
    out += ["## Claims", "", markdown(claims),
            "An estimator is *faster than random beyond the repeat spread* at a threshold when "
            "all its repeats lie below all of random's (KAR: above); a claim about an estimator "
            "is decided by the majority of the five thresholds once all have every repeat. With "
            "2 repeats per side the exact permutation test cannot go below p = 0.33, so the "
            "spread rule, not a p-value, decides here.", ""]
    for name, run in (("ROAR", roar), ("KAR", kar)):
        out += [f"## {name}", ""]
        if run is None:
            out += ["Not started."] + ([] if name == "ROAR" else ["", KAR_PLAN])
            out += [""]
            continue
        cfg = run["config"]
        out += ["Command:", "", "```", run["command"] or "(no .cmd file beside the folder)", "```",
                ""] + folder_lines(run, run["ledger_dir"])
        out += settings_lines(cfg) + [""]
        out += progress_lines(run, expected_retrains(cfg)) + [""]
        if run["accuracy"].empty:
            out += ["No retrain finished yet.", ""]
            continue
        out += [f"### {name} test accuracy (%)", "", markdown(accuracy_grid(run["accuracy"], cfg))]
        sep = separation(run["accuracy"], bool(cfg.get("keep")), int(cfg["repeats"]))
        out += [f"### {name}: each estimator against random", "",
                markdown(separation_table(sep))]
    return "\n".join(out)


# ---------------------------------------------------------------------------------- IteROAR


def iteroar_page(run: dict[str, Any] | None, plan: str) -> str:
    """docs/results/iteroar.md: the plan and commands, then whatever the folder holds."""
    out = ["# IteROAR on CIFAR-10 (ResNet-20, CPU)", "",
           "Generated by `scripts/roar_results.py` from the run folder; do not edit by hand. "
           "Issue 16 part 3 (τ = 95, ρ = 0.5, I = 10). As far as we know the first published "
           "IteROAR numbers (the paper is a pre-registered proposal without results).", "",
           plan.strip(), ""]
    claims = []
    if run is None:
        out += ["## Results", "", "Not started.", ""]
        claims = [{"claim": c, "status": "not yet (not started)", "evidence": ""}
                  for c in ITEROAR_CLAIMS]
        return "\n".join(out + ["## Claims", "", markdown(pd.DataFrame(claims))])
    cfg, acc = run["config"], run["accuracy"]
    iters = int(cfg.get("iterations") or 10)
    variants = list(cfg["variants"])
    expected = int(cfg["repeats"]) * (1 + iters * len(variants))
    out += ["## Results", "", "Command:", "", "```", run["command"] or "(no .cmd file)", "```",
            ""] + folder_lines(run, run["ledger_dir"])
    out += settings_lines(cfg) + [f"- τ = {cfg['tau']}, ρ = {cfg['rho']}, I = {iters}, "
                                  f"target {cfg['target']}.", ""]
    out += progress_lines(run, expected) + [""]
    if not acc.empty:
        grid = []
        for variant in variants:
            row = {"estimator": short(variant)}
            for i in range(iters + 1):
                sel = acc[(acc["iteration"] == i)
                          & (acc["variant"] == (ORIGINAL if i == 0 else variant))]
                row[f"i={i}"] = cell(sel["test_accuracy"])
            grid.append(row)
        out += ["### Test accuracy (%) per iteration", "", markdown(pd.DataFrame(grid))]
    ov = run["overlap"]
    if not ov.empty:
        tab = pd.DataFrame({
            "estimator": ov["variant"].map(short), "repeat": ov["repeat"],
            "MMO (px)": ov["mmo"].map(lambda v: f"{v:.1f}"),
            "random MMO": ov["random_mmo"].map(lambda v: f"{v:.1f}"),
            "MAMO (px)": ov["mamo"].map(lambda v: f"{v:.1f}"),
            "random MAMO": ov["random_mamo"].map(lambda v: f"{v:.1f}"),
            "CMA (px)": ov["cma"].map(lambda v: f"{v:.1f}"),
            "random CMA": ov["random_cma"].map(lambda v: f"{v:.1f}"),
            "ρA": (ov["rho"] * ov["area"]).map(lambda v: f"{v:.0f}")})
        out += ["### Mask overlap (test masks; pixels per image)", "", markdown(tab)]
    lk = run["leakage"]
    if not lk.empty:
        tab = pd.DataFrame({
            "estimator": lk["variant"].map(short), "iteration": lk["iteration"],
            "masks": lk["operation"],
            "true labels %": [f"{pct(m)} ± {pct(s)}" for m, s in
                              zip(lk["true_accuracy_mean"], lk["true_accuracy_std"])],
            "shuffled %": [f"{pct(m)} ± {pct(s)}" for m, s in
                           zip(lk["shuffled_accuracy_mean"], lk["shuffled_accuracy_std"])],
            "p": lk["p_value"].map(lambda p: f"{p:.3g}"),
            "leak": lk["flagged"].map(lambda f: "yes" if f else "no")})
        out += ["### Mask-leakage test", "", markdown(tab)]
    claims = iteroar_claims(run)
    return "\n".join(out + ["## Claims", "", markdown(claims)])


ITEROAR_CLAIMS = (
    "Paper's expectation: consecutive masks do not overlap (MMO ≈ 0)",
    "Paper's expectation: a new mask avoids the area occluded so far (MAMO ≈ 0)",
    "Paper's expectation: the masks never overlap (CMA ≈ ρA)",
    "Paper's worry (Sec. 4.7): the masks alone do not reveal the label (no leakage)",
)


def baseline_is_fill(cfg: dict[str, Any]) -> tuple[str, ...]:
    """The variants that can never pick a removed pixel again: path methods whose baseline is
    the fill value. IG's map ``(x - x') * mean gradient`` is exactly 0 where ``x`` was filled
    with ``x'`` (zero fill, baseline 0.0), so its MMO and MAMO are 0 and its CMA ``ρA`` by
    construction, not as evidence for the paper's expectations."""
    if cfg.get("fill") != "zero":
        return ()
    params = cfg.get("method_params", {})
    return tuple(v for v in cfg.get("variants", ()) if v.split("|")[0] == "integrated_gradients"
                 and float(params.get("integrated_gradients", {}).get("baseline", 0.0)) == 0.0)


def iteroar_claims(run: dict[str, Any]) -> pd.DataFrame:
    """The paper's expectations against the finished chains (random masks as the yardstick)."""
    ov, lk = run["overlap"], run["leakage"]
    est = ov[ov["variant"] != RANDOM] if not ov.empty else ov
    trivial = baseline_is_fill(run["config"])
    rows = []
    for claim, col in zip(ITEROAR_CLAIMS[:3], ("mmo", "mamo", "cma")):
        if est.empty:
            rows.append({"claim": claim, "status": "not yet (no finished chain)", "evidence": ""})
            continue
        if col == "cma":
            ok = est["cma"] >= 0.95 * est["rho"] * est["area"]
            ev = ", ".join(f"{short(v)} {c:.0f} of {r * a:.0f} px" for v, c, r, a in
                           zip(est["variant"], est["cma"], est["rho"], est["area"]))
        else:
            # "≈ 0" judged against chance: at most a tenth of the random-mask expectation.
            ok = est[col] <= 0.1 * est[f"random_{col}"]
            ev = ", ".join(f"{short(v)} {m:.1f} px (random {r:.1f})" for v, m, r in
                           zip(est["variant"], est[col], est[f"random_{col}"]))
        if trivial and any(v in trivial for v in est["variant"]):
            ev += (f" ({', '.join(short(v) for v in trivial)}: by construction, its baseline "
                   "being the fill value)")
        rows.append({"claim": claim, "status": f"holds for {int(ok.sum())} of {len(ok)} "
                     "finished chains", "evidence": ev})
    if lk.empty:
        rows.append({"claim": ITEROAR_CLAIMS[3], "status": "not yet (no leakage test run)",
                     "evidence": ""})
    else:
        flagged = lk[lk["flagged"].astype(bool)]
        rows.append({"claim": ITEROAR_CLAIMS[3],
                     "status": f"holds for {len(lk) - len(flagged)} of {len(lk)} tests",
                     "evidence": "leaks: " + (", ".join(
                         f"{short(v)} i={i}" for v, i in zip(flagged["variant"],
                                                             flagged["iteration"])) or "none")})
    return pd.DataFrame(rows)


#: The estimators in the order this run uses: expensive chains first (session 4 had measured the
#: cheap random and VG chains of repeat 0 before its folders were lost).
ITEROAR_ORDER = ("smoothgrad_sq|sum", "vargrad|sum", "integrated_gradients|abs_sum",
                 "vanilla_gradient|abs_sum", "random")

ITEROAR_COMMAND = (
    "cd /work/main && OMP_NUM_THREADS=1 nohup setsid .venv/bin/attrbench iteroar --preset "
    f"cifar-iteroar --method \"{','.join(ITEROAR_ORDER)}\" --leakage --leakage-iteration 0 "
    "--leakage-iteration 4 --leakage-iteration 9 --data-root runs/data --no-report "
    "--out runs/roar16/iteroar >> runs/roar16/iteroar.log 2>&1 &")

PLAN = f"""## Plan and commands

Scale (preset `cifar-iteroar`, `src/attrbench/roar/config.py`): the ROAR model and recipe
(`cifar_resnet20`, `roar-cifar`: 10 epochs, bf16) and the same five estimators with the same
settings, τ = 95, ρ = 0.5, I = 10, zero fill (the paper's x ⊙ m), maps of the predicted class,
on a **stratified 10,000-image train subset** (1,000 per class) and the full 10,000-image test
set, 3 repeats (the paper's ≥ 3). Why the subset: every one of the 10 iterations re-explains every
train and test image, so the full 60,000 would make each chain cost 10 full retrains plus 10 x
60,000 maps; at 10,000 train images a retrain costs about a fifth. The unmodified accuracy at
this size is lower than ROAR's (the table's i = 0 column says how much).

Run order: repeat-major, estimators in the order of `--method`: here SG², VarGrad, IG, VG,
random (the expensive chains first, since session 4 had measured the cheap random and VG chains
of repeat 0; see "History" below), so an interrupted run holds one chain of each estimator of
repeat 0 first. Each chain of repeat 0 is followed at once by the mask-leakage test of its
iterations 0, 4 and 9 (first, middle, last; `--leakage`: a ResNet-20 trained on the masks alone,
3 runs per arm, 5 epochs, true vs shuffled labels), while its masks are on disk, and a chain
counts as finished only once its tests are stored. The masks (about 0.7 MB per iteration) are
not in the ledger while the run goes on; the session-end save below puts those of the chain in
flight there, so a new checkout continues that chain (from its last finished iteration, or the
leakage test) instead of computing it again from f_0. Never more than two heavy jobs on this
machine.

Read IG's overlap with care: its map `(x - x') * mean gradient` with baseline `x' = 0` is
exactly 0 at every pixel a previous iteration filled with 0, so IG can never remove a pixel
twice (MMO = MAMO = 0, CMA = ρA by construction); the claims table says so where it counts IG.

```
{ITEROAR_COMMAND}
echo '{ITEROAR_COMMAND}' > runs/roar16/iteroar.cmd  # the page reads the command from here
echo -10 > /proc/$(pgrep -f "out runs/roar16/iteroar")/autogroup
```

"""


def iteroar_estimate(roar: dict[str, Any] | None) -> str:
    """The IteROAR cost per repeat, estimated from ROAR's measured retrain and map times."""
    if roar is None or roar["accuracy"].empty or roar["maps"].empty:
        return ("Cost estimate: not yet (needs ROAR's measured retrain and map times).")
    per_retrain = float(roar["accuracy"]["seconds"].mean())
    per_image = {v: float(s) / float(n) for v, s, n in
                 zip(roar["maps"]["variant"], roar["maps"]["seconds"], roar["maps"]["images"])}
    variants = list(roar["config"]["variants"])
    retrain = per_retrain * 10_000 / 50_000
    lines = [f"Cost estimate per repeat, from ROAR's measured times on this machine (one retrain "
             f"{minutes(per_retrain)} at 50,000 train images, so about {minutes(retrain)} at "
             "10,000, evaluation on 10,000 test images not scaled):",
             f"- {1 + 10 * len(variants)} retrains: about "
             f"{minutes(retrain * (1 + 10 * len(variants)))}."]
    known = [v for v in variants if v in per_image]
    if known:
        lines.append("- Maps of 20,000 images x 10 iterations: " + ", ".join(
            f"{short(v)} {minutes(per_image[v] * 20_000 * 10)}" for v in known)
            + (" (others not measured yet)." if len(known) < len(variants) - 1 else "."))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write roar.md and iteroar.md; print the paths."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--roar", type=Path, default=Path("runs/roar16/roar"))
    ap.add_argument("--kar", type=Path, default=Path("runs/roar16/kar"))
    ap.add_argument("--iteroar", type=Path, default=Path("runs/roar16/iteroar"))
    ap.add_argument("--ledger", type=Path, default=Path("docs/results/ledger/roar16"),
                    help="folder of the ledger copies <ledger>/{roar,kar,iteroar}")
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args(argv)
    roar, kar, ite = (read_run(folder, args.ledger / name) for name, folder in
                      (("roar", args.roar), ("kar", args.kar), ("iteroar", args.iteroar)))
    plan = PLAN + "\n" + iteroar_estimate(roar) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("roar.md", roar_page(roar, kar)), ("iteroar.md", iteroar_page(ite, plan))):
        path = args.out / name
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
