"""The robustness experiment: models x methods x attacks x ε on a dataset slice -> tidy rows.

Kamath et al. (AAAI 2024), Fig. 2: every measure of :mod:`attrbench.metrics.functional.robustness`
against the attack budget ε ∈ {0, 1, 2, 4, 8}/255, natural vs adversarially trained model. As in
the authors' code, only images the model classifies correctly are attacked (per model), and the
attribution target is the predicted (= true) class. Only label-preserving perturbations count
(Ghorbani et al. 2019; Kamath et al. 2024): each row records whether the attack found one
(``kept_label``) and the measures of an image without one are NaN, left out of every mean.

Resumable: one shard per (model, method, attack, ε, image chunk) in a
:class:`~attrbench.results.ResultStore` (table :data:`~.results.ROBUSTNESS_ROWS`); every random
draw is seeded (:func:`~attrbench.runtime.derive_seed`) from ``(seed, model, method, attack, ε,
chunk)``, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from attrbench.adversarial.space import InputSpace, check_eps
from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.methods.custom import method_labels
from attrbench.methods.guard import attribution_mode
from attrbench.metrics.functional.robustness import (
    DEFAULT_WINDOWS,
    attribution_map,
    robustness_measures,
)
from attrbench.metrics.functional.topk import check_w, default_k
from attrbench.progress import progress_bar
from attrbench.results.identity import images_sha256, state_dict_sha256
from attrbench.results.keys import safe_key
from attrbench.results.shards import check_shard, in_shard
from attrbench.results.store import ResultStore, Table
from attrbench.robustness.attacks import attack_config, attribution_attack
from attrbench.robustness.results import ROBUSTNESS_ROWS, ROBUSTNESS_SCHEMA
from attrbench.runtime import derive_seed
from attrbench.variants import resolve_black

#: Kamath et al. Fig. 2 budgets, in pixel units.
PAPER_EPS: tuple[float, ...] = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)


@dataclass(frozen=True)
class RobustnessConfig:
    """What to measure (every field is recorded with the results).

    Attributes:
        methods: registered attribution methods (one string is one method), or user method
            objects (callable, Captum attribution class, Quantus-style function;
            :mod:`attrbench.methods.custom`), registered and stored by name. The gradient attacks
            need a differentiable method (``register_method(..., differentiable=True)``).
        method_params: per-method overrides, ``{"integrated_gradients": {"steps": 20}}``.
        attacks: attack kinds (``random``, ``random_sign``, ``topk``, ``mass_center``,
            ``lens_topk``).
        eps: budgets in pixel units of [0, 1] images; None = Kamath et al.'s {0, 1, 2, 4, 8}/255,
            or, with a preset, the same fractions {0, 1/8, 1/4, 1/2, 1} of the preset's ε (MNIST:
            0, 0.0375, 0.075, 0.15, 0.3).
        preset: attack preset (``mnist``, ``flower``, ``imagenet``) or None.
        attack_params: overrides for every attack (``iterations``, ``step``, ``restarts`` ...).
        k: top-k size of the measures (None = default for the image size).
        windows: LENS / NMS radii.
        diverse: compute the top-k-div measures.
        candidates: NMS candidate limit (None = all pixels).
        num_images: first N images of the split are considered (then the correct ones attacked).
        chunk_size: images per shard.
        seed: root of every random draw.
        parity: None (default: the registry's IG, baseline 0 in input space = gray for [-1, 1]
            inputs, 200 right-Riemann points) or ``"code"``: the LENS code's IG, a black image
            (0 in raw pixels) with 100 right-Riemann points (NOTES §5.1). The LENS paper's text
            fixes no IG setting, so there is no ``"paper"`` choice. ``method_params`` win.
    """

    methods: tuple[str, ...] = ("vanilla_gradient",)
    method_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attacks: tuple[str, ...] = ("random_sign", "topk")
    eps: tuple[float, ...] | None = None
    preset: str | None = None
    attack_params: Mapping[str, Any] = field(default_factory=dict)
    k: int | None = None
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    diverse: bool = True
    candidates: int | None = None
    num_images: int = 16
    chunk_size: int = 16
    seed: int = 0
    parity: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", method_labels(self.methods))
        self.validate()

    def validate(self) -> RobustnessConfig:
        """Check every field (run on construction, before any model runs); return ``self``."""
        if not self.methods or not self.attacks or (self.eps is not None and not self.eps):
            raise AttrbenchError("Give at least one method, one attack and one eps.")
        if self.parity == "paper":
            raise AttrbenchError(
                "The LENS paper (Kamath et al.) fixes no IG setting; use parity 'code' for the "
                "LENS code's IG (black image, 100 steps) or leave parity out for the defaults.")
        if self.parity is not None and self.parity not in LENS_CODE_PARITY:
            raise AttrbenchError(f"Unknown parity {self.parity!r}; use 'code' or leave it out.")
        for e in self.budgets():
            check_eps(e)
        for kind in self.attacks:
            attack_config(kind, self.preset, **dict(self.attack_params))
        for w in self.windows:
            check_w(w)
        for name, flag in (("num_images", " (--num-images)"), ("chunk_size", ""), ("k", " (--k)")):
            value = getattr(self, name)
            if name == "k" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AttrbenchError(f"{name}{flag} must be an integer >= 1, got {value!r}.")
        return self

    def check_k(self, height: int, width: int) -> int:
        """The top-k size for ``height x width`` maps: ``k``, or the default for the size.

        Raises:
            AttrbenchError: ``k`` exceeds the ``height * width`` pixels (names ``--k`` and the
                maximum), so a bad ``k`` is refused before any model runs.
        """
        pixels = height * width
        if self.k is None:
            return default_k(height, width)
        if self.k > pixels:
            raise AttrbenchError(
                f"k (--k) = {self.k} exceeds the {pixels} pixels of the {height}x{width} images; "
                f"choose --k <= {pixels} (the default for this size is "
                f"{default_k(height, width)}).")
        return self.k

    def budgets(self) -> tuple[float, ...]:
        """The ε values to run, in pixel units (see the ``eps`` attribute)."""
        if self.eps is not None:
            return tuple(float(e) for e in self.eps)
        if self.preset is None:
            return PAPER_EPS
        top = attack_config("random", self.preset).eps
        return tuple(top * e / PAPER_EPS[-1] for e in PAPER_EPS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``eps`` resolved to the budgets that run)."""
        out = dataclasses.asdict(self)
        out["eps"] = list(self.budgets())
        out["method_params"] = {k: dict(v) for k, v in self.method_params.items()}
        out["attack_params"] = dict(self.attack_params)
        if self.parity is None:
            out.pop("parity")  # folders written before the switch existed keep their identity
        return out


#: ``parity="code"``: the LENS code's IG (NOTES §5.1): zero reference in raw pixels (black),
#: 100 points at (i + 1) / m, i.e. the right Riemann sum.
LENS_CODE_PARITY: dict[str, dict[str, dict[str, Any]]] = {
    "code": {"integrated_gradients": {"baseline": "black", "steps": 100,
                                      "quadrature": "riemann_right"}},
}


def method_overrides(cfg: RobustnessConfig, method: str, space: InputSpace) -> dict[str, Any]:
    """The parameters ``method`` is created with: the parity's, then ``cfg.method_params``.

    A black baseline is placed in the model's input space with ``space`` (``-mean / std``).
    """
    params: dict[str, Any] = {}
    if cfg.parity is not None:
        table = resolve_black(LENS_CODE_PARITY[cfg.parity], space.mean, space.std,
                              f"parity {cfg.parity!r}")
        params.update(table.get(method, {}))
    params.update(cfg.method_params.get(method, {}))
    return params


def _load_slice(dataset: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = min(n, len(dataset))  # type: ignore[arg-type]
    if n == 0:
        raise AttrbenchError("The dataset slice is empty; check the split and --num-images.")
    xs, ys = zip(*(dataset[i] for i in range(n)))
    ids = getattr(dataset, "ids", None)
    image_ids = torch.as_tensor([int(ids[i]) for i in range(n)] if ids is not None else range(n))
    return torch.stack(xs), torch.as_tensor(ys), image_ids


def run_robustness(
    models: Mapping[str, nn.Module],
    dataset: Dataset,
    cfg: RobustnessConfig,
    space: InputSpace,
    *,
    out: str | Path | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Attack every (model, method, attack, ε) and measure how much the attributions change.

    Args:
        models: ``{label: model}``, e.g. ``{"natural": m1, "pgd": m2}``; models return logits.
        dataset: yields ``(image (C, H, W) in the models' input space, label)``.
        cfg: the experiment.
        space: the input normalisation of ``dataset`` (pixel budgets -> input units).
        out: results folder (resumable); None keeps rows in memory only.
        device: where models and images run.
        progress: show a progress bar.
        shard: ``(K, N)``: of the units of work (one chunk of one (model, method, attack, ε),
            numbered in loop order), compute only those with ``unit % N == K``; N independent
            processes with the same ``out`` compute everything (see ``evaluate --shard``).

    Returns:
        Tidy rows with the columns of :data:`~.results.ROBUSTNESS_SCHEMA` (with ``out``: every
        shard on disk). ``result.attrs["missing_shards"]``: units of other shards not on disk yet.
    """
    if shard is not None:
        check_shard(*shard)
    units = {"next": 0, "missing": 0, "shard": shard}
    device = torch.device(device)
    # "rows": the row format; folders from before kept_label are refused, not mixed
    x_all, y_all, ids_all = _load_slice(dataset, cfg.num_images)
    cfg.check_k(*x_all.shape[-2:])  # before any model runs (issue 13)
    keeps = {}  # per model: the correctly classified images, the only ones attacked
    for label, model in models.items():
        model = model.to(device)
        with attribution_mode(model), torch.no_grad():
            pred = torch.cat([model(c.to(device)).argmax(1).cpu() for c in x_all.split(256)])
        keeps[label] = pred == y_all
    _check_some_correct(keeps)
    store = None
    if out is not None:  # identity: also the weights and the images (issue 13)
        spec = getattr(dataset, "spec", None)
        identity = {"robustness": cfg.to_dict(), "rows": "kept_label",
                    "models": {k: state_dict_sha256(m) for k, m in sorted(models.items())},
                    "dataset": {"name": getattr(spec, "name", type(dataset).__name__),
                                "split": getattr(dataset, "split", None),
                                "images_sha256": images_sha256(ids_all, y_all),
                                "first_image_sha256": hashlib.sha256(
                                    x_all[0].double().numpy().tobytes()).hexdigest()}}
        store = ResultStore(out, identity, cfg.seed,
                            benchmark="robustness").table(ROBUSTNESS_ROWS)
    run = Path(out).name if out is not None else "robustness"
    frames: list[pd.DataFrame] = []
    total = len(models) * len(cfg.methods) * len(cfg.attacks) * len(cfg.budgets())
    with progress_bar(progress, total=total, description="robustness") as advance:
        for label, model in models.items():
            keep = keeps[label]
            x_m, y_m, ids_m = x_all[keep], y_all[keep], ids_all[keep]
            for method in cfg.methods:
                explainer = create_method(method, model, **method_overrides(cfg, method, space))
                for attack in cfg.attacks:
                    for eps in cfg.budgets():
                        frames += _run_cell(run, label, explainer, attack, eps, cfg, space, store,
                                            x_m, y_m, ids_m, device, units)
                        advance(1)
    if store is not None:
        table = store.read()
    elif not frames:
        table = ROBUSTNESS_SCHEMA.empty_table().to_pandas()
    else:
        table = pd.concat(frames, ignore_index=True)
    table.attrs["missing_shards"] = units["missing"]
    return table


def _check_some_correct(keeps: Mapping[str, torch.Tensor]) -> None:
    """Refuse a model that classifies none of the images correctly (nothing could be attacked).

    Args:
        keeps: ``{model label: (N,) bool}``, True where the prediction equals the label.
    """
    for label, keep in keeps.items():
        if not bool(keep.any()):
            n = len(keep)
            which = f"none of the {n} images is" if n > 1 else "the only image is not"
            raise AttrbenchError(
                f"{which} classified correctly by model {label!r}, so no attack can keep the "
                "label; check the checkpoint/dataset pairing (classes, "
                "normalisation, split) or raise --num-images.")


def _run_cell(run: str, label: str, explainer: Any, attack: str, eps: float, cfg: RobustnessConfig,
              space: InputSpace, store: Table | None, x: torch.Tensor, y: torch.Tensor,
              ids: torch.Tensor, device: torch.device,
              units: dict[str, Any] | None = None) -> list[pd.DataFrame]:
    """All chunks of one (model, method, attack, ε); returns the frames computed (not skipped).

    ``units`` counts the units of work in loop order (``next``) and, for chunks of other shards
    (``shard`` = ``(K, N)``), how many are not on disk (``missing``)."""
    config = attack_config(attack, cfg.preset, **{**dict(cfg.attack_params), "eps": eps})
    frames = []
    for chunk, start in enumerate(range(0, len(x), cfg.chunk_size)):
        key = safe_key(f"{label}__{explainer.name}__{attack}__eps{eps:.6f}__chunk{chunk:05d}")
        if units is not None:
            unit, units["next"] = units["next"], units["next"] + 1
            if not in_shard(unit, units["shard"]):
                units["missing"] += int(store is None or not store.has(key))
                continue
        if store is not None and store.has(key):
            continue
        xc = x[start : start + cfg.chunk_size].to(device)
        seed = derive_seed(cfg.seed, label, explainer.name, attack, round(eps, 9), chunk)
        gen = torch.Generator(device=device).manual_seed(seed)
        result = attribution_attack(explainer, xc, config, space, generator=gen)
        original = attribution_map(explainer(xc, result.target))
        attacked = attribution_map(explainer(result.x_adv, result.target))
        measures = robustness_measures(original, attacked, cfg.k, cfg.windows,
                                       diverse=cfg.diverse, candidates=cfg.candidates)
        n = xc.shape[0]
        kept = result.kept.cpu()
        frame = pd.concat([pd.DataFrame({
            "run": run, "model": label, "method": explainer.name, "attack": attack,
            "eps": float(eps), "image_id": ids[start : start + n].numpy(),
            "label": y[start : start + n].numpy(), "target": result.target.cpu().numpy(),
            "kept_label": kept.numpy(), "restart": result.restart.cpu().numpy(),
            "iteration": result.iteration.cpu().numpy(), "measure": name,
            "value": torch.where(kept, values.cpu().double(), float("nan")).numpy(),
        }) for name, values in measures.items()], ignore_index=True)
        if store is not None:
            store.write(key, frame)
        frames.append(frame)
    return frames
