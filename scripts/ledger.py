"""Keep the small, irreplaceable part of long ROAR / KAR / IteROAR runs under version control.

A run folder of issue 16 holds hours of retraining. Only what lands in git survives from one
working session to the next, and the folder itself is too large to commit (cached maps: ~0.5 GB per
estimator; masks and checkpoints of every retrain). Its *results* are small, and they are all a
resume needs (:mod:`attrbench.roar.benchmark`, :mod:`attrbench.roar.iterative`):

* ``config.json`` (the folder's identity and provenance) and ``tables/**.parquet`` (every finished
  row, each with the SHA-256 of the model it measured; the ``maps`` table with each estimator's
  maps SHA-256);
* ROAR / KAR: ``train/none_t0_r0/`` (about 3.5 MB), the repeat-0 model the maps come from, so the
  maps are recomputed from the same weights and checked against their recorded SHA-256, or,
  if another CPU rounds them differently, against ``probes/*.npz`` (each estimator's maps
  of 128 images, about 0.3 MB: the removal decisions must agree);
  IteROAR: ``train/original_r<r>_i0/``, each repeat's ``f_0``, shared by its chains (retraining
  it on another machine need not give the same weights, and would be refused);
* ``<folder>.cmd`` beside the folder: the command that runs (and resumes) it.

What is left out is recomputed on resume: the cached maps (from the kept model, then checked), an
unfinished retrain (from its first epoch), IteROAR's masks and unfinished chains (computed again
from the kept ``f_0``, in one piece).

Usage (from the repository root)::

    python scripts/ledger.py save runs/roar16/roar docs/results/ledger/roar16/roar
    python scripts/ledger.py restore docs/results/ledger/roar16/roar runs/roar16/roar

``save`` copies the kept files of a live run folder into the ledger (overwriting older copies:
the live folder is the newer); ``restore`` copies the ledger's files into a run folder where they
are missing and never overwrites a live file (it reports those that differ). Both print one line.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
from pathlib import Path

from attrbench.atomic import atomic_path

#: Training folders a resume cannot do without, per benchmark (relative to the run folder).
KEPT_TRAIN = {"roar": ("train/none_t0_r0",), "kar": ("train/none_t0_r0",),
              "iteroar": ("train/original_r*_i0",)}


def benchmark_of(folder: Path) -> str:
    """``roar``, ``kar`` or ``iteroar``, from ``folder/config.json``.

    Raises:
        SystemExit: no config.json, or a benchmark this script does not know.
    """
    path = folder / "config.json"
    if not path.is_file():
        raise SystemExit(f"{folder} has no config.json: not a results folder (or not started).")
    record = json.loads(path.read_text())
    name = record.get("benchmark")
    config = record.get("config", {})
    if name == "roar" and config.get("keep"):
        name = "kar"
    if name not in KEPT_TRAIN:
        raise SystemExit(f"{folder} holds a {name!r} run; the ledger keeps roar, kar and iteroar.")
    return name


def kept_files(folder: Path) -> list[Path]:
    """The files of run folder ``folder`` a resume needs, relative to it, sorted."""
    names = [Path("config.json")]
    names += [p.relative_to(folder) for p in (folder / "tables").rglob("*.parquet")]
    names += [p.relative_to(folder) for p in (folder / "probes").glob("*.npz")]
    for pattern in KEPT_TRAIN[benchmark_of(folder)]:
        for train in sorted(folder.glob(pattern)):
            if finished_training(train):
                names += [p.relative_to(folder) for p in train.iterdir()
                          if p.is_file() and not p.name.startswith(".")]
    return sorted(names)


def finished_training(train: Path) -> bool:
    """True if the training folder ``train`` holds its last epoch (``history.json`` as long as
    ``run.json``'s epochs, and ``resume.pt``); an unfinished one is left out of the ledger, since
    it changes every epoch and a resume retrains it anyway."""
    try:
        epochs = int(json.loads((train / "run.json").read_text())["config"]["epochs"])
        done = len(json.loads((train / "history.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return done >= epochs and (train / "resume.pt").is_file()


def _sidecar(folder: Path) -> Path:
    """``<folder>.cmd``: the command line of the run."""
    return folder.with_name(folder.name + ".cmd")


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (a ledger or run file is never half written)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save(run: Path, ledger: Path) -> tuple[int, int]:
    """Copy the kept files of ``run`` into ``ledger``; returns (copied, unchanged)."""
    copied = unchanged = 0
    files = [(run / f, ledger / f) for f in kept_files(run)]
    if _sidecar(run).is_file():
        files.append((_sidecar(run), _sidecar(ledger)))
    for src, dst in files:
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            unchanged += 1
            continue
        _copy(src, dst)
        copied += 1
    return copied, unchanged


def restore(ledger: Path, run: Path) -> tuple[int, int, list[Path]]:
    """Copy ledger files missing from ``run`` into it; returns (copied, same, differing)."""
    benchmark_of(ledger)  # refuse what is not a ledger of a known benchmark
    copied = same = 0
    differing: list[Path] = []
    files = [(p, run / p.relative_to(ledger)) for p in sorted(ledger.rglob("*"))
             if p.is_file() and not p.name.startswith(".")]
    if _sidecar(ledger).is_file():
        files.append((_sidecar(ledger), _sidecar(run)))
    for src, dst in files:
        if dst.is_file():
            if filecmp.cmp(src, dst, shallow=False):
                same += 1
            else:
                differing.append(dst)
            continue
        _copy(src, dst)
        copied += 1
    return copied, same, differing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="copy a run folder's kept files into the ledger")
    s.add_argument("run", type=Path)
    s.add_argument("ledger", type=Path)
    r = sub.add_parser("restore", help="copy the ledger's files into a run folder where missing")
    r.add_argument("ledger", type=Path)
    r.add_argument("run", type=Path)
    args = ap.parse_args(argv)
    if args.command == "save":
        copied, unchanged = save(args.run, args.ledger)
        print(f"ledger {args.ledger}: {copied} files saved, {unchanged} unchanged")
        return 0
    copied, same, differing = restore(args.ledger, args.run)
    print(f"run {args.run}: {copied} files restored, {same} already there"
          + (f", {len(differing)} differ and were kept as they are (the live folder is newer): "
             + ", ".join(str(p) for p in differing[:5]) if differing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
