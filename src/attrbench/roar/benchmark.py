"""ROAR and KAR: remove (or keep) the top t % of features, retrain from scratch, measure accuracy.

Hooker et al., "A Benchmark for Interpretability Methods in Deep Neural Networks" (NeurIPS 2019);
reference code read in ``papers/NOTES.md`` §3. The importance maps are computed once, on the model
trained on the unmodified data (repeat 0), for the class it predicts. For every variant (and the
random baseline), threshold ``t`` and repeat ``r`` the train *and* test splits are modified
(:mod:`attrbench.roar.removal`) and the model is retrained from scratch with seed ``seed + r``; the
test accuracy of the retrained model is one row of the ``accuracy`` table. ``t = 0`` (the
unmodified data) is trained once per repeat and shared by all variants.

Resumable per (variant, threshold, repeat): a finished row is skipped, an interrupted retrain
resumes after its last epoch (:func:`attrbench.training.train`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from attrbench.results import ResultStore
from attrbench.roar.config import RetrainConfig
from attrbench.roar.removal import channel_means, check_thresholds, fill_removed, removal_masks
from attrbench.roar.scores import split_scores
from attrbench.roar.store import slug
from attrbench.roar.tensor_data import TensorImageDataset, dataset_tensors, train_on_tensors
from attrbench.runtime import resolve_device
from attrbench.training.user_model import ModelSource, fresh_copies
from attrbench.training import TrainResult

ORIGINAL = "none"


@dataclass(frozen=True)
class RoarConfig(RetrainConfig):
    """ROAR / KAR settings (see :class:`RetrainConfig` for the shared fields).

    Attributes:
        thresholds: percentages ``t`` of features removed (ROAR) or of the least important
            features removed (KAR), each in (0, 100); ``t = 0`` is always run as the reference.
        keep: KAR instead of ROAR.
    """

    thresholds: tuple[float, ...] = (10.0, 30.0, 50.0, 70.0, 90.0)
    keep: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "thresholds",
                           tuple(t for t in check_thresholds(self.thresholds) if t > 0))

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
            "epochs": int(last["epoch"]), "seconds": seconds}


def run_roar(cfg: RoarConfig, out: str | Path, *, progress: bool = False,
             log: Callable[[str], None] | None = None,
             model: ModelSource | None = None) -> pd.DataFrame:
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

    Returns:
        One row per (variant, threshold, repeat): ``benchmark, variant, unit, fill, threshold,
        repeat, seed, test_accuracy, train_accuracy, removed_fraction, epochs, seconds``
        (accuracies as fractions in [0, 1]); ``variant == "none"`` rows are ``t = 0``.
    """
    store = ResultStore(out, cfg.identity(model), cfg.seed, benchmark="roar")
    accuracy = store.table("accuracy")
    say = log or (lambda _msg: None)
    build = None if model is None else fresh_copies(model)
    base = cfg.train_config()
    device = resolve_device(cfg.device)
    train_ds, test_ds = cfg.load_split("train"), cfg.load_split("test")
    xtr, ytr, idtr = dataset_tensors(train_ds)
    xte, yte, idte = dataset_tensors(test_ds)
    mean = channel_means(xtr)

    def retrain(key: str, variant: str, t: float, r: int, xa: torch.Tensor, xb: torch.Tensor,
                removed: float) -> TrainResult:
        t0 = time.perf_counter()
        result = train_on_tensors(base, _split(train_ds, xa, ytr, idtr),
                                  _split(test_ds, xb, yte, idte), store.path("train", key),
                                  key=f"{cfg.benchmark}/{key}", seed=cfg.seed + r,
                                  progress=progress, model=build)
        if not accuracy.has(key):
            accuracy.write(key, [_row(cfg, variant, t, r, result, removed,
                                               time.perf_counter() - t0)])
            say(f"{cfg.benchmark} {variant} t={t:g} repeat {r}: "
                f"test accuracy {result.test_accuracy:.3f}")
        return result

    original = None
    for r in range(cfg.repeats):
        result = retrain(f"{ORIGINAL}_t0_r{r}", ORIGINAL, 0.0, r, xtr, xte, 0.0)
        original = result.model if r == 0 else original
    assert original is not None
    for variant in cfg.variants:
        keys = {(t, r): f"{slug(variant)}_t{t:g}_r{r}" for t in cfg.thresholds
                for r in range(cfg.repeats)}
        if all(accuracy.has(k) for k in keys.values()):
            continue
        scores = [split_scores(original, x, variant, cfg.unit, seed=cfg.seed + offset,
                               batch_size=cfg.batch_maps, device=device)
                  for offset, x in ((0, xtr), (1, xte))]
        for (t, r), key in keys.items():
            if accuracy.has(key):
                continue
            masks = [removal_masks(s, t, keep=cfg.keep) for s in scores]
            removed = float(masks[1].double().mean())
            xa, xb = (fill_removed(x, m, cfg.fill, dataset_mean=mean)
                      for x, m in zip((xtr, xte), masks))
            retrain(key, variant, t, r, xa, xb, removed)
    return accuracy.read()

