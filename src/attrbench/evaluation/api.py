"""``attrbench.evaluate``: the perturbation benchmark on any ``nn.Module`` and dataset, as a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from attrbench.errors import AttrbenchError
from attrbench.evaluation.runner import (EvalConfig, ModelEntry, evaluation_identity,
                                         run_evaluation)
from attrbench.progress import attached_to_terminal
from attrbench.results.store import ResultStore


def evaluate(model: nn.Module, dataset: Dataset, methods: Any = None, *,
             num_images: int | None = None, num_steps: int | None = None, mask_value: float = 0.0,
             tie_break: str = "random", target: str = "predicted", seed: int = 0,
             max_batch: int = 128, chunk_size: int = 64,
             method_params: dict[str, dict[str, Any]] | None = None, model_name: str = "model",
             augmentation: str = "unknown", out: str | Path | None = None,
             device: str | torch.device = "cpu", progress: bool | None = None,
             shard: tuple[int, int] | None = None,
             maps: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """MIF/LIF perturbation curves of ``model`` for each estimator variant, as a tidy DataFrame.

    Args:
        model: any classifier mapping normalised images ``(B, C, H, W)`` to logits ``(B, K)``.
        dataset: yields ``(image (C, H, W) float, label int)``; an ``ids`` attribute, if present,
            gives the image ids.
        methods: variant names (``"integrated_gradients|sum"``, ``"IG_sum"``) or presets
            (``"fpa-table"``); one string is one name. Also user methods: a callable
            ``(model, x, target) -> (B, C, H, W) | (B, H, W)``, a Captum ``Attribution`` bound
            to ``model``, a Quantus-style ``explain_func(model, inputs, targets, **kwargs)``
            (each scored with the channel sum of what it returns; register it with
            :func:`attrbench.register_method` for another post-processing, e.g.
            ``"name|abs_sum"``). None = ``"fpa-table"``, or nothing when ``maps`` is given.
        num_images: evaluate the first N images (None = all).
        num_steps: perturbation steps after the unperturbed one (None = 5 % of the pixels per step).
        mask_value: fill of masked pixels in the model's input space.
        tie_break: ``"random"`` (seeded) or ``"reference"`` (the FPA authors' ordering).
        target: ``"predicted"`` or ``"label"``.
        seed: seeds noise, random maps and tie-breaks.
        max_batch: most images per forward pass.
        chunk_size: images per unit of work (and per shard when ``out`` is given).
        method_params: per-method overrides, e.g. ``{"integrated_gradients": {"steps": 50}}``.
        model_name, augmentation: labels written into the ``model`` / ``augmentation`` columns.
        out: optional results folder: shards are written there and a rerun resumes. The folder
            is bound to the run's identity (weights' SHA-256, dataset, split, image ids, methods
            and resolved parameters, seed, ...): a rerun with another identity is refused with a
            message naming what differs; a rerun on more images whose first ones are the folder's
            extends it.
        device: where the model and images live.
        progress: show progress (images done); None = only when stderr is a terminal.
        shard: ``(K, N)``: compute only image chunks ``c`` with ``c % N == K`` (N independent
            processes, same ``out``); the result holds every shard on disk. None = all.
        maps: precomputed maps scored beside ``methods``, ``{"label": values}`` or
            ``{"label|abs_sum": values}``: values an array (N, H, W) / (N, C, H, W) whose row i
            is ``dataset[i]``, or ``{image_id: map}``. The label names the rows' ``variant``.

    Returns:
        One row per image x variant x order x step (see :data:`attrbench.results.CURVE_SCHEMA`);
        score it with :func:`attrbench.fidelity_table`.
    """
    if not isinstance(model, nn.Module):
        raise AttrbenchError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if methods is None:
        methods = () if maps is not None else ("fpa-table",)
    cfg = EvalConfig(variants=methods, num_images=num_images, chunk_size=chunk_size,
                     num_steps=num_steps, mask_value=mask_value, tie_break=tie_break, target=target,
                     seed=seed, max_batch=max_batch, method_params=dict(method_params or {}))
    entry = ModelEntry(model, model_name, augmentation)
    store = None
    if out is not None:
        # Everything is validated here, before the folder's config.json is written.
        config, images = evaluation_identity([entry], dataset, cfg, maps)
        store = ResultStore(out, config, seed, images=images)
    if progress is None:
        progress = attached_to_terminal()
    return run_evaluation([entry], dataset, cfg, store=store, device=device, progress=progress,
                          run=Path(out).name if out is not None else "api", shard=shard,
                          maps=maps)
