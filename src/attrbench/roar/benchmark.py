"""ROAR and KAR: remove (or keep) the top t % of features, retrain from scratch, measure accuracy.

Hooker et al., "A Benchmark for Interpretability Methods in Deep Neural Networks" (NeurIPS 2019);
reference code read in ``papers/NOTES.md`` §3. The importance maps are computed once, on the model
trained on the unmodified data (repeat 0), for the class it predicts. For every variant (and the
random baseline), threshold ``t`` and repeat ``r`` the train *and* test splits are modified
(:mod:`attrbench.roar.removal`) and the model is retrained from scratch with seed ``seed + r``; the
test accuracy of the retrained model is one row of the ``accuracy`` table. ``t = 0`` (the
unmodified data) is trained once per repeat and shared by all variants; its data being the same
for ROAR and KAR, a KAR folder reuses a ROAR folder's ``t = 0`` training folders copied into it
(:func:`data_key`), and with them the maps ROAR ranked by.

Run order (:func:`run_order`): the ``t = 0`` retrain of every repeat first, then
``order="threshold"`` (the default, so that an interrupted run has the most informative rows
first): the thresholds in :func:`informative_order` (90, 50, 10, 70, 30 for the paper's five),
and at each threshold every variant (the random baseline first) with all its repeats before the
next threshold, so a threshold's comparison with random, repeat spread included, is complete
before the next one starts. ``order="variant"`` runs all thresholds (informative order) of one
variant before the next variant: the fewest map computations for a run that spans sessions
whose ``maps/`` cache does not survive (each variant's maps are needed in one stretch instead of
once per threshold); the rows are the same either way, so the order is not part of a folder's
identity. Each variant's maps are computed once, on first use, and cached in
``maps/<variant>_<model digest>.npz`` (atomic; keyed by the variant and the SHA-256 of the
repeat-0 model's weights), so a resumed run never recomputes them while that cache is there;
their cost is the ``maps`` table.

Sharded (``run_roar(shard=(K, N))``, ``attrbench roar --shard K/N``, :mod:`attrbench.results.
shards`): the (variant, threshold) points, listed variant-major whatever ``order`` says, are cut
into N contiguous blocks and shard K retrains block K (all repeats of each point), so a shard
needs the maps of few estimators. Shard 0 also trains every ``t = 0`` row; the others wait for
its repeat-0 model (its row and finished training folder) before they compute maps. Shards share
one folder (every row, map and training folder is its own atomically written file) and may run
on different machines over a shared filesystem.

Precomputed maps (``run_roar(maps=)``, :mod:`attrbench.roar.precomputed`) rank like one more
variant each, after the configured ones; they must come from a model trained on the unmodified
data, and their SHA-256 is part of the folder's identity.

Resumable per (variant, threshold, repeat): a finished row is skipped, an interrupted retrain
resumes after its last epoch (:func:`attrbench.training.train`). A finished row needs nothing else
on disk, so a folder reduced to ``config.json``, ``tables/`` and ``train/none_t0_r0/`` (the
repeat-0 model the maps come from; ``scripts/ledger.py`` keeps such a copy under version control)
resumes where it stopped. Mixing guards: every row records the SHA-256 of the model it measured,
the ``maps`` table the SHA-256 of each variant's maps; a retrained repeat-0 model that differs
from the recorded one is refused. Recomputed maps (the cache is not kept) may differ in the last
float bits on another CPU; they are accepted only if they make the same removal decisions as the
recorded ones on a probe (the maps of the first :data:`PROBE_IMAGES` train and test images,
``probes/<variant>_<digest>.npz``, kept by the ledger): at least :data:`MIN_AGREEMENT` of
the probe's (image, feature, threshold) decisions, recorded in the ``maps_recomputed`` table;
otherwise, or without a probe, they are refused, so the rows of one folder always come from one
model and, up to float rounding that moves no decision beyond that bound, one set of maps.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from attrbench.atomic import atomic_path
from attrbench.errors import AttrbenchError
from attrbench.results import ResultStore
from attrbench.results.identity import state_dict_sha256
from attrbench.results.shards import block_shard, check_shard
from attrbench.roar.config import RetrainConfig
from attrbench.roar.precomputed import given_maps
from attrbench.roar.removal import (channel_means, check_choice, check_thresholds, fill_removed,
                                    removal_masks)
from attrbench.roar.scores import RANDOM, split_scores
from attrbench.roar.store import check_recorded, recorded_value, slug, wait_for_model
from attrbench.roar.tensor_data import (MEMORY_PREFIX, TensorImageDataset, dataset_tensors,
                                       train_on_tensors)
from attrbench.runtime import resolve_device
from attrbench.training.user_model import ModelSource, fresh_copies
from attrbench.training import TrainResult

ORIGINAL = "none"

#: Images per split whose maps are kept as the probe that recomputed maps are checked against.
PROBE_IMAGES = 64

#: Run orders of :func:`run_order`.
ORDERS = ("threshold", "variant")

#: Share of the probe's removal decisions recomputed maps must repeat to be used (0.1 % may flip:
#: float rounding of near-tied scores at a threshold's boundary).
MIN_AGREEMENT = 0.999


@dataclass(frozen=True)
class RoarConfig(RetrainConfig):
    """ROAR / KAR settings (see :class:`RetrainConfig` for the shared fields).

    Attributes:
        thresholds: percentages ``t`` of features removed (ROAR) or of the least important
            features removed (KAR), each in (0, 100); ``t = 0`` is always run as the reference.
        keep: KAR instead of ROAR.
        order: ``"threshold"`` (threshold-major, most informative rows first) or
            ``"variant"`` (variant-major, fewest map computations); see :func:`run_order`.
            Not part of a folder's identity.
    """

    thresholds: tuple[float, ...] = (10.0, 30.0, 50.0, 70.0, 90.0)
    keep: bool = False
    order: str = "threshold"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "thresholds",
                           tuple(t for t in check_thresholds(self.thresholds) if t > 0))
        check_choice("order", self.order, ORDERS)

    def identity(self, model: ModelSource | None = None) -> dict[str, Any]:
        """As :meth:`RetrainConfig.identity`, without ``order`` (it changes when rows are
        trained, not what they are)."""
        out = super().identity(model)
        out.pop("order")
        return out

    @property
    def benchmark(self) -> str:
        """``"kar"`` or ``"roar"``."""
        return "kar" if self.keep else "roar"


def _split(ds: Any, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor) -> TensorImageDataset:
    return TensorImageDataset(ds.spec, ds.split, x, y, ids)


def _row(cfg: RoarConfig, variant: str, t: float, r: int, result: TrainResult, removed: float,
         seconds: float) -> dict[str, Any]:
    last = result.history[-1]
    return {"benchmark": cfg.benchmark, "variant": variant, "unit": cfg.unit, "fill": cfg.fill,
            "threshold": float(t), "repeat": r, "seed": cfg.seed + r,
            "test_accuracy": float(result.test_accuracy),
            "train_accuracy": float(last["train_accuracy"]), "removed_fraction": removed,
            "epochs": int(last["epoch"]), "seconds": seconds,
            "model_sha256": state_dict_sha256(result.model)}


def informative_order(thresholds: Sequence[float]) -> list[float]:
    """The thresholds in the order that tells most when a run stops early.

    The largest first (where estimators differ most), then the middle, the smallest, and then
    the midpoints of the remaining gaps, upper gap first: ``(10, 30, 50, 70, 90)`` ->
    ``[90, 50, 10, 70, 30]``. A permutation of ``thresholds`` (duplicates dropped).
    """
    ts = sorted(set(float(t) for t in thresholds))
    if not ts:
        return []
    order = [ts[-1]]
    rest = ts[:-1]
    if rest:
        mid = len(rest) // 2
        order.append(rest[mid])
        gaps = [rest[mid + 1:], rest[:mid]]  # upper gap first
        if rest[:mid]:
            order.append(rest[0])
            gaps = [rest[mid + 1:], rest[1:mid]]
        while gaps:
            gap = gaps.pop(0)
            if not gap:
                continue
            m = len(gap) // 2
            order.append(gap[m])
            gaps += [gap[m + 1:], gap[:m]]
    return order


def data_key(cfg: RoarConfig, folder: Path, key: str, variant: str) -> str:
    """The name a retrain's data is recorded under in its ``run.json`` (a training folder is
    resumed only with the same name).

    ``"<benchmark>/<key>"``, except the ``t = 0`` rows: their data, seed and recipe are the same
    for ROAR and KAR, so both name them ``"roar/<key>"`` and a KAR folder can reuse a ROAR
    folder's ``train/none_t0_r*`` (copy them in before its first run: no retrain, and the same
    repeat-0 model gives KAR the very maps ROAR ranked by). A KAR folder whose ``t = 0`` training
    was started under ``"kar/<key>"`` (before session 7 of wave 2) keeps that name.
    """
    if variant != ORIGINAL:
        return f"{cfg.benchmark}/{key}"
    legacy = f"{cfg.benchmark}/{key}"
    try:
        recorded = json.loads((folder / "run.json").read_text())["config"]["dataset"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    return legacy if recorded == MEMORY_PREFIX + legacy else f"roar/{key}"


def run_order(thresholds: Sequence[float], variants: Sequence[str],
              order: str = "threshold") -> list[tuple[str, float]]:
    """The (variant, threshold) points of a run in the order they are retrained.

    ``"threshold"``: for each threshold of :func:`informative_order`, every variant in the given
    order; ``"variant"``: for each variant, every threshold of :func:`informative_order`. Both
    are permutations of the same points.
    """
    ts = informative_order(thresholds)
    if order == "variant":
        return [(v, t) for v in variants for t in ts]
    check_choice("order", order, ORDERS)
    return [(v, t) for t in ts for v in variants]


def _lossless(scores: torch.Tensor) -> np.ndarray:
    """float32 if that holds ``scores`` exactly (maps computed in float32), else float64."""
    single = scores.float()
    return (single.numpy() if torch.equal(single.double(), scores)
            else scores.double().numpy())


def maps_sha256(arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 of a variant's maps as cached (each split's dtype, shape and bytes, in order)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def cached_split_scores(store: ResultStore, cfg: RoarConfig, model: nn.Module, digest: str,
                        variant: str, splits: Sequence[torch.Tensor],
                        device: torch.device) -> tuple[list[torch.Tensor], float | None, str]:
    """The maps of ``variant`` on ``model`` for the train and test images (float64, CPU).

    Computed with :func:`split_scores` (seed ``cfg.seed`` for train, ``+ 1`` for test) and cached
    atomically in ``maps/<variant>_<digest[:16]>.npz`` (no pickle); the random baseline is cheap
    and never cached. Returns the scores, the seconds spent computing them (None if read) and
    their :func:`maps_sha256` ("" for the random baseline).
    """
    if variant == RANDOM:
        return [split_scores(model, x, variant, cfg.unit, seed=cfg.seed + offset)
                for offset, x in enumerate(splits)], None, ""
    path = store.path("maps", f"{slug(variant)}_{digest[:16]}", ".npz")
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            arrays = [data[f"split{i}"] for i in range(len(splits))]
        return [torch.from_numpy(a).double() for a in arrays], None, maps_sha256(arrays)
    t0 = time.perf_counter()
    scores = [split_scores(model, x, variant, cfg.unit, seed=cfg.seed + offset,
                           batch_size=cfg.batch_maps, device=device,
                           params=cfg.params_of(variant))
              for offset, x in enumerate(splits)]
    seconds = time.perf_counter() - t0
    arrays = [_lossless(s) for s in scores]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{f"split{i}": a for i, a in enumerate(arrays)})
    return scores, seconds, maps_sha256(arrays)


def probe_path(store: ResultStore, variant: str, digest: str) -> Path:
    """``probes/<variant>_<digest[:16]>.npz``: the probe of a variant's maps (beside, not in,
    the ``maps/`` cache, which the ledger leaves out)."""
    return store.path("probes", f"{slug(variant)}_{digest[:16]}", ".npz")


def write_probe(store: ResultStore, variant: str, digest: str,
                scores: Sequence[torch.Tensor]) -> None:
    """Keep the maps of the first :data:`PROBE_IMAGES` images of each split (as cached)."""
    path = probe_path(store, variant, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{f"split{i}": _lossless(s[:PROBE_IMAGES])
                                   for i, s in enumerate(scores)})


def probe_agreement(store: ResultStore, cfg: RoarConfig, variant: str, digest: str,
                    scores: Sequence[torch.Tensor]) -> float | None:
    """Share of the probe's removal decisions (every image, feature and threshold of the run)
    that ``scores`` repeat; None if the folder holds no probe."""
    path = probe_path(store, variant, digest)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        probe = [torch.from_numpy(data[f"split{i}"]).double() for i in range(len(scores))]
    same = total = 0
    for old, new in zip(probe, scores):
        for t in cfg.thresholds:
            a = removal_masks(old, t, keep=cfg.keep)
            b = removal_masks(new[:len(old)], t, keep=cfg.keep)
            same += int((a == b).sum())
            total += a.numel()
    return same / total if total else 1.0


def _check_maps(store: ResultStore, cfg: RoarConfig, variant: str, digest: str,
                scores: Sequence[torch.Tensor], sha: str, say: Callable[[str], None]) -> None:
    """Accept ``variant``'s maps if they are the recorded ones, or repeat the probe's decisions.

    Raises:
        AttrbenchError: other maps than the recorded ones and no probe, or a probe agreement
            below :data:`MIN_AGREEMENT`.
    """
    recorded = recorded_value(store, "maps", slug(variant), "maps_sha256")
    if not recorded or recorded == sha:
        return
    remedy = (f"delete its rows (tables/accuracy/{slug(variant)}_*) to measure it again with "
              "these maps, or start a new folder.")
    agreement = probe_agreement(store, cfg, variant, digest, scores)
    if agreement is None:
        # No probe: only the recorded maps themselves will do, so this refuses.
        check_recorded(store, "maps", slug(variant), "maps_sha256", sha,
                       f"The recomputed maps of {variant} (and the folder keeps no probe)", remedy)
    assert agreement is not None
    if agreement < MIN_AGREEMENT:
        raise AttrbenchError(
            f"The recomputed maps of {variant} make other removal decisions than the ones this "
            f"folder's finished rows used: {100 * agreement:.3f} % of the probe's decisions "
            f"agree, fewer than {100 * MIN_AGREEMENT:.1f} % (maps_sha256 {recorded[:12]}... "
            f"recorded, {sha[:12]}... now). The code or the estimator changed since; {remedy}")
    store.table("maps_recomputed").write(f"{slug(variant)}_{sha[:16]}", [{
        "variant": variant, "recorded_sha256": recorded, "maps_sha256": sha,
        "probe_agreement": agreement, "probe_images": PROBE_IMAGES}])
    say(f"maps {variant}: recomputed; not bit-identical to the recorded ones (another CPU or "
        f"library build) but {100 * agreement:.4f} % of the probe's removal decisions agree, "
        "so the finished rows stand")


def run_roar(cfg: RoarConfig, out: str | Path, *, progress: bool = False,
             log: Callable[[str], None] | None = None,
             model: ModelSource | None = None,
             maps: Mapping[str, Any] | None = None, shard: tuple[int, int] | None = None,
             poll_s: float = 30.0) -> pd.DataFrame:
    """Run (or resume) ROAR / KAR and return the tidy ``accuracy`` table.

    Args:
        cfg: the benchmark settings.
        out: results folder (refused if it holds another configuration).
        progress: training progress bars.
        log: called with one line per finished retrain (e.g. ``print``).
        model: retrain this instead of ``cfg.model``: a builder ``callable(num_classes) ->
            nn.Module`` (called after each retrain's seed is set), or an ``nn.Module`` template
            that every retrain deep-copies and re-initialises with ``reset_parameters()`` under
            its seed (:func:`~attrbench.training.user_model.fresh_copies`): each retrain starts
            from fresh weights of its own seed, as with a registered model.
        maps: precomputed maps ranked like variants (after ``cfg.variants``):
            ``{"label" or "label|chain": {"train": values, "test": values}}``, arrays aligned
            with the unlimited split's positions or ``{image_id: map}``
            (:mod:`attrbench.roar.precomputed`). They must be attributions of a model trained on
            the unmodified data, for the class it predicts, as ROAR's own maps are; their
            SHA-256 binds the folder. Checked before anything is trained.
        shard: ``(K, N)``: retrain only block K of N (see the module docstring); ``None``
            retrains everything.
        poll_s: seconds between checks while a shard waits for shard 0's repeat-0 model.

    Returns:
        One row per (variant, threshold, repeat): ``benchmark, variant, unit, fill, threshold,
        repeat, seed, test_accuracy, train_accuracy, removed_fraction, epochs, seconds``
        (accuracies as fractions in [0, 1]); ``variant == "none"`` rows are ``t = 0``. All rows
        on disk, other shards' included; ``attrs["missing_rows"]`` counts the rows not there
        yet.
    """
    train_ds, test_ds = cfg.load_split("train"), cfg.load_split("test")
    xtr, ytr, idtr = dataset_tensors(train_ds)
    xte, yte, idte = dataset_tensors(test_ds)
    given = given_maps(cfg, maps, (train_ds, test_ds), (xtr, xte))
    identity = cfg.identity(model)
    if given:  # a folder without maps keeps the identity it always had
        identity["maps"] = {name: g.record for name, g in given.items()}
    store = ResultStore(out, identity, cfg.seed, benchmark="roar")
    accuracy = store.table("accuracy")
    say = log or (lambda _msg: None)
    build = None if model is None else fresh_copies(model)
    base = cfg.train_config()
    device = resolve_device(cfg.device)
    mean = channel_means(xtr)

    def retrain(key: str, variant: str, t: float, r: int, xa: torch.Tensor, xb: torch.Tensor,
                removed: float) -> TrainResult:
        t0 = time.perf_counter()
        result = train_on_tensors(base, _split(train_ds, xa, ytr, idtr),
                                  _split(test_ds, xb, yte, idte), store.path("train", key),
                                  key=data_key(cfg, store.path("train", key), key, variant),
                                  seed=cfg.seed + r, progress=progress, model=build)
        if not accuracy.has(key):
            accuracy.write(key, [_row(cfg, variant, t, r, result, removed,
                                               time.perf_counter() - t0)])
            say(f"{cfg.benchmark} {variant} t={t:g} repeat {r}: "
                f"test accuracy {result.test_accuracy:.3f}")
        return result

    maps = store.table("maps")
    original: nn.Module | None = None
    digest = ""
    current: tuple[str, list[torch.Tensor]] | None = None  # one variant's maps in memory
    variants = (*cfg.variants, *given)
    part = None if shard is None else check_shard(*shard)
    blocks = run_order(cfg.thresholds, variants, "variant")  # shard blocks ignore cfg.order

    mine = {p for i, p in enumerate(blocks)
            if part is None or block_shard(i, len(blocks), part[1]) == part[0]}

    def rows_left(points: Sequence[tuple[str, float]] | set[tuple[str, float]]) -> bool:
        return any(not accuracy.has(f"{slug(v)}_t{t:g}_r{r}") for v, t in points
                   for r in range(cfg.repeats))

    lead = part is None or part[0] == 0  # trains the t = 0 rows, repeat 0's for every shard
    pending = rows_left(blocks if lead else mine)
    for r in range(cfg.repeats):
        key = f"{ORIGINAL}_t0_r{r}"
        if (accuracy.has(key) and (r > 0 or not pending)) or (r > 0 and not lead):
            continue  # a finished row needs nothing else; only repeat 0's model makes maps
        if not lead:
            assert part is not None
            wait_for_model(store, key, f"shard 0 of {part[1]} to train {key}, the model the "
                           "maps come from", say, poll_s)
        result = retrain(key, ORIGINAL, 0.0, r, xtr, xte, 0.0)
        if r == 0:
            original = result.model
            digest = state_dict_sha256(original)
            check_recorded(store, "accuracy", key, "model_sha256", digest,
                           "The retrained repeat-0 model (the one the maps come from)",
                           f"restore its training folder {store.path('train', key)} or start "
                           "a new results folder.")
    for variant, t in run_order(cfg.thresholds, variants, cfg.order):
        if (variant, t) not in mine:
            continue
        todo = [r for r in range(cfg.repeats)
                if not accuracy.has(f"{slug(variant)}_t{t:g}_r{r}")]
        if not todo:
            continue
        if variant in given:
            current = (variant, list(given[variant].scores))
        elif current is None or current[0] != variant:
            assert original is not None  # pending rows retrain repeat 0 above
            current = None  # free the previous variant's maps first
            scores, seconds, sha = cached_split_scores(store, cfg, original, digest, variant,
                                                       (xtr, xte), device)
            current = (variant, scores)
            if sha:
                _check_maps(store, cfg, variant, digest, scores, sha, say)
                if not probe_path(store, variant, digest).exists():
                    write_probe(store, variant, digest, scores)
            if seconds is not None and not maps.has(slug(variant)):
                maps.write(slug(variant), [{
                    "variant": variant, "model_sha256": digest, "seconds": seconds,
                    "images": len(xtr) + len(xte),
                    "params": str(cfg.params_of(variant)), "maps_sha256": sha}])
                say(f"maps {variant}: {seconds:.0f} s")
        # The removal depends on the maps and t only: one modified data set for all repeats.
        masks = [removal_masks(s, t, keep=cfg.keep) for s in current[1]]
        removed = float(masks[1].double().mean())
        xa, xb = (fill_removed(x, m, cfg.fill, dataset_mean=mean)
                  for x, m in zip((xtr, xte), masks))
        del masks
        for r in todo:
            retrain(f"{slug(variant)}_t{t:g}_r{r}", variant, t, r, xa, xb, removed)
    table = accuracy.read()
    table.attrs["missing_rows"] = cfg.repeats * (1 + len(blocks)) - len(table)
    return table

