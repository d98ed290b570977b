"""Resumable storage of ROAR / IteROAR results: tidy Parquet tables and mask arrays.

Layout of a results folder (configuration refusal from :class:`attrbench.results.ResultStore`)::

    <root>/config.json                   resolved config + provenance
    <root>/tables/<name>/<key>.parquet   one tidy table per unit of work, written atomically
    <root>/masks/<key>.npz               bit-packed removal masks of one iteration (IteROAR)
    <root>/train/<key>/                  the retrained model's run folder (attrbench.training)

A unit of work is (benchmark, variant, threshold or iteration, repeat); a file that exists is
complete (temp file + rename), so an interrupted run resumes by skipping it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from attrbench.atomic import atomic_path
from attrbench.results import ResultStore

_KEY_RE = re.compile(r"^[A-Za-z0-9_.=+'-]+$")


def slug(variant: str) -> str:
    """A file-name-safe form of a variant name (``"vanilla_gradient|abs_sum"`` ->
    ``"vanilla_gradient+abs_sum"``)."""
    return variant.replace("|", "+").replace("/", "-")


class RoarStore:
    """A results folder bound to one resolved configuration.

    Args:
        root: the folder (created if missing).
        config: resolved configuration; a folder written with another one is refused.
        seed: the run's seed.
    """

    def __init__(self, root: str | Path, config: dict[str, Any], seed: int) -> None:
        self.root = Path(root)
        self._store = ResultStore(self.root, config, seed)

    def _path(self, folder: str, key: str, suffix: str) -> Path:
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid key {key!r}")
        return self.root / folder / f"{key}{suffix}"

    def has(self, table: str, key: str) -> bool:
        """True if row group ``key`` of ``table`` was completely written."""
        return self._path(f"tables/{table}", key, ".parquet").exists()

    def write(self, table: str, key: str, rows: list[dict[str, Any]] | pd.DataFrame) -> None:
        """Atomically write ``rows`` as ``tables/<table>/<key>.parquet``."""
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        path = self._path(f"tables/{table}", key, ".parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)

    def read(self, table: str) -> pd.DataFrame:
        """All row groups of ``table`` (empty frame if none), in key order."""
        return read_table(self.root, table)

    def train_dir(self, key: str) -> Path:
        """Run folder of the model retrained for ``key``."""
        return self._path("train", key, "")

    def has_masks(self, key: str) -> bool:
        """True if the masks called ``key`` were completely written."""
        return self._path("masks", key, ".npz").exists()

    def write_masks(self, key: str, **masks: torch.Tensor) -> None:
        """Atomically store bool tensors (e.g. ``train=``, ``test=``) bit-packed in one ``.npz``."""
        path = self._path("masks", key, ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for name, m in masks.items():
            arrays[f"{name}_bits"] = np.packbits(m.cpu().numpy().astype(bool).ravel())
            arrays[f"{name}_shape"] = np.asarray(m.shape, dtype=np.int64)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    def read_masks(self, key: str) -> dict[str, torch.Tensor]:
        """The bool tensors stored by :meth:`write_masks`."""
        return read_masks(self._path("masks", key, ".npz"))


def read_table(root: str | Path, table: str) -> pd.DataFrame:
    """Read ``tables/<table>/*.parquet`` of a results folder (read-only)."""
    files = sorted((Path(root) / "tables" / table).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def read_masks(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a mask ``.npz`` written by :meth:`RoarStore.write_masks` (no pickle)."""
    with np.load(path, allow_pickle=False) as data:
        names = [k[: -len("_bits")] for k in data.files if k.endswith("_bits")]
        out = {}
        for name in names:
            shape = tuple(int(s) for s in data[f"{name}_shape"])
            bits = np.unpackbits(data[f"{name}_bits"], count=int(np.prod(shape)))
            out[name] = torch.from_numpy(bits.astype(bool).reshape(shape))
    return out
