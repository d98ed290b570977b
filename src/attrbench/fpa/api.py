"""``attrbench.evaluate``: the perturbation benchmark on any ``nn.Module`` and dataset, as a
DataFrame."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from attrbench.errors import AttrbenchError
from attrbench.fpa.runner import (EvalConfig, ModelEntry, evaluation_identity, prepare_run,
                                  run_evaluation)
from attrbench.progress import attached_to_terminal
from attrbench.results.store import ResultStore

_FIELDS = tuple(f.name for f in dataclasses.fields(EvalConfig))


def evaluate(model: nn.Module, dataset: Dataset, methods: Any = None, *,
             config: EvalConfig | None = None, num_images: int | None = None,
             seed: int | None = None, max_batch: int | None = None,
             device: str | torch.device = "cpu", out: str | Path | None = None,
             model_name: str = "model", augmentation: str = "unknown",
             progress: bool | None = None, shard: tuple[int, int] | None = None,
             maps: Mapping[str, Any] | None = None, **settings: Any) -> pd.DataFrame:
    """MIF/LIF perturbation curves of ``model`` for each estimator variant, as a tidy DataFrame.

    The settings are one :class:`~attrbench.fpa.runner.EvalConfig` (``config=``); the
    keywords people type most (``num_images``, ``seed``, ``max_batch``) and any other
    ``EvalConfig`` field given as a keyword (``num_steps=8``, ``chunk_size=16``,
    ``method_params={...}``) replace its fields::

        evaluate(model, data, ["IG_sum"], config=EvalConfig(num_steps=8, tie_break="reference"))
        evaluate(model, data, ["IG_sum"], num_steps=8, num_images=100)   # the same, shorter

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
            ``"name|abs_sum"``). None = ``config.variants`` when a config is given, else
            ``"fpa-table"``, or nothing when ``maps`` is given.
        config: the evaluation settings (validated on construction); None = the defaults.
        num_images: evaluate the first N images (None = all).
        seed: seeds noise, random maps and tie-breaks (default 0).
        max_batch: most images (x steps / samples) per forward pass (default 128).
        device: where the model and images live.
        out: optional results folder: shards are written there and a rerun resumes. The folder
            is bound to the run's identity (weights' SHA-256, dataset, split, image ids, methods
            and resolved parameters, seed, ...): a rerun with another identity is refused with a
            message naming what differs; a rerun on more images whose first ones are the folder's
            extends it. ``attrbench report OUT`` rebuilds its report.
        model_name, augmentation: labels written into the ``model`` / ``augmentation`` columns.
        progress: show progress (images done); None = only when stderr is a terminal.
        shard: ``(K, N)``: compute only image chunks ``c`` with ``c % N == K`` (N independent
            processes, same ``out``); the result holds every shard on disk. None = all.
        maps: precomputed maps scored beside ``methods``, ``{"label": values}`` or
            ``{"label|abs_sum": values}``: values an array (N, H, W) / (N, C, H, W) whose row i
            is ``dataset[i]``, or ``{image_id: map}``. The label names the rows' ``variant``.
        **settings: other :class:`EvalConfig` fields (``num_steps``, ``mask_value``,
            ``tie_break``, ``target``, ``chunk_size``, ``method_params``).

    Returns:
        One row per image x variant x order x step (see :data:`attrbench.results.CURVE_SCHEMA`);
        score it with :func:`attrbench.fidelity_table`.

    Raises:
        AttrbenchError: not a module, an unknown keyword (names the valid ones), a bad setting,
            or a folder of another identity.
    """
    if not isinstance(model, nn.Module):
        raise AttrbenchError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    cfg = eval_config(config, methods, maps is not None, num_images=num_images, seed=seed,
                      max_batch=max_batch, **settings)
    entry = ModelEntry(model, model_name, augmentation)
    # Everything is validated here, once, before the folder's config.json is written.
    prepared = prepare_run([entry], dataset, cfg, maps, device)
    store = None
    if out is not None:
        identity, images = evaluation_identity([entry], dataset, cfg, maps, prepared=prepared)
        store = ResultStore(out, identity, cfg.seed, images=images, benchmark="fpa")
    if progress is None:
        progress = attached_to_terminal()
    return run_evaluation([entry], dataset, cfg, store=store, device=device, progress=progress,
                          run=Path(out).name if out is not None else "api", shard=shard,
                          maps=maps, prepared=prepared)


def eval_config(config: EvalConfig | None, methods: Any = None, with_maps: bool = False,
                **settings: Any) -> EvalConfig:
    """``config`` (or the defaults) with ``methods`` and the non-None ``settings`` applied.

    Args:
        config: the base settings, or None for :class:`EvalConfig`'s defaults.
        methods: replaces ``variants`` when not None. Without it and without ``config``, the
            variants are ``"fpa-table"``, or none when precomputed maps are given
            (``with_maps``).
        **settings: :class:`EvalConfig` field values; None leaves the field as it is.

    Raises:
        AttrbenchError: a keyword that is not an :class:`EvalConfig` field (lists the valid
            ones), or a bad value (from the config's own check).
    """
    if config is not None and not isinstance(config, EvalConfig):
        raise AttrbenchError(f"config must be an attrbench.EvalConfig, got "
                             f"{type(config).__name__}.")
    unknown = sorted(set(settings) - set(_FIELDS))
    if unknown:
        raise AttrbenchError(f"Unknown evaluate() keyword(s) {', '.join(unknown)}; valid: "
                             f"{', '.join(_FIELDS)} (or config=EvalConfig(...)).")
    values = {k: v for k, v in settings.items() if v is not None}
    if methods is not None:
        values["variants"] = methods
    elif config is None and with_maps:
        values["variants"] = ()
    if "method_params" in values:
        values["method_params"] = dict(values["method_params"])
    return dataclasses.replace(config, **values) if config is not None else EvalConfig(**values)
