"""ROAR / IteROAR files in the shared results store: variant keys and bit-packed removal masks.

A ROAR, KAR or IteROAR results folder is a :class:`attrbench.results.ResultStore` (identity
refusal, atomic writes)::

    <root>/config.json                   resolved config + provenance (benchmark roar / iteroar)
    <root>/tables/<name>/<key>.parquet   named tables (accuracy, overlap, overlap_samples, leakage)
    <root>/masks/<key>.npz               bit-packed removal masks of one iteration (IteROAR)
    <root>/train/<key>/                  the retrained model's run folder (attrbench.training)

A unit of work is (benchmark, variant, threshold or iteration, repeat); a file that exists is
complete (temp file + rename), so an interrupted run resumes by skipping it. This layout is the
one ROAR folders have always had: existing folders resume.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from attrbench.atomic import atomic_path
from attrbench.errors import AttrbenchError
from attrbench.results import ResultStore
from attrbench.results.shards import wait_for
from attrbench.training.loop import training_finished

#: The folder of the mask files in a results folder.
MASKS = "masks"


def slug(variant: str) -> str:
    """A key-safe form of a variant name (``"vanilla_gradient|abs_sum"`` ->
    ``"vanilla_gradient+abs_sum"``, ``"precomputed:my|sum"`` -> ``"precomputed=my+sum"``); the
    start of every ROAR key (kept as it is: folders written before resume with it)."""
    return variant.replace("|", "+").replace("/", "-").replace(":", "=")


def wait_for_model(store: ResultStore, key: str, what: str, say: Callable[[str], None],
                   poll_s: float) -> None:
    """Wait until shard 0 has trained model ``key``: its ``accuracy`` row and its finished
    training folder (loading a finished folder writes nothing, so another shard may then load
    it; it never trains it). ``what`` completes "waiting for ..." in the message."""
    folder = store.path("train", key)
    wait_for(lambda: store.table("accuracy").has(key) and training_finished(folder), what, say,
             poll_s=poll_s)


def recorded_value(store: ResultStore, table: str, key: str, column: str) -> str | None:
    """``column`` of the first row of shard ``key`` of ``table``; None if the shard or the
    column does not exist (shards written before the column was recorded)."""
    shard = store.table(table)
    if not shard.has(key):
        return None
    frame = pd.read_parquet(shard.path(key))
    if column not in frame.columns or frame.empty or pd.isna(frame[column].iloc[0]):
        return None
    return str(frame[column].iloc[0])


def check_recorded(store: ResultStore, table: str, key: str, column: str, value: str,
                   what: str, remedy: str) -> None:
    """Refuse ``value`` if shard ``key`` of ``table`` recorded another ``column`` (the mixing
    guard of ROAR's reference model and maps and of IteROAR's models).

    A shard without the column (written before it was recorded) is not checked.

    Raises:
        AttrbenchError: naming ``what`` differs, both digests and ``remedy``.
    """
    recorded = recorded_value(store, table, key, column)
    if recorded and recorded != value:
        raise AttrbenchError(
            f"{what} differs from the one this folder's finished rows used ({column} "
            f"{recorded[:12]}... recorded in {store.root}/tables/{table}/{key}.parquet, "
            f"{value[:12]}... now): the CPU, the library versions, the thread count or the code "
            f"changed since. The rows would mix two models or two sets of maps; {remedy}")


def mask_path(store: ResultStore, key: str) -> Path:
    """``<root>/masks/<key>.npz`` (``key`` checked)."""
    return store.path(MASKS, key, ".npz")


def write_masks(store: ResultStore, key: str, **masks: torch.Tensor) -> Path:
    """Atomically store bool tensors (e.g. ``train=``, ``test=``) bit-packed in one ``.npz``."""
    path = mask_path(store, key)
    arrays: dict[str, np.ndarray] = {}
    for name, m in masks.items():
        arrays[f"{name}_bits"] = np.packbits(m.cpu().numpy().astype(bool).ravel())
        arrays[f"{name}_shape"] = np.asarray(m.shape, dtype=np.int64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def read_masks(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a mask ``.npz`` written by :func:`write_masks` (no pickle): ``{name: bool tensor}``."""
    with np.load(path, allow_pickle=False) as data:
        names = [k[: -len("_bits")] for k in data.files if k.endswith("_bits")]
        out = {}
        for name in names:
            shape = tuple(int(s) for s in data[f"{name}_shape"])
            bits = np.unpackbits(data[f"{name}_bits"], count=int(np.prod(shape)))
            out[name] = torch.from_numpy(bits.astype(bool).reshape(shape))
    return out
