"""BAM metrics for every method: MCS, IDR, IIR (+ random-region baselines) and the X^k MCS series.

BAM Sec. 4-5, App. A, C, G and the authors' ``bam/metrics.py`` (NOTES §2.3-2.4):

* targets are the model's predicted classes; only correctly classified inputs count, and for the
  pairwise metrics the intersection of the correct sets;
* MCS on X_{o,s} (the test split of the ``scene`` tree) between f_o and f_s, object masks;
* IDR on (X_{o,s}, X_{empty,s}) pairs with f_s, object masks (strict <);
* IIR with f_s on x in X_{empty,s} and x + delta, delta from :func:`functionally_similar_delta`
  (0-255 pixel units, lambda = 500, eta1 = eta2 = 0.01 as the authors) started at the object
  image inside its mask (the paper uses a scene-only model; "it can be any model", Sec. 4.4);
  x + delta is explained for the class explained on x; only pairs with
  ``||f(x + delta) - f(x)|| <= 5 % ||f(x)||`` count (the others are excluded and counted in
  ``delta``); t = 10 %;
* baselines: the same computations with each region moved to a random place (App. G);
* MCS series: each X^k model against X^{1.0} on the always-CF class's test images with the CF,
  and its Pearson correlation with the accuracy drop when the CF is removed (Fig. 6).
  With TCAV on, TCAV's series too: ``TCAV(f_k) - TCAV(f_1.0)`` (Fig. 6, dotted line).

Everything is reported as mean +- std over ``n_trials`` trials of ``trial_size`` pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from attrbench.bam.attributions import IG_SG_SQ, bam_explainer
from attrbench.bam.manifest import BamFolder
from attrbench.bam.models import commonality_accuracy, labels_by_stem, predict, stacked
from attrbench.errors import AttrbenchError
from attrbench.methods import list_methods
from attrbench.methods.custom import method_labels
from attrbench.metrics.functional.bam import (
    bam_maps,
    functionally_similar_delta,
    idr_values,
    iir_values,
    mcs_values,
    random_region_masks,
    region_attribution,
    trial_statistics,
)
from attrbench.runtime import make_generator

#: The paper's method labels -> (method name, overrides as in the authors' code, NOTES §2.3).
#: ``"black"`` stands for the model-space value of a black image (IG's baseline in BAM). The
#: authors' ``saliency`` calls use ``magnitude=True`` for every smoothed method, so "SG" and
#: "IG-SG" are the squared forms, and IG's points are ``linspace(0, 1, 25)``
#: (:mod:`attrbench.bam.attributions`).
BAM_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "GC": ("grad_cam", {}),
    "VG": ("vanilla_gradient", {}),
    "SG": ("smoothgrad_sq", {"n_samples": 25, "noise_level": 0.15}),
    "IG": ("integrated_gradients", {"steps": 25, "quadrature": "linspace", "baseline": "black"}),
    "IG-SG": ("integrated_gradients_smoothgrad_sq", {
        "steps": 25, "quadrature": "linspace", "n_samples": 25, "noise_level": 0.15,
        "baseline": "black"}),
    "GxI": ("input_x_gradient", {}),
    "GB": ("guided_backprop", {}),
    "GGC": ("guided_grad_cam", {}),
}
PAPER_METHODS: tuple[str, ...] = tuple(BAM_METHODS)


@dataclass(frozen=True)
class BamRunConfig:
    """Settings of ``attrbench bam run`` (metric part).

    Attributes:
        methods: paper labels (``GC`` ... ``GGC``), registered method names or user method
            objects (a callable ``(model, x, target)``, a Captum attribution, a Quantus-style
            function; registered under their own name, :mod:`attrbench.methods.custom`). One
            string is one method.
        split: which split of the built folder to evaluate.
        num_images: use a seeded random subset of this many X_{o,s} images (None = all).
        n_trials, trial_size: error bars as in the paper (10 trials of 100 pairs).
        iir_threshold: t (paper 0.1).
        delta_steps, delta_step_size, eta1, eta2: delta optimisation (App. A) in 0-255 pixel
            units, as the authors' code (lambda = 500, eta1 = eta2 = 0.01).
        delta_tolerance: a pair enters IIR only if ``||f(x + delta) - f(x)|| <= delta_tolerance *
            ||f(x)||``; the others are excluded and counted.
        commonality: also compute the X^k MCS series (needs the f_k models).
        tcav: also TCAV-MCS (App. F) on every block layer and the logit layer.
        tcav_random: random sets for TCAV's t-test.
        seed: seeds the subset, random regions and trials.
        max_batch: explainer batch bound.
    """

    methods: tuple[str, ...] = PAPER_METHODS
    split: str = "test"
    num_images: int | None = None
    n_trials: int = 10
    trial_size: int = 100
    iir_threshold: float = 0.1
    delta_steps: int = 300
    delta_step_size: float = 500.0
    eta1: float = 0.01
    eta2: float = 0.01
    delta_tolerance: float = 0.05
    commonality: bool = True
    tcav: bool = True
    tcav_random: int = 5
    seed: int = 0
    max_batch: int = 128

    def __post_init__(self) -> None:
        methods = method_labels(self.methods)  # objects -> their registered names
        if not methods:
            raise AttrbenchError(f"Give at least one BAM method, e.g. {', '.join(PAPER_METHODS)}.")
        if len(set(methods)) != len(methods):
            raise AttrbenchError(f"BAM methods must be distinct; got {list(methods)}.")
        for label in methods:
            resolve_method(label, 0.0)
        object.__setattr__(self, "methods", methods)
        if self.split not in ("train", "test"):
            raise AttrbenchError(f"split must be 'train' or 'test' (the splits 'attrbench bam "
                                 f"build' writes), got {self.split!r}.")
        counts = {"n_trials": self.n_trials, "trial_size": self.trial_size,
                  "delta_steps": self.delta_steps, "tcav_random": self.tcav_random,
                  "max_batch": self.max_batch, "num_images": self.num_images}
        for name, value in counts.items():
            if value is None and name == "num_images":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AttrbenchError(f"{name} must be an integer >= 1, got {value!r}"
                                     + (" (None uses all images)." if name == "num_images"
                                        else "."))
        if self.tcav and self.tcav_random < 2:
            raise AttrbenchError(f"tcav_random must be >= 2 for TCAV's t-test, got "
                                 f"{self.tcav_random}; or turn TCAV off (tcav=False, --no-tcav).")
        if not 0.0 < self.iir_threshold < 1.0:
            raise AttrbenchError(f"iir_threshold must lie in (0, 1) (paper 0.1), got "
                                 f"{self.iir_threshold}.")
        if not 0.0 < self.delta_tolerance < 1.0:
            raise AttrbenchError(f"delta_tolerance must lie in (0, 1) (a fraction of ||f(x)||; "
                                 f"default 0.05), got {self.delta_tolerance}.")
        for name in ("delta_step_size", "eta1", "eta2"):
            value = getattr(self, name)
            if not value > 0:
                raise AttrbenchError(f"{name} must be > 0 (App. A: lambda 500, eta 0.01), got "
                                     f"{value}.")


def resolve_method(label: Any, black: float | tuple[float, ...],
                   ) -> tuple[str, dict[str, Any]]:
    """Method name and overrides of a paper label, registered method name or method object.

    Args:
        label: ``GC`` ... ``GGC``, a registered method (or BAM's squared IG-SG by name), or a user
            method object (registered under its own name, :func:`method_labels`).
        black: the model-space value of a black pixel, one number or one per channel.
    """
    if not isinstance(label, str):
        (label,) = method_labels(label)
    if label in BAM_METHODS:
        name, overrides = BAM_METHODS[label]
        return name, {k: (black if v == "black" else v) for k, v in overrides.items()}
    if label in list_methods() or label == IG_SG_SQ.name:
        return label, {}
    valid = ", ".join([*BAM_METHODS, *list_methods()])
    raise AttrbenchError(f"Unknown BAM method {label!r}; valid: {valid}.")


def _input_range(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Model-space values of black and white pixels, (C,) each."""
    mean = torch.tensor(dataset.spec.mean, dtype=torch.float32)
    std = torch.tensor(dataset.spec.std, dtype=torch.float32)
    return -mean / std, (1 - mean) / std


def _pixel_scale(dataset: Any) -> torch.Tensor:
    """(C,) pixel units (0-255) per model-input unit: ``255 * std`` of the normalisation."""
    return 255.0 * torch.tensor(dataset.spec.std, dtype=torch.float32)


def _black(dataset: Any) -> float | tuple[float, ...]:
    """IG's black baseline: one number, or one per channel when the channels differ."""
    low = _input_range(dataset)[0]
    return float(low[0]) if torch.allclose(low, low[0]) else tuple(float(v) for v in low)


def _maps(model: nn.Module, label: str, x: torch.Tensor, black: float | tuple[float, ...],
          max_batch: int, target: torch.Tensor | None = None) -> torch.Tensor:
    """BAM maps (N, H, W) of ``label`` for ``target`` (default: the class predicted on ``x``)."""
    name, overrides = resolve_method(label, black)
    explainer = bam_explainer(name, model, max_batch=max_batch, **overrides)
    if target is None:
        target = predict(model, x).argmax(1)
    device = next(model.parameters()).device
    return bam_maps(explainer(x.to(device), target.to(device)).detach().float().cpu())


#: Keys of BAM's precomputed maps (``run_bam_metrics(maps=)``) -> the internal map names: the
#: maps of f_o and f_s on X_{o,s} and of f_s on X_{empty,s} (the names of ``per_image``'s g_c
#: columns). IIR's x + delta and the X^k series re-explain, so they always need the method.
MAP_KEYS: dict[str, str] = {"fo_xos": "o", "fs_xos": "s", "fs_x0s": "s0"}


def given_maps(maps: Any, methods: tuple[str, ...], dataset: Any, positions: np.ndarray | None,
               ) -> dict[str, dict[str, torch.Tensor]]:
    """Check BAM's precomputed maps and turn them into BAM maps (n, H, W).

    Args:
        maps: ``{label: {"fo_xos" | "fs_xos" | "fs_x0s": values}}`` or None; ``label`` must be
            one of ``methods`` (its method still explains x + delta for IIR and the X^k models);
            ``values`` are raw attributions of the images of ``dataset`` for the class each model
            predicts, as :class:`~attrbench.precomputed.PrecomputedMaps` reads them (an
            array with row i = ``dataset[i]`` or ``{image_id: map}``; (H, W), (1, H, W) or
            (C, H, W) per image). BAM's map (positive channel sum, P99 scaling) is applied to
            them as to a method's output.
        methods: the run's method labels.
        dataset: the evaluated split of the ``scene`` tree, before any ``num_images`` subset
            (``scene_only`` has the same files in the same order).
        positions: (n,) positions evaluated (None = all).

    Returns:
        ``{label: {"o" | "s" | "s0": (n, H, W) float32}}``.

    Raises:
        AttrbenchError: not a mapping, a label that is not a method of the run, an unknown or
            missing key (all three are needed: MCS uses o and s, IDR s and s0), or any error of
            :class:`~attrbench.precomputed.PrecomputedMaps` (shapes, rows, ids, NaN).
    """
    from attrbench.precomputed import PrecomputedMaps

    if maps is None:
        return {}
    if not isinstance(maps, dict):
        raise AttrbenchError("BAM maps= must be a dict {method label: {'fo_xos': ..., 'fs_xos': "
                             f"..., 'fs_x0s': ...}}, got {type(maps).__name__}.")
    ids = dataset.ids.numpy() if positions is None else dataset.ids.numpy()[positions]
    shape = tuple(dataset.spec.image_shape)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for label, sets in maps.items():
        if label not in methods:
            raise AttrbenchError(
                f"BAM maps= has maps for {label!r}, which is not among the methods "
                f"{list(methods)}; add it: IIR re-explains x + delta with f_s and the X^k series "
                "explains with each f_k, so its method is needed too (register_method).")
        keys = set(sets) if isinstance(sets, dict) else set()
        if keys != set(MAP_KEYS):
            missing, unknown = sorted(set(MAP_KEYS) - keys), sorted(keys - set(MAP_KEYS))
            raise AttrbenchError(
                f"BAM maps[{label!r}] must be a dict with the keys {list(MAP_KEYS)} (f_o and f_s "
                f"on X_os, f_s on X_0s); missing {missing}, unknown {unknown}.")
        out[label] = {
            MAP_KEYS[key]: bam_maps(PrecomputedMaps(
                f"{label}.{key}", values, ids, shape, len(dataset), positions=positions,
            ).table.float()) for key, values in sets.items()}
    return out


def _evaluated_positions(n: int, cfg: BamRunConfig,
                         gen: torch.Generator) -> np.ndarray | None:
    """Sorted positions of the ``cfg.num_images`` scored images of a split of ``n`` (drawn with
    ``gen``, the run's first draw), or None for all of them."""
    if cfg.num_images is None or cfg.num_images >= n:
        return None
    return np.sort(torch.randperm(n, generator=gen)[:cfg.num_images].numpy())


def check_maps(folder: BamFolder, cfg: BamRunConfig,
               maps: dict[str, dict[str, Any]] | None) -> None:
    """Check ``maps`` (:func:`given_maps`) for the images :func:`run_bam_metrics` will score,
    before any model is trained (``attrbench.bam.pipeline.run_bam``).

    Raises:
        AttrbenchError: any error of :func:`given_maps`.
    """
    if maps is None:
        return
    scenes = folder.dataset("scene", cfg.split)
    given_maps(maps, cfg.methods, scenes,
               _evaluated_positions(len(scenes), cfg, make_generator(cfg.seed)))


def _rows(values_eligible: tuple[torch.Tensor, torch.Tensor], cfg: BamRunConfig,
          gen: torch.Generator, **keys: Any) -> dict[str, Any]:
    values, eligible = values_eligible
    if not bool(eligible.any()):
        return {**keys, "mean": math.nan, "std": math.nan, "trial_size": 0, "eligible": 0}
    st = trial_statistics(values, eligible, n_trials=cfg.n_trials, trial_size=cfg.trial_size,
                          generator=gen)
    return {**keys, "mean": st.mean, "std": st.std, "trial_size": st.trial_size,
            "eligible": st.eligible}


@dataclass(frozen=True)
class BamResults:
    """Output of :func:`run_bam_metrics`.

    Attributes:
        metrics: tidy rows (metric, method, region, k, mean, std, trial_size, eligible).
        per_image: per-image g_c values and correctness, per method and region.
        delta: summary of the delta optimisation (relative output change, norms).
        samples: ``{method: {"x_os"|"x_0s"|"x_0d"|"o"|"s"|"s0"|"sd": (n, ...) tensor}}``: the
            first ``n_samples`` images and their BAM maps, for saliency grids (Figs. 3, 7, 9).
        tcav: per model and layer, the concept's and the random CAVs' mean TCAV scores, the
            two-sided t-test p-value and whether the layer passed (None without TCAV).
    """

    metrics: pd.DataFrame
    per_image: pd.DataFrame
    delta: dict[str, Any]
    samples: dict[str, dict[str, torch.Tensor]]
    tcav: pd.DataFrame | None = None


def run_bam_metrics(folder: BamFolder, models: dict[str, nn.Module], cfg: BamRunConfig,
                    n_samples: int = 4, maps: dict[str, dict[str, Any]] | None = None,
                    ) -> BamResults:
    """Compute MCS, IDR, IIR (and baselines, and the X^k series) for every method.

    Args:
        folder: built BAM folder.
        models: ``f_o``, ``f_s`` and, for the series, ``f_k*`` models (eval mode).
        cfg: settings.

        n_samples: images kept with their maps for the saliency grids.
        maps: precomputed maps of some methods (see :func:`given_maps`): their MCS and IDR need
            no explaining; IIR and the X^k series still run their method.

    Returns:
        :class:`BamResults`.
    """
    for label in cfg.methods:
        resolve_method(label, 0.0)
    gen = make_generator(cfg.seed)
    with_obj, no_obj = folder.dataset("scene", cfg.split), folder.dataset("scene_only", cfg.split)
    keep = _evaluated_positions(len(with_obj), cfg, gen)
    given = given_maps(maps, cfg.methods, with_obj, keep)
    if keep is not None:
        with_obj, no_obj = with_obj.subset(keep), no_obj.subset(keep)
    files = with_obj.files
    black = _black(with_obj)
    low, high = _input_range(with_obj)
    x_os, x_0s = stacked(with_obj), stacked(no_obj)
    masks = folder.masks_for(files, tuple(x_os.shape[-2:]))
    regions = {"object": masks, "random": random_region_masks(masks, gen)}
    y_obj, y_scene = labels_by_stem(folder, files, "object"), labels_by_stem(folder, files, "scene")
    f_o, f_s = models["f_o"], models["f_s"]
    ok_o = predict(f_o, x_os).argmax(1) == y_obj
    ok_s = predict(f_s, x_os).argmax(1) == y_scene
    target_s0 = predict(f_s, x_0s).argmax(1)
    ok_s0 = target_s0 == y_scene
    device = next(f_s.parameters()).device
    delta = functionally_similar_delta(
        f_s, x_0s.to(device), masks.to(device), x_os.to(device),
        steps=cfg.delta_steps, step_size=cfg.delta_step_size, eta1=cfg.eta1, eta2=cfg.eta2,
        low=low.to(device), high=high.to(device), scale=_pixel_scale(with_obj).to(device),
        tolerance=cfg.delta_tolerance)
    x_0d = x_0s + delta.delta.cpu()
    ratio = (delta.output_change / delta.output_norm).cpu()
    similar = delta.similar.cpu()
    delta_info = {"median_relative_output_change": float(ratio.median()),
                  "max_relative_output_change": float(ratio.max()),
                  "median_delta_norm": float(delta.delta_norm.median()),
                  "median_delta_norm_pixels": float(delta.pixel_norm.median()),
                  "tolerance": cfg.delta_tolerance,
                  "similar_images": int(similar.sum()),
                  "excluded_correct_pairs": int((ok_s0 & ~similar).sum()),
                  "iir_pairs": int((ok_s0 & similar).sum()),
                  "steps": cfg.delta_steps, "step_size_pixels": cfg.delta_step_size,
                  "eta1": cfg.eta1, "eta2": cfg.eta2}
    rows: list[dict[str, Any]] = []
    per_image: list[pd.DataFrame] = []
    samples: dict[str, dict[str, torch.Tensor]] = {}
    for label in cfg.methods:
        have = given.get(label, {})
        maps = {"o": have["o"] if have else _maps(f_o, label, x_os, black, cfg.max_batch),
                "s": have["s"] if have else _maps(f_s, label, x_os, black, cfg.max_batch),
                "s0": have["s0"] if have else _maps(f_s, label, x_0s, black, cfg.max_batch),
                # x + delta is explained for the class explained on x (App. A)
                "sd": _maps(f_s, label, x_0d, black, cfg.max_batch, target=target_s0)}
        samples[label] = {**{k: v[:n_samples] for k, v in maps.items()},
                          "x_os": x_os[:n_samples], "x_0s": x_0s[:n_samples],
                          "x_0d": x_0d[:n_samples], "mask": masks[:n_samples]}
        for region, m in regions.items():
            g = {key: region_attribution(v, m) for key, v in maps.items()}
            keys = {"method": label, "region": region, "k": math.nan}
            rows.append(_rows(mcs_values(g["o"], g["s"], ok_o, ok_s), cfg, gen, metric="MCS",
                              **keys))
            rows.append(_rows(idr_values(g["s"], g["s0"], ok_s, ok_s0), cfg, gen, metric="IDR",
                              **keys))
            # IIR: correct on x and delta functionally similar (the rest excluded, counted)
            rows.append(_rows(iir_values(g["s0"], g["sd"], ok_s0 & similar, cfg.iir_threshold),
                              cfg, gen, metric="IIR", **keys))
            per_image.append(pd.DataFrame({
                "method": label, "region": region, "file": files, "g_fo_xos": g["o"].numpy(),
                "g_fs_xos": g["s"].numpy(), "g_fs_x0s": g["s0"].numpy(),
                "g_fs_x0s_delta": g["sd"].numpy(), "fo_correct": ok_o.numpy(),
                "fs_correct": ok_s.numpy(), "fs_correct_x0s": ok_s0.numpy(),
                "delta_relative_output_change": ratio.numpy(), "delta_similar": similar.numpy()}))
    tcav = None
    if cfg.tcav:
        tcav_rows, tcav = _tcav_rows(folder, models, cfg)
        rows.extend(tcav_rows)
    if cfg.commonality and folder.commonality_sets and all(
            f"f_{k}" in models for k in folder.commonality_sets):
        rows.extend(_commonality_rows(folder, models, cfg, black, gen))
    metrics = pd.DataFrame(rows, columns=["metric", "method", "region", "k", "mean", "std",
                                          "trial_size", "eligible"])
    return BamResults(metrics, pd.concat(per_image, ignore_index=True), delta_info, samples, tcav)


def _commonality_rows(folder: BamFolder, models: dict[str, nn.Module], cfg: BamRunConfig,
                      black: float | tuple[float, ...], gen: torch.Generator,
                      ) -> list[dict[str, Any]]:
    """MCS of each X^k model against X^{1.0} on CF images, and its Pearson r with the drop."""
    sets = folder.commonality_sets
    ref_name, cf_label = sets[-1], folder.info["scenes"].index(folder.info["cf_scene"])
    data = folder.dataset(ref_name, cfg.split)
    keep = np.flatnonzero(data.labels.numpy() == cf_label)
    data = data.subset(keep)
    x = stacked(data)
    masks = folder.masks_for(data.files, tuple(x.shape[-2:]))
    correct = {k: predict(models[f"f_{k}"], x).argmax(1) == cf_label for k in sets}
    drops = {r["model"][2:]: r["value"]
             for r in commonality_accuracy(folder, models, cfg.split)
             if r["quantity"] == "accuracy_drop"}
    rows: list[dict[str, Any]] = []
    for label in cfg.methods:
        g = {k: region_attribution(_maps(models[f"f_{k}"], label, x, black, cfg.max_batch), masks)
             for k in sets}
        means = []
        for k in sets[:-1]:
            row = _rows(mcs_values(g[k], g[ref_name], correct[k], correct[ref_name]), cfg, gen,
                        metric="MCS_k", method=label, region="object", k=float(k[1:]))
            rows.append(row)
            means.append(row["mean"])
        rows.append(_pearson_row(label, means, [drops[k] for k in sets[:-1]]))
    if cfg.tcav:
        rows.extend(_tcav_series_rows(folder, models, cfg, x, drops))
    return rows


def _tcav_sets(folder: BamFolder) -> tuple[torch.Tensor, torch.Tensor]:
    """TCAV's concept and random images: training X_{o,s} images with the CF object (every
    scene), and training X_{empty,s} images, (M, C, H, W) and (R, C, H, W)."""
    cf = folder.info["objects"].index(folder.info["cf_object"])
    train = folder.dataset("obj", "train")
    concept = stacked(train.subset(np.flatnonzero(train.labels.numpy() == cf)))
    return concept, stacked(folder.dataset("scene_only", "train"))


def _tcav_series_rows(folder: BamFolder, models: dict[str, nn.Module], cfg: BamRunConfig,
                      x: torch.Tensor, drops: dict[str, float]) -> list[dict[str, Any]]:
    """TCAV's X^k series (Fig. 6, dotted line): ``TCAV(f_k) - TCAV(f_1.0)`` for the CF concept.

    Each X^k model's TCAV score (:func:`~attrbench.bam.tcav.tcav_score`, layers with p > 0.01
    dropped) of the CF-object concept for the always-CF class, on ``x``: that class's test images
    with the CF. Concept and random sets as in :func:`_tcav_rows`. One score per model, so the
    rows have no std; ``MCS_k_pearson`` is its Pearson r with the accuracy drop.
    """
    from attrbench.bam.tcav import tcav_layers, tcav_score

    sets = folder.commonality_sets
    cf_label = folder.info["scenes"].index(folder.info["cf_scene"])
    concept, randoms = _tcav_sets(folder)
    score = {}
    for k in sets:
        model = models[f"f_{k}"]
        device = next(model.parameters()).device
        score[k] = tcav_score(model, tcav_layers(model), x.to(device),
                              torch.full((len(x),), cf_label, device=device), concept.to(device),
                              randoms.to(device), n_random=cfg.tcav_random,
                              seed=cfg.seed)["score"]
    rows = [{"metric": "MCS_k", "method": "TCAV", "region": "object", "k": float(k[1:]),
             "mean": score[k] - score[sets[-1]], "std": math.nan, "trial_size": len(x),
             "eligible": len(x)} for k in sets[:-1]]
    rows.append(_pearson_row("TCAV", [r["mean"] for r in rows], [drops[k] for k in sets[:-1]]))
    return rows


def _pearson_row(label: str, means: list[float], drop: list[float]) -> dict[str, Any]:
    """``MCS_k_pearson`` row: Pearson r of an MCS series with the accuracy drops (finite pairs;
    NaN with fewer than 3 or a constant series)."""
    m, d = np.asarray(means, dtype=float), np.asarray(drop, dtype=float)
    finite = np.isfinite(m) & np.isfinite(d)
    r = (stats.pearsonr(m[finite], d[finite]).statistic
         if finite.sum() >= 3 and np.std(m[finite]) > 0 and np.std(d[finite]) > 0 else math.nan)
    return {"metric": "MCS_k_pearson", "method": label, "region": "object", "k": math.nan,
            "mean": float(r), "std": math.nan, "trial_size": 0, "eligible": int(finite.sum())}


def _tcav_rows(folder: BamFolder, models: dict[str, nn.Module], cfg: BamRunConfig,
               ) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """TCAV of the CF-object concept for f_o and f_s, and TCAV-MCS (App. F, Sec. 5.1).

    Concept: training X_{o,s} images with the CF object; random sets: training X_{empty,s}
    images; explained: test X_{o,s} images with the CF object, target = the object class for f_o
    and each image's scene for f_s. Layers: every block layer and the logit layer of each model
    (:func:`~attrbench.bam.tcav.tcav_layers`), each with its two-sided t-test against random
    CAVs; layers with p > 0.01 are dropped.

    Returns:
        ``(metric rows, per-layer table (model, layer, concept, random, p, passed))``.
    """
    from attrbench.bam.tcav import tcav_layers, tcav_score

    cf = folder.info["objects"].index(folder.info["cf_object"])
    test = folder.dataset("obj", cfg.split)
    concept, randoms = _tcav_sets(folder)
    test = test.subset(np.flatnonzero(test.labels.numpy() == cf))
    inputs = stacked(test)
    targets = {"f_o": torch.full((len(inputs),), cf),
               "f_s": labels_by_stem(folder, test.files, "scene")}
    result = {}
    for name in ("f_o", "f_s"):
        layers = tcav_layers(models[name])
        device = next(models[name].parameters()).device
        result[name] = tcav_score(models[name], layers, inputs.to(device),
                                  targets[name].to(device), concept.to(device),
                                  randoms.to(device), n_random=cfg.tcav_random, seed=cfg.seed)
    rows = [{"metric": "TCAV", "method": "TCAV", "region": name, "k": math.nan,
             "mean": r["score"], "std": math.nan, "trial_size": len(inputs),
             "eligible": sum(v["passed"] for v in r["layers"].values())}
            for name, r in result.items()]
    null = {n: float(np.mean([v["random"] for v in r["layers"].values()]))
            for n, r in result.items()}
    rows.append({"metric": "MCS", "method": "TCAV", "region": "object", "k": math.nan,
                 "mean": result["f_o"]["score"] - result["f_s"]["score"], "std": math.nan,
                 "trial_size": len(inputs), "eligible": len(inputs)})
    rows.append({"metric": "MCS", "method": "TCAV", "region": "random", "k": math.nan,
                 "mean": null["f_o"] - null["f_s"], "std": math.nan, "trial_size": len(inputs),
                 "eligible": len(inputs)})
    per_layer = pd.DataFrame([{"model": name, "layer": layer, **v}
                              for name, r in result.items() for layer, v in r["layers"].items()],
                             columns=["model", "layer", "concept", "random", "p", "passed"])
    return rows, per_layer
