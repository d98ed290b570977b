"""A results folder: one resolved config, many atomically written Parquet shards, resume by skipping.

Layout::

    <root>/config.json        resolved config + provenance (seed, git revision, library versions)
    <root>/shards/<key>.parquet   one shard = one (model, variant, image chunk); written atomically
    <root>/accuracy.json      per-model accuracies (optional)

A shard that exists is complete (it was renamed into place after being fully written), so a run
killed at any moment resumes by computing only the missing shards, and the final table equals an
uninterrupted run's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attrbench.atomic import atomic_path, write_json_atomic
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance
from attrbench.results.schema import CURVE_SCHEMA

_KEY_RE = re.compile(r"^[A-Za-z0-9_.=+'-]+$")


class ResultStore:
    """Resumable results folder bound to one configuration.

    Args:
        root: the folder (created if missing).
        config: the resolved configuration (JSON-serialisable). A folder written with a different
            configuration is refused, so results of two settings are never mixed.
        seed: the run's seed, recorded with the configuration.
    """

    def __init__(self, root: str | Path, config: dict[str, Any], seed: int) -> None:
        self.root = Path(root)
        self.config = json.loads(json.dumps(config, default=str))  # normalise tuples etc.
        config_file = self.root / "config.json"
        if config_file.exists():
            stored = json.loads(config_file.read_text()).get("config")
            if stored != self.config:
                keys = sorted(k for k in set(stored or {}) | set(self.config)
                              if (stored or {}).get(k) != self.config.get(k))
                raise AttrbenchError(
                    f"{self.root} holds results of a different configuration (differs in: "
                    f"{', '.join(keys)}); pass a new --out folder or delete this one to start fresh.")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(config_file, provenance(self.config, seed))
        (self.root / "shards").mkdir(exist_ok=True)

    def shard_path(self, key: str) -> Path:
        """Path of the shard called ``key`` (letters, digits and ``_.=+'-`` only)."""
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid shard key {key!r}")
        return self.root / "shards" / f"{key}.parquet"

    def has_shard(self, key: str) -> bool:
        """True if the shard was completely written before."""
        return self.shard_path(key).exists()

    def write_shard(self, key: str, frame: pd.DataFrame) -> None:
        """Atomically write ``frame`` (columns of :data:`CURVE_SCHEMA`) as shard ``key``."""
        table = pa.Table.from_pandas(frame[CURVE_SCHEMA.names], schema=CURVE_SCHEMA,
                                     preserve_index=False)
        with atomic_path(self.shard_path(key)) as tmp:
            pq.write_table(table, tmp)

    def read_curves(self) -> pd.DataFrame:
        """All shards as one DataFrame; see :func:`read_curves`."""
        return read_curves(self.root)

    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write a JSON side file (e.g. ``accuracy.json``) into the folder."""
        path = self.root / name
        write_json_atomic(path, obj)
        return path


def read_curves(root: str | Path) -> pd.DataFrame:
    """Read every shard of a results folder (read-only), sorted so that the row order does not
    depend on the order in which shards were written."""
    files = sorted((Path(root) / "shards").glob("*.parquet"))
    if not files:
        return CURVE_SCHEMA.empty_table().to_pandas()
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    keys = ["augmentation", "model", "variant", "image_id", "order", "step"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)
