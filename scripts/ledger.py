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

At the end of a working session (it may be cut at any time, so leave a margin) ``save
--session-end`` keeps more, so that the next session goes on where this one stopped instead of
starting the retrain or the chain in flight again:

* every unfinished retrain (a training folder without its accuracy row: ``resume.pt`` after its
  last completed epoch, about 3.5 MB); it resumes from that epoch on data rebuilt from the
  recomputed maps, which the probe rule checks as above;
* ``--masks-of CHAIN`` (IteROAR, repeatable, e.g. ``smoothgrad_sq+sum_r0``, or ``auto``: the
  chain of the newest mask file, i.e. the one in flight): that chain's masks
  (about 1.5 MB per iteration at 20,000 images) and the training folders of its iterations
  whose masks are not made yet, so the chain continues from its last iteration and its
  leakage test can still run. A session-end save replaces the ledger's masks and unfinished
  training folders with the ones it names, so a chain's masks leave the ledger (not its
  history) once a later session-end save no longer names it.

Rows a run deletes (a stale IteROAR chain it discards to compute again) leave the ledger too, but
only for a folder made by ``restore`` (it writes ``.ledger-restored``): a save from a folder that
was started empty never deletes anything.

Usage (from the repository root)::

    python scripts/ledger.py save runs/roar16/roar docs/results/ledger/roar16/roar
    python scripts/ledger.py save --session-end --masks-of smoothgrad_sq+sum_r0 \\
        runs/roar16/iteroar docs/results/ledger/roar16/iteroar
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
from attrbench.training.loop import training_finished as finished_training

#: Written into a run folder by :func:`restore`: its rows came from the ledger, so a row missing
#: from it was deleted by the run and may leave the ledger too.
RESTORED = ".ledger-restored"

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


def kept_files(folder: Path, *, session_end: bool = False,
               masks_of: tuple[str, ...] = ()) -> list[Path]:
    """The files of run folder ``folder`` a resume needs, relative to it, sorted.

    Args:
        folder: the run folder.
        session_end: also the unfinished retrains (training folders without their accuracy
            row) and what ``masks_of`` names.
        masks_of: IteROAR chains (``<variant slug>_r<repeat>``) whose masks are kept, with the
            training folders of their iterations whose masks are missing (only with
            ``session_end``).
    """
    names = [Path("config.json")]
    names += [p.relative_to(folder) for p in (folder / "tables").rglob("*.parquet")]
    names += [p.relative_to(folder) for p in (folder / "probes").glob("*.npz")]
    for pattern in KEPT_TRAIN[benchmark_of(folder)]:
        for train in sorted(folder.glob(pattern)):
            if finished_training(train):  # an unfinished one changes every epoch: session end
                names += _files(folder, train)
    if session_end:
        for train in sorted((folder / "train").glob("*")):
            if train.is_dir() and (train / "resume.pt").is_file() and _in_flight(
                    folder, train.name, masks_of):
                names += _files(folder, train)
        for chain in masks_of:
            names += [p.relative_to(folder) for p in (folder / "masks").glob(f"{chain}_i*.npz")]
    return sorted(set(names))


def resolve_chains(folder: Path, masks_of: tuple[str, ...]) -> tuple[str, ...]:
    """``masks_of`` with ``auto`` replaced by the chain in flight: the chain of the newest mask
    file in ``folder/masks`` (a chain makes its first masks before its first retrain, and its
    leakage test runs on them after its last), none if there is no mask."""
    if "auto" not in masks_of:
        return masks_of
    masks = sorted((folder / "masks").glob("*_i*.npz"), key=lambda p: p.stat().st_mtime_ns)
    newest = (masks[-1].stem.rpartition("_i")[0],) if masks else ()
    return tuple(c for c in masks_of if c != "auto") + newest


def _files(folder: Path, sub: Path) -> list[Path]:
    return [p.relative_to(folder) for p in sub.iterdir()
            if p.is_file() and not p.name.startswith(".")]


def _in_flight(folder: Path, key: str, masks_of: tuple[str, ...]) -> bool:
    """True if training folder ``key`` is needed to go on: its retrain has no row yet, or it is
    an iteration of a chain in ``masks_of`` whose masks are not made yet."""
    if not (folder / "tables" / "accuracy" / f"{key}.parquet").is_file():
        return True
    chain, _, iteration = key.rpartition("_i")
    return (chain in masks_of and iteration.isdigit()
            and not (folder / "masks" / f"{key}.npz").is_file())


def _sidecar(folder: Path) -> Path:
    """``<folder>.cmd``: the command line of the run."""
    return folder.with_name(folder.name + ".cmd")


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically (a ledger or run file is never half written)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def save(run: Path, ledger: Path, *, session_end: bool = False,
         masks_of: tuple[str, ...] = ()) -> tuple[int, int]:
    """Copy the kept files of ``run`` into ``ledger``; returns (copied, unchanged).

    See :func:`kept_files` for ``session_end`` and ``masks_of``; :func:`prune` removes what the
    ledger holds beyond them.
    """
    if masks_of and not session_end:
        raise SystemExit("--masks-of belongs to a session-end save: add --session-end.")
    copied = unchanged = 0
    files = [(run / f, ledger / f)
             for f in kept_files(run, session_end=session_end, masks_of=masks_of)]
    if _sidecar(run).is_file():
        files.append((_sidecar(run), _sidecar(ledger)))
    for src, dst in files:
        if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
            unchanged += 1
            continue
        _copy(src, dst)
        copied += 1
    return copied, unchanged


def prune(run: Path, ledger: Path, *, session_end: bool = False,
          masks_of: tuple[str, ...] = ()) -> int:
    """Delete ledger files the run no longer has a use for; returns how many.

    Only for a run folder made by :func:`restore` (else nothing is deleted): table rows missing
    from ``run`` (the run deleted them) and, with ``session_end``, masks and training folders
    outside this save's set. Kept reference models (:data:`KEPT_TRAIN`) are never deleted.
    """
    if not (run / RESTORED).is_file() or not ledger.is_dir():
        return 0
    keep = set(kept_files(run, session_end=session_end, masks_of=masks_of))
    reference = [p.relative_to(ledger) for pattern in KEPT_TRAIN[benchmark_of(ledger)]
                 for p in ledger.glob(pattern)]
    removed = 0
    for path in sorted(ledger.rglob("*")):
        rel = path.relative_to(ledger)
        if not path.is_file() or rel in keep or any(t in rel.parents for t in reference):
            continue
        if rel.parts[0] == "tables" and not (run / rel).exists() or (
                session_end and rel.parts[0] in ("masks", "train")):
            path.unlink()
            removed += 1
    for folder in sorted((p for p in ledger.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


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
    run.mkdir(parents=True, exist_ok=True)
    (run / RESTORED).write_text(f"{ledger}\n")
    return copied, same, differing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save", help="copy a run folder's kept files into the ledger")
    s.add_argument("--session-end", action="store_true",
                   help="also keep unfinished retrains and the masks of --masks-of chains")
    s.add_argument("--masks-of", action="append", default=[], metavar="CHAIN",
                   help="IteROAR chain (e.g. smoothgrad_sq+sum_r0) whose masks are kept; "
                        "'auto': the chain in flight (of the newest mask file)")
    s.add_argument("run", type=Path)
    s.add_argument("ledger", type=Path)
    r = sub.add_parser("restore", help="copy the ledger's files into a run folder where missing")
    r.add_argument("ledger", type=Path)
    r.add_argument("run", type=Path)
    args = ap.parse_args(argv)
    if args.command == "save":
        # 'auto' resolved once, so the save and the prune name the same chains.
        opts = {"session_end": args.session_end,
                "masks_of": resolve_chains(args.run, tuple(args.masks_of))}
        copied, unchanged = save(args.run, args.ledger, **opts)
        removed = prune(args.run, args.ledger, **opts)
        print(f"ledger {args.ledger}: {copied} files saved, {unchanged} unchanged"
              + (f", {removed} removed" if removed else ""))
        return 0
    copied, same, differing = restore(args.ledger, args.run)
    print(f"run {args.run}: {copied} files restored, {same} already there"
          + (f", {len(differing)} differ and were kept as they are (the live folder is newer): "
             + ", ".join(str(p) for p in differing[:5]) if differing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
