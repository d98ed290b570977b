"""``attrbench reproduce fpa --seeds K``: the FPA experiment over K training seeds.

Each seed is a complete, resumable :func:`~attrbench.fpa.reproduction.reproduce_fpa`
run in its own folder ``<out>/seed-<s>/`` (train none / FPA / Rectangle, evaluate, report). The
summary reads every seed folder that holds curves and writes, at ``<out>``:

    seeds.md          A per (augmentation, estimator): mean over seeds, between-seed SD, two-level
                      bootstrap CI (seeds, then images); Kendall's W of the estimator ranking
    seeds.csv, seed_ranking.csv   the same tables in full

A seed that has not finished yet is named in the summary and left out, so the summary of a
partly run job is still honest.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from attrbench.atomic import write_text_atomic
from attrbench.errors import AttrbenchError
from attrbench.fpa.reproduction import FPAReproductionConfig, reproduce_fpa

__all__ = ["reproduce_fpa_seeds", "seed_folders", "summarise_seeds"]


def seed_folders(cfg: FPAReproductionConfig, out: str | Path, seeds: int) -> dict[int, Path]:
    """Training seed -> its results folder: seeds ``cfg.seed, cfg.seed + 1, ...``."""
    return {cfg.seed + k: Path(out) / f"seed-{cfg.seed + k}" for k in range(seeds)}


def reproduce_fpa_seeds(cfg: FPAReproductionConfig, out: str | Path, seeds: int, *,
                        progress: bool = True) -> dict[str, Path]:
    """Run :func:`reproduce_fpa` once per training seed, then write the seed summary.

    Raises:
        AttrbenchError: ``seeds < 2``, or shipped models (one training seed each) were asked for.
    """
    if seeds < 2:
        raise AttrbenchError(f"--seeds must be >= 2 to measure seed variance, got {seeds}.")
    if cfg.pretrained:
        raise AttrbenchError("--seeds retrains each model per seed; the shipped models have one "
                             "training seed each, so drop --pretrained.")
    for seed, folder in seed_folders(cfg, out, seeds).items():
        reproduce_fpa(dataclasses.replace(cfg, seed=seed), folder, progress=progress)
    return summarise_seeds(out, list(seed_folders(cfg, out, seeds)))


def summarise_seeds(out: str | Path, seeds: list[int]) -> dict[str, Path]:
    """Write ``seeds.md``, ``seeds.csv`` and ``seed_ranking.csv`` from the finished seed folders."""
    from attrbench.fpa.comparisons import seed_summary
    from attrbench.fpa.folder import load_results

    out = Path(out)
    runs, missing = {}, []
    for seed in seeds:
        try:
            runs[seed] = load_results(out / f"seed-{seed}").curves
        except AttrbenchError:
            missing.append(seed)
    if len(runs) < 2:
        raise AttrbenchError(f"not enough data: {len(runs)} finished seed(s) under {out}; "
                             "rerun the command to finish the others.")
    summary = seed_summary(runs)
    table, ranking = summary.table, summary.ranking
    lines = ["# Fidelity A across training seeds", "",
             f"Seeds with results: {', '.join(map(str, sorted(runs)))}"
             + (f"; not finished: {', '.join(map(str, missing))}" if missing else "") + ".",
             "A = mean over seeds of each seed's A; SD between seeds; 95 % CI from a two-level "
             "bootstrap (seeds, then images within each seed).", "",
             "| model | augmentation | estimator | seeds | A | SD between seeds | 95 % CI | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.model} | {r.augmentation} | {r.variant} | {r.seeds} | {r.A:.1f} | "
                     f"{r.between_seed_sd:.1f} | [{r.ci_low:.1f}, {r.ci_high:.1f}] | {r.note} |")
    lines += ["", "Stability of the estimator ranking across seeds (Kendall's W: 1 = every seed "
              "ranks the estimators alike, 0 = no agreement):", "",
              "| model | augmentation | seeds | estimators | W | p | note |",
              "|---|---|---|---|---|---|---|"]
    for r in ranking.itertuples(index=False):
        w = "" if pd.isna(r.kendall_w) else f"{r.kendall_w:.2f}"
        p = "" if pd.isna(r.p) else f"{r.p:.2g}"
        lines.append(f"| {r.model} | {r.augmentation} | {r.seeds} | {r.estimators} | {w} | {p} | "
                     f"{r.note} |")
    paths = {"seeds_md": out / "seeds.md", "seeds_csv": out / "seeds.csv",
             "seed_ranking_csv": out / "seed_ranking.csv"}
    write_text_atomic(paths["seeds_md"], "\n".join(lines) + "\n")
    write_text_atomic(paths["seeds_csv"], table.to_csv(index=False))
    write_text_atomic(paths["seed_ranking_csv"], ranking.to_csv(index=False))
    return paths
