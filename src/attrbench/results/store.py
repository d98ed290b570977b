"""A results folder: one identity, named tables of atomically written Parquet shards, side files.

Every benchmark (FPA curves, ROAR / IteROAR accuracies, robustness rows, BAM metrics) writes
through this one store. Layout::

    <root>/config.json                 identity + provenance (seed, git revision, versions) and
                                       the name of the benchmark that wrote the folder
    <root>/tables/<table>/<key>.parquet  one shard of a named table = one unit of work
    <root>/shards/<key>.parquet        the FPA ``curves`` and robustness ``rows`` tables (their
                                       folder before named tables existed; kept so that existing
                                       folders resume and read)
    <root>/<name>                      side files (JSON, bytes), e.g. ``accuracy.json``
    <root>/<folder>/<key><suffix>      per-unit files a benchmark owns (ROAR masks, train runs)

``config.json`` is the folder's identity (:mod:`attrbench.results.identity`): the resolved
config, which includes the model weights' SHA-256 and the dataset, plus (FPA) the count and
fingerprint of the image ids. A rerun with another identity is refused with a message naming
what differs; a rerun on more images whose first ones are this folder's extends it.

Every file is written atomically (temp file + fsync + rename, :mod:`attrbench.atomic`): a shard
that exists is complete, so a run killed at any moment resumes by computing only the missing
shards, and the final table equals an uninterrupted run's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attrbench.atomic import atomic_path, write_bytes_atomic, write_json_atomic
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance
from attrbench.results.identity import (
    differences,
    images_sha256,
    normalise,
    summarise_differences,
)
from attrbench.results.keys import check_key, chunk_suffix

__all__ = ["ImageList", "ResultStore", "Table", "TableSpec", "chunk_suffix", "read_table",
           "recorded_benchmark"]


@dataclass(frozen=True)
class TableSpec:
    """A named table of a results folder.

    Attributes:
        name: the table's name (a key: letters, digits, ``_.=+'-``).
        schema: the columns every shard is written with (pyarrow casts and orders them), or
            None to store a frame's own columns.
        folder: where its shards live, relative to the folder; None = ``tables/<name>``.
        sort: columns that order the rows read back (stable), so that the order does not
            depend on which shard was written first; () = shard-key order.
    """

    name: str
    schema: pa.Schema | None = None
    folder: str | None = None
    sort: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_key(self.name)

    @property
    def where(self) -> str:
        """The shards' folder, relative to the results folder."""
        return self.folder if self.folder is not None else f"tables/{self.name}"


def _spec(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else TableSpec(table)


class Table:
    """One named table of a results folder: shards keyed by a key, read back as one DataFrame.

    Args:
        root: the results folder.
        spec: the table (name, schema, folder, row order).
    """

    def __init__(self, root: str | Path, spec: str | TableSpec) -> None:
        self.root = Path(root)
        self.spec = _spec(spec)
        self.folder = self.root / self.spec.where

    def path(self, key: str) -> Path:
        """The file of shard ``key`` (letters, digits and ``_.=+'-`` only; else ValueError)."""
        return self.folder / f"{check_key(key)}.parquet"

    def has(self, key: str) -> bool:
        """True if shard ``key`` was completely written."""
        return self.path(key).exists()

    def keys(self) -> list[str]:
        """Keys of the shards on disk, sorted."""
        return sorted(f.stem for f in self.folder.glob("*.parquet"))

    def write(self, key: str, rows: pd.DataFrame | Sequence[dict[str, Any]]) -> Path:
        """Atomically write ``rows`` (a DataFrame or a list of row dicts) as shard ``key``.

        With a schema, the frame's schema columns are written in schema order and types.

        Raises:
            AttrbenchError: the folder cannot be written (names what to do).
        """
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        schema = self.spec.schema
        if schema is not None:
            table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        path = self.path(key)
        try:
            with atomic_path(path) as tmp:
                pq.write_table(table, tmp)
        except PermissionError:
            raise _not_writable(self.root) from None
        return path

    def delete(self, key: str) -> None:
        """Remove shard ``key`` if present (to recompute it)."""
        self.path(key).unlink(missing_ok=True)

    def read(self) -> pd.DataFrame:
        """Every shard as one DataFrame (read-only), in the spec's row order.

        Empty: a frame with the schema's columns (or no columns without a schema).

        Raises:
            AttrbenchError: a shard lacks a schema column (written by an older attrbench).
        """
        files = sorted(self.folder.glob("*.parquet"))
        schema = self.spec.schema
        if not files:
            return schema.empty_table().to_pandas() if schema is not None else pd.DataFrame()
        if schema is not None:
            for f in files:
                missing = [n for n in schema.names if n not in pq.read_schema(f).names]
                if missing:
                    raise AttrbenchError(
                        f"{f} was written by an older attrbench (no {', '.join(missing)} "
                        f"column in its {self.spec.name} table); rerun with a new --out folder.")
        frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
        if self.spec.sort:
            frame = frame.sort_values(list(self.spec.sort), kind="stable").reset_index(drop=True)
        return frame


def read_table(root: str | Path, table: str | TableSpec) -> pd.DataFrame:
    """Table ``table`` of the results folder ``root`` as one DataFrame (read-only; see
    :meth:`Table.read`)."""
    return Table(root, table).read()


def recorded_benchmark(root: str | Path) -> str | None:
    """The benchmark recorded in ``root/config.json`` (``"fpa"``, ``"roar"`` ...), or None for
    a folder without one (no ``config.json``, or written before the record existed)."""
    path = Path(root) / "config.json"
    if not path.is_file():
        return None
    value = _read_provenance(path).get("benchmark")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ImageList:
    """The images of a run, in order: part of a results folder's identity.

    Attributes:
        ids: int64 ``(N,)`` image ids, in the order they are evaluated.
        labels: int64 ``(N,)`` labels, or None when unknown without decoding images.
        chunk_size: images per shard; shard keys of chunk ``c`` end in :func:`chunk_suffix`.
            Needed to extend a run (its last chunk may be partial), None if shards are not chunks.
    """

    ids: np.ndarray
    labels: np.ndarray | None = None
    chunk_size: int | None = None

    @property
    def count(self) -> int:
        """Number of images N."""
        return len(self.ids)

    @property
    def sha256(self) -> str:
        """Fingerprint of all ids (and labels)."""
        return self.sha256_of_first(self.count)

    def sha256_of_first(self, n: int) -> str:
        """Fingerprint of the first ``n`` ids (and labels)."""
        labels = None if self.labels is None else self.labels[:n]
        return images_sha256(self.ids[:n], labels)

    def record(self) -> dict[str, Any]:
        """``{"count": N, "sha256": ...}``, as stored in ``config.json``."""
        return {"count": self.count, "sha256": self.sha256}


def _not_writable(root: Path) -> AttrbenchError:
    return AttrbenchError(f"Cannot write to {root} (permission denied); pass an --out folder you "
                          "can write to.")


def _read_provenance(path: Path) -> dict[str, Any]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttrbenchError(f"{path} is unreadable; pass a new --out folder or delete this one "
                             f"to start fresh ({str(exc)[:80]}).") from None
    if not isinstance(stored, dict):
        raise AttrbenchError(f"{path} is not an attrbench config record; pass a new --out folder "
                             "or delete this one to start fresh.")
    return stored


class ResultStore:
    """A results folder bound to one identity, with named tables and atomic side files.

    Args:
        root: the folder (created if missing).
        config: the resolved configuration and identity (JSON-serialisable: methods and resolved
            parameters, seed, model weights' SHA-256, dataset and split ...). A folder written with
            a different one is refused, naming what differs, so results of two settings never mix.
        seed: the run's seed, recorded with the configuration.
        images: the run's images (:class:`ImageList`), or None when ``config`` covers them. A
            folder of the first M of these images (M < N, everything else equal) is extended: the
            shards of its last, partial chunk are dropped (in every table) and the new image list
            recorded. Fewer or other images are refused.
        benchmark: the name of the benchmark writing the folder (``"fpa"``, ``"roar"``,
            ``"iteroar"``, ``"robustness"``, ``"bam"``; see :mod:`attrbench.benchmarks`),
            recorded in ``config.json`` so that ``attrbench report DIR`` knows which report to
            build. Not part of the identity; added to a folder written before the record existed.

    Raises:
        AttrbenchError: a different configuration or other images, ``root`` is a file, or cannot
            be written.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> store = ResultStore(root, {"lr": 0.1}, seed=0, benchmark="demo")
        >>> _ = store.table("scores").write("run0", [{"x": 1.0}])
        >>> store.table("scores").read()["x"].tolist()
        [1.0]
        >>> recorded_benchmark(root)
        'demo'
    """

    def __init__(self, root: str | Path, config: dict[str, Any], seed: int, *,
                 images: ImageList | None = None, benchmark: str | None = None) -> None:
        self.root = Path(root)
        self.config = normalise(config)
        self.images = images
        self.benchmark = benchmark
        config_file = self.root / "config.json"
        if self.root.exists() and not self.root.is_dir():
            raise AttrbenchError(f"--out {self.root} is a file; pass a folder (new or a results "
                                 "folder of the same run).")
        try:
            if config_file.exists():
                stored = _read_provenance(config_file)
                self._check_same(stored.get("config"))
                self._check_images(stored)
                if benchmark is not None and "benchmark" not in stored:
                    self._record({"benchmark": benchmark})
            else:
                self.root.mkdir(parents=True, exist_ok=True)
                self._write_config(seed)
        except PermissionError:
            raise _not_writable(self.root) from None

    def _write_config(self, seed: int) -> None:
        record = provenance(self.config, seed)
        if self.benchmark is not None:
            record["benchmark"] = self.benchmark
        if self.images is not None:
            record["images"] = self.images.record()
        write_json_atomic(self.root / "config.json", record)

    def _record(self, items: dict[str, Any]) -> None:
        """Update top-level entries of ``config.json`` (not the identity), atomically."""
        stored = _read_provenance(self.root / "config.json")
        stored.update(items)
        write_json_atomic(self.root / "config.json", stored)

    def _check_same(self, stored: Any) -> None:
        if stored == self.config:
            return
        old = stored if isinstance(stored, dict) else {}
        keys = sorted(k for k in set(old) | set(self.config) if old.get(k) != self.config.get(k))
        detail = summarise_differences(differences(stored, self.config))
        raise AttrbenchError(
            f"{self.root} holds results of a different configuration (differs in: "
            f"{', '.join(keys)}): {detail}. Pass a new --out folder or delete this one to start "
            "fresh.")

    def _check_images(self, stored: dict[str, Any]) -> None:
        """Same images: resume. More images whose first ones are the stored ones: extend. Else
        refuse."""
        if self.images is None:
            return
        old, new = stored.get("images"), self.images
        if old == new.record():
            return
        fresh = "pass a new --out folder or delete this one to start fresh"
        if not isinstance(old, dict) or not isinstance(old.get("count"), int):
            raise AttrbenchError(
                f"{self.root} was written without a record of its images (by an older attrbench); "
                f"{fresh}.")
        count, digest = old["count"], str(old.get("sha256"))
        if count < new.count and new.chunk_size and new.sha256_of_first(count) == digest:
            self._extend(count)
            return
        if count > new.count:
            raise AttrbenchError(
                f"{self.root} holds {count} images and this run asks for {new.count}; evaluate "
                f"(at least) those {count} images (--num-images {count}) to resume or extend it, "
                f"or {fresh}.")
        raise AttrbenchError(
            f"{self.root} holds results on other images ({count} images, fingerprint "
            f"{digest[:12]}; this run: {new.count} images, fingerprint {new.sha256[:12]}; another "
            f"dataset, split, subset or order); {fresh}.")

    def _extend(self, old_count: int) -> None:
        """Grow a run of ``old_count`` images: drop the shards of its last, partial chunk in every
        table (they hold fewer images than the same chunk of the larger run), then record the new
        image list (in this order, so a crash in between leaves a folder that resumes)."""
        assert self.images is not None and self.images.chunk_size
        partial = chunk_suffix(old_count // self.images.chunk_size)
        if old_count % self.images.chunk_size:
            for folder in (self.root / "shards", *(self.root / "tables").glob("*")):
                for shard in folder.glob(f"*{partial}.parquet"):
                    shard.unlink()
        self._record({"images": self.images.record()})

    def table(self, spec: str | TableSpec) -> Table:
        """The named table ``spec`` (a name, or a :class:`TableSpec` with schema and order)."""
        return Table(self.root, spec)

    def path(self, folder: str, key: str, suffix: str = "") -> Path:
        """``<root>/<folder>/<key><suffix>``: a per-unit file or folder a benchmark owns (ROAR's
        ``masks/<key>.npz``, ``train/<key>/``); ``key`` is checked (ValueError if unsafe)."""
        return self.root / folder / f"{check_key(key)}{suffix}"

    def _side(self, name: str) -> Path:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute():
            raise ValueError(f"invalid side-file name {name!r}")
        for part in parts:
            check_key(part)
        return self.root / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write a JSON side file (e.g. ``accuracy.json``, ``figures/x.json``)."""
        path = self._side(name)
        try:
            write_json_atomic(path, obj)
        except PermissionError:
            raise _not_writable(self.root) from None
        return path

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Atomically write a side file of raw bytes (a CSV copy, a PNG, a ``.pt`` file)."""
        path = self._side(name)
        try:
            write_bytes_atomic(path, data)
        except PermissionError:
            raise _not_writable(self.root) from None
        return path
