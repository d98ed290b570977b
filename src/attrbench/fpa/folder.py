"""Read a finished (or partly finished) results folder for reporting; never computes new results.

A results folder (see :mod:`attrbench.results.store`) holds::

    <root>/config.json                 resolved config + provenance (seed, git revision, versions)
    <root>/shards/*.parquet            tidy curve rows, columns of CURVE_SCHEMA
    <root>/accuracy.json               optional: {augmentation: {"test_accuracy": float,
                                                                 "model": str, ...}}
    <root>/samples/<augmentation>.npz  optional: images (N,C,H,W) in [0, 1], image_ids (N,),
                                       labels (N,), map__<variant> (N,H,W) per variant

Everything the reports show is built from these files only (FPA paper, Sec. 4 and App. C-D).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attrbench.errors import AttrbenchError
from attrbench.results.schema import CURVE_SCHEMA, ORDERS
from attrbench.results.schema import read_curves

__all__ = ["MAP_PREFIX", "ResultsFolder", "SampleSet", "load_results", "load_samples"]

MAP_PREFIX = "map__"
"""Key prefix of a post-processed map in a samples file: ``"map__" + variant``."""


@dataclass(frozen=True)
class SampleSet:
    """Sample images and their maps for one augmentation (the FPA paper's Fig. 5 material).

    Attributes:
        images: ``(N, C, H, W)`` float32 in ``[0, 1]``, for display only.
        image_ids: ``(N,)`` int64 dataset ids.
        labels: ``(N,)`` int64 true classes.
        maps: variant alias -> ``(N, H, W)`` float32 post-processed map.
    """

    images: np.ndarray
    image_ids: np.ndarray
    labels: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultsFolder:
    """Everything stored in a results folder, loaded.

    Attributes:
        root: the folder.
        curves: tidy DataFrame with the columns of ``CURVE_SCHEMA``, one row per
            (model, augmentation, variant, image, order, step).
        provenance: the content of ``config.json`` (``seed``, ``config``, ``git_revision``,
            ``versions``, ...).
        accuracy: ``accuracy.json`` (augmentation -> record), empty if absent.
        samples: augmentation -> :class:`SampleSet`, empty if there is no ``samples/`` folder.
    """

    root: Path
    curves: pd.DataFrame
    provenance: dict[str, Any]
    accuracy: dict[str, dict[str, Any]]
    samples: dict[str, SampleSet]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AttrbenchError(
            f"Cannot read {path} ({err}); rerun the evaluation to rewrite it.") from err


def load_samples(path: str | Path) -> SampleSet:
    """Load one ``samples/<augmentation>.npz`` file and check its shapes.

    Args:
        path: the ``.npz`` file.

    Returns:
        :class:`SampleSet`.

    Raises:
        AttrbenchError: unreadable file, missing keys or inconsistent shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise AttrbenchError(
            f"Cannot read sample file {path} ({err}); rerun the evaluation.") from err
    missing = [k for k in ("images", "image_ids", "labels") if k not in arrays]
    if missing:
        raise AttrbenchError(
            f"Sample file {path} lacks {', '.join(missing)}; rerun the evaluation.")
    images = np.asarray(arrays["images"], dtype=np.float32)
    if images.ndim != 4:
        raise AttrbenchError(f"images in {path} must have shape (N, C, H, W); got {images.shape}.")
    n, _, h, w = images.shape
    ids = np.asarray(arrays["image_ids"]).astype(np.int64).reshape(-1)
    labels = np.asarray(arrays["labels"]).astype(np.int64).reshape(-1)
    if ids.shape[0] != n or labels.shape[0] != n:
        raise AttrbenchError(
            f"{path}: {n} images but {ids.shape[0]} image_ids and {labels.shape[0]} labels.")
    maps: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if not key.startswith(MAP_PREFIX):
            continue
        if value.shape != (n, h, w):
            raise AttrbenchError(
                f"{path}: {key} has shape {value.shape}, expected (N, H, W) = {(n, h, w)}.")
        maps[key[len(MAP_PREFIX):]] = np.asarray(value, dtype=np.float32)
    return SampleSet(images=images, image_ids=ids, labels=labels, maps=maps)


def _read_curves(root: Path) -> pd.DataFrame:
    if not (root / "shards").is_dir():
        return CURVE_SCHEMA.empty_table().to_pandas()
    curves = read_curves(root)
    missing = [c for c in CURVE_SCHEMA.names if c not in curves.columns]
    if missing:
        raise AttrbenchError(
            f"Shards in {root / 'shards'} lack columns {missing}; rerun the evaluation.")
    bad_orders = sorted(set(curves["order"].unique()) - set(ORDERS))
    if bad_orders:
        raise AttrbenchError(
            f"Unknown curve order(s) {bad_orders} in {root}; expected MIF and LIF.")
    return curves


def load_results(root: str | Path) -> ResultsFolder:
    """Load a results folder written by the evaluation runner.

    Args:
        root: the results folder (``--out`` of ``attrbench evaluate`` / ``reproduce fpa``).

    Returns:
        :class:`ResultsFolder`.

    Raises:
        AttrbenchError: the folder is missing, is not a results folder, or holds no curves yet.
    """
    root = Path(root)
    if not root.is_dir():
        raise AttrbenchError(
            f"Results folder {root} does not exist; run `attrbench evaluate` or "
            "`attrbench reproduce fpa` with --out pointing there first.")
    config_file = root / "config.json"
    if not config_file.is_file():
        raise AttrbenchError(
            f"{root} is not an attrbench results folder (no config.json); pass the --out folder "
            "of an evaluation run.")
    prov = _read_json(config_file)
    if not isinstance(prov, dict):
        raise AttrbenchError(f"{config_file} must hold a JSON object; rerun the evaluation.")
    curves = _read_curves(root)
    if curves.empty:
        raise AttrbenchError(
            f"{root} holds no perturbation curves yet (no shards); run or resume the evaluation "
            "before building the report.")
    accuracy: dict[str, dict[str, Any]] = {}
    if (root / "accuracy.json").is_file():
        acc = _read_json(root / "accuracy.json")
        if not isinstance(acc, dict) or not all(isinstance(v, dict) for v in acc.values()):
            raise AttrbenchError(
                f"{root / 'accuracy.json'} must map augmentation -> {{'test_accuracy': ...}}.")
        accuracy = acc
    samples: dict[str, SampleSet] = {}
    if (root / "samples").is_dir():
        for file in sorted((root / "samples").glob("*.npz")):
            samples[file.stem] = load_samples(file)
    return ResultsFolder(root=root, curves=curves, provenance=prov, accuracy=accuracy,
                         samples=samples)
