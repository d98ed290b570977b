"""``attrbench reproduce fpa``: the FPA paper's experiment end to end (Brocki & Chung, Sec. 4).

Train the same architecture without augmentation, with FPA and with Rectangle (random erasing) -
or take the shipped ``cifar_resnet20.{none,fpa,rectangle}`` models (``pretrained``); evaluate the ``fpa-table`` estimator variants with MIF/LIF curves on the first N test images; write
the fidelity table, the Fig. 2-5 style plots and one HTML report. Every stage resumes: trained
models are loaded from their run folders and finished curve shards are skipped.

Folder layout under ``out``::

    config.json              this job's resolved config + provenance
    models/<augmentation>/   training runs (checkpoint, history, run.json)
    accuracy.json            test accuracy of each model (evaluated images and whole test split)
    shards/*.parquet         tidy MIF/LIF curves
    samples/<augmentation>.npz   maps of the first images, for the heatmap figure
    fidelity.md / .csv, *.png, report.html
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attrbench.atomic import atomic_path
from attrbench.data import denormalize, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.fpa.runner import EvalConfig, ModelEntry, run_evaluation, sample_maps
from attrbench.results.store import ResultStore
from attrbench.runtime import resolve_device, use_channels_last
from attrbench.training import TrainConfig, evaluate_accuracy, train

#: FPA preset per dataset family (paper Sec. 4.1): CIFAR-sized images use the CIFAR parameters.
_FPA_PRESET_BY_SIZE = {32: "cifar", 28: "cifar"}


@dataclass(frozen=True)
class FPAReproductionConfig:
    """Settings of the reproduction; defaults fit the 2-core CPU demo (about 10 minutes).

    Attributes:
        dataset: dataset name or directory (default: the embedded CIFAR-10 subset).
        model: architecture (``small_cnn`` for the demo, ``cifar_resnet18`` for the paper's setting).
        recipe: training recipe (``quick`` for the demo, ``paper-cifar`` for the paper's setting).
        augmentations: the models to compare; ``fpa`` uses the ``cifar`` preset on 32x32 images and
            the ``imagenet`` preset on larger ones (paper Sec. 4.1).
        epochs: override the recipe's epoch count.
        train_limit: train on N training images only (a stratified subset drawn with ``seed``;
            :attr:`~attrbench.training.TrainConfig.train_subset`).
        num_images: evaluate the first N test images.
        variants: estimator variants or presets.
        seed: seeds training and evaluation.
        device: ``auto``, ``cpu``, ``cuda``.
        data_root: root of a dataset on disk.
        tie_break: ``random`` or ``reference``.
        num_samples: images shown in the heatmap figure.
        method_params: per-method overrides, e.g. ``{"integrated_gradients": {"steps": 50}}``.
        max_batch: most images per forward pass.
        pretrained: shipped model names (``attrbench models``) to evaluate instead of training;
            each model's augmentation comes from its sidecar. ``model``, ``recipe``, ``epochs`` and
            ``train_limit`` are then unused.
    """

    dataset: str = "cifar10-mini"
    model: str = "small_cnn"
    recipe: str = "quick"
    augmentations: tuple[str, ...] = ("none", "fpa", "rectangle")
    epochs: int | None = None
    train_limit: int | None = None
    num_images: int = 100
    variants: tuple[str, ...] = ("fpa-table",)
    seed: int = 0
    device: str = "auto"
    data_root: str | None = None
    tie_break: str = "random"
    num_samples: int = 6
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_batch: int = 128
    pretrained: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of everything that defines the results (not where they are computed)."""
        out = dataclasses.asdict(self)
        del out["device"]
        out["augmentations"] = list(self.augmentations)
        out["variants"] = list(self.variants)
        out["pretrained"] = {name: _shipped_sha256(name) for name in self.pretrained}
        if self.pretrained:
            for unused in ("model", "recipe", "epochs", "train_limit"):
                del out[unused]
        return out

    def eval_config(self) -> EvalConfig:
        """The evaluation part of this job."""
        return EvalConfig(variants=self.variants, num_images=self.num_images, seed=self.seed,
                          tie_break=self.tie_break, method_params=self.method_params,
                          max_batch=self.max_batch)


def _shipped_sha256(name: str) -> str:
    """Recorded weights hash of a shipped model (part of a results folder's identity)."""
    from attrbench.models.pretrained import pretrained_metadata

    return str(pretrained_metadata(name)["weights_sha256"])


def _train_config(cfg: FPAReproductionConfig, augmentation: str, image_side: int) -> TrainConfig:
    preset = None
    if augmentation == "fpa":
        preset = _FPA_PRESET_BY_SIZE.get(image_side, "imagenet")
    return TrainConfig.from_recipe(cfg.recipe, dataset=cfg.dataset, model=cfg.model,
                                   augment=augmentation, augment_preset=preset, epochs=cfg.epochs,
                                   seed=cfg.seed, device=cfg.device, train_limit=cfg.train_limit,
                                   data_root=cfg.data_root)


def reproduce_fpa(cfg: FPAReproductionConfig, out: str | Path, *, progress: bool = True) -> dict[str, Path]:
    """Run the whole FPA experiment into ``out`` and return the paths of what it wrote.

    Raises:
        AttrbenchError: bad settings, unknown names, or ``out`` holding another configuration.
    """
    if not cfg.augmentations:
        raise AttrbenchError("No augmentations given; use e.g. none, fpa, rectangle.")
    if cfg.num_images < 2:
        raise AttrbenchError("num_images must be >= 2 to compute a confidence interval.")
    out = Path(out)
    store = ResultStore(out, cfg.to_dict(), cfg.seed, benchmark="fpa")
    device = resolve_device(cfg.device)
    test_set = load_dataset(cfg.dataset, "test", root=cfg.data_root)
    image_side = int(test_set.spec.image_shape[-1])
    eval_set = load_dataset(cfg.dataset, "test", root=cfg.data_root, limit=cfg.num_images)

    entries, accuracy = [], {}
    if cfg.pretrained:
        for name, (model, meta) in _load_shipped(cfg.pretrained, test_set.spec, device).items():
            augmentation = str(meta["config"]["augment"])
            entries.append(ModelEntry(use_channels_last(model), meta["architecture"], augmentation))
            accuracy[augmentation] = {
                "model": meta["architecture"], "pretrained": name,
                "weights_sha256": meta["weights_sha256"],
                "test_accuracy": evaluate_accuracy(model, test_set, device=device),
                "evaluated_images_accuracy": evaluate_accuracy(model, eval_set, device=device),
                "num_evaluated_images": len(eval_set),
                "num_test_images": len(test_set),
                "recorded_accuracy": meta.get("shipped", {}).get("accuracy"),
            }
    for augmentation in () if cfg.pretrained else cfg.augmentations:
        result = train(_train_config(cfg, augmentation, image_side), out / "models" / augmentation,
                       progress=progress)
        entries.append(ModelEntry(use_channels_last(result.model), cfg.model, augmentation))
        accuracy[augmentation] = {
            "model": cfg.model,
            "test_accuracy": result.test_accuracy,
            "evaluated_images_accuracy": evaluate_accuracy(result.model, eval_set, device=device),
            "num_evaluated_images": len(eval_set),
            "num_test_images": len(test_set),
        }
    store.write_json("accuracy.json", accuracy)

    ecfg = cfg.eval_config()
    run_evaluation(entries, eval_set, ecfg, store=store, run=out.name, device=device,
                   progress=progress)
    for entry in entries:
        _write_samples(out / "samples" / f"{entry.augmentation}.npz", entry, eval_set, ecfg,
                       cfg.num_samples, device)

    from attrbench.fpa.report import build_all

    paths = build_all(out)
    return {"root": out, **paths}


def _load_shipped(names: tuple[str, ...], spec: Any, device: Any) -> dict[str, tuple[Any, dict]]:
    """Shipped models by name, checked against the data (classes, normalisation) before use."""
    from attrbench.models.pretrained import load_pretrained

    loaded: dict[str, tuple[Any, dict]] = {}
    seen: dict[str, str] = {}
    for name in names:
        model, meta = load_pretrained(name, device)
        if list(meta.get("classes", spec.classes)) != list(spec.classes):
            raise AttrbenchError(f"Shipped model {name!r} was trained on other classes than "
                                 f"{spec.name!r}; evaluate it on CIFAR-10 data.")
        norm = meta.get("normalization", {})
        if norm and (tuple(norm["mean"]) != tuple(spec.mean) or tuple(norm["std"]) != tuple(spec.std)):
            raise AttrbenchError(f"Shipped model {name!r} expects inputs normalised with {norm}; "
                                 f"{spec.name!r} uses mean {spec.mean}, std {spec.std}.")
        aug = str(meta["config"]["augment"])
        if aug in seen:
            raise AttrbenchError(f"{seen[aug]!r} and {name!r} are both {aug!r} models; give one "
                                 "model per augmentation.")
        seen[aug] = name
        loaded[name] = (model, meta)
    return loaded


def _write_samples(path: Path, entry: ModelEntry, dataset: Any, ecfg: EvalConfig, num: int,
                   device: Any) -> None:
    if path.exists():
        return
    sample = sample_maps(entry, dataset, ecfg, num=num, device=device)
    arrays = {
        "images": denormalize(sample["x"], dataset.spec).numpy().astype(np.float32),
        "image_ids": np.asarray(sample["ids"], dtype=np.int64),
        "labels": sample["labels"].numpy().astype(np.int64),
    }
    arrays.update({f"map__{alias}": m.numpy().astype(np.float32) for alias, m in sample["maps"].items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
