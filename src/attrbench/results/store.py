"""A results folder: one resolved config, many atomically written Parquet shards, resume by skipping.

Layout::

    <root>/config.json        resolved config + provenance (seed, git revision, library versions)
    <root>/shards/<key>.parquet   one shard = one (model, variant, image chunk); written atomically
    <root>/accuracy.json      per-model accuracies (optional)

``config.json`` is the folder's identity (:mod:`attrbench.results.identity`): the resolved config,
which includes the model weights' SHA-256 and the dataset, plus the count and fingerprint of the
image ids. A rerun with another identity is refused with a message naming what differs; a rerun
on more images whose first ones are this folder's extends it.

A shard that exists is complete (it was renamed into place after being fully written), so a run
killed at any moment resumes by computing only the missing shards, and the final table equals an
uninterrupted run's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from attrbench.atomic import atomic_path, write_json_atomic
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance
from attrbench.results.identity import (
    differences,
    images_sha256,
    normalise,
    summarise_differences,
)
from attrbench.results.schema import CURVE_SCHEMA

_KEY_RE = re.compile(r"^[A-Za-z0-9_.=+'-]+$")


def chunk_suffix(chunk: int) -> str:
    """The end of every shard key of image chunk ``chunk`` (``"__chunk00003"``)."""
    return f"__chunk{chunk:05d}"


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
        raise AttrbenchError(f"{path} is unreadable ({str(exc)[:80]}); pass a new --out folder or "
                             "delete this one to start fresh.") from None
    if not isinstance(stored, dict):
        raise AttrbenchError(f"{path} is not an attrbench config record; pass a new --out folder "
                             "or delete this one to start fresh.")
    return stored


class ResultStore:
    """Resumable results folder bound to one configuration.

    Args:
        root: the folder (created if missing).
        config: the resolved configuration and identity (JSON-serialisable: methods and resolved
            parameters, seed, model weights' SHA-256, dataset and split ...). A folder written with
            a different one is refused, naming what differs, so results of two settings never mix.
        seed: the run's seed, recorded with the configuration.
        images: the run's images (:class:`ImageList`), or None when ``config`` covers them. A
            folder of the first M of these images (M < N, everything else equal) is extended: the
            shards of its last, partial chunk are dropped and the new image list recorded. Fewer
            or other images are refused.

    Raises:
        AttrbenchError: a different configuration or other images, ``root`` is a file, or cannot
            be written.
    """

    def __init__(self, root: str | Path, config: dict[str, Any], seed: int, *,
                 images: ImageList | None = None) -> None:
        self.root = Path(root)
        self.config = normalise(config)
        self.images = images
        config_file = self.root / "config.json"
        if self.root.exists() and not self.root.is_dir():
            raise AttrbenchError(f"--out {self.root} is a file; pass a folder (new or a results "
                                 "folder of the same run).")
        try:
            if config_file.exists():
                stored = _read_provenance(config_file)
                self._check_same(stored.get("config"))
                self._check_images(stored)
            else:
                self.root.mkdir(parents=True, exist_ok=True)
                self._write_config(seed)
            (self.root / "shards").mkdir(exist_ok=True)
        except PermissionError:
            raise _not_writable(self.root) from None

    def _write_config(self, seed: int) -> None:
        record = provenance(self.config, seed)
        if self.images is not None:
            record["images"] = self.images.record()
        write_json_atomic(self.root / "config.json", record)

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
        """Grow a run of ``old_count`` images: drop the shards of its last, partial chunk (they hold
        fewer images than the same chunk of the larger run), then record the new image list."""
        assert self.images is not None and self.images.chunk_size
        partial = chunk_suffix(old_count // self.images.chunk_size)
        if old_count % self.images.chunk_size:
            for shard in (self.root / "shards").glob(f"*{partial}.parquet"):
                shard.unlink()
        stored = _read_provenance(self.root / "config.json")
        stored["images"] = self.images.record()
        write_json_atomic(self.root / "config.json", stored)

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
        try:
            with atomic_path(self.shard_path(key)) as tmp:
                pq.write_table(table, tmp)
        except PermissionError:
            raise _not_writable(self.root) from None

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
