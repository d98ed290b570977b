"""BAM models (f_o, f_s, the X^k scene models) and the Fig. 2 verification.

BAM Sec. 3.3-3.4 and App. D: f_o is trained on X_{o,s} with object labels, f_s with scene labels,
and one scene model per commonality set X^k. The paper fine-tunes an ImageNet ResNet-50; here any
registered model and recipe can be used (a small CNN by default, for CPU), trained by the
project's one training loop (:func:`attrbench.training.train`, resumable) on the ImageFolder trees
of a built BAM folder.

Fig. 2 (top): accuracy of f_o and f_s on X_{o,s}, X_{empty,s} (object removed) and X_{o,g} (scene
grayed), and the fraction of inputs correctly classified by f_s whose confidence in the true
scene rises when the object is removed. Fig. 2 (bottom): each X^k model's accuracy on the always-CF
scene class with and without the CF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from attrbench.bam.manifest import BamFolder
from attrbench.data.base import ImageDataset
from attrbench.errors import AttrbenchError
from attrbench.models import load_checkpoint
from attrbench.training import TrainConfig, train
from attrbench.training.user_model import ModelSource, fresh_copies, load_user_checkpoint


def model_names(folder: BamFolder, commonality: bool = True) -> dict[str, str]:
    """``{model name: labelling it is trained on}``: f_o, f_s and (optionally) one per X^k."""
    names = {"f_o": "obj", "f_s": "scene"}
    if commonality:
        names.update({f"f_{k}": k for k in folder.commonality_sets})
    return names


def train_bam_models(
    folder: BamFolder, out: str | Path, *, model: str | ModelSource = "small_cnn",
    recipe: str = "quick",
    epochs: int | None = None, seed: int = 0, device: str = "auto", commonality: bool = True,
    progress: bool = False, k_epochs: int | None = None, **overrides: Any,
) -> dict[str, Path]:
    """Train (or resume, or just load) every BAM model under ``out/models/<name>``.

    Args:
        folder: a built BAM folder.
        out: run folder.
        model: registered architecture (``resnet50`` for the paper's setting), or a user
            builder ``callable(num_classes) -> nn.Module`` / ``nn.Module`` template: each BAM
            model gets fresh weights under ``seed`` (a template is deep-copied and re-initialised
            with ``reset_parameters()``, :func:`~attrbench.training.user_model.fresh_copies`);
            its class and initial weights are recorded in each model's ``run.json``.
        recipe: training recipe name.
        epochs: override the recipe's epochs.
        seed: training seed (the same for every model).
        device: ``auto``, ``cpu``, ``cuda``.
        commonality: also train the X^k scene models.
        progress: show progress bars.
        k_epochs: epochs of the X^k models (None = ``epochs``).
        **overrides: further :class:`TrainConfig` fields (``batch_size``, ``lr`` ...).

    Returns:
        ``{name: checkpoint path}``.
    """
    paths: dict[str, Path] = {}
    build = None if isinstance(model, str) else fresh_copies(model)  # a user model
    for name, labelling in model_names(folder, commonality).items():
        n_epochs = epochs if k_epochs is None or name in ("f_o", "f_s") else k_epochs
        cfg = TrainConfig.from_recipe(recipe, dataset=str(folder.tree(labelling)),
                                      model=model if build is None else "user",
                                      epochs=n_epochs, seed=seed, device=device, **overrides)
        result = train(cfg, Path(out) / "models" / name, progress=progress, model=build)
        paths[name] = result.checkpoint
    return paths


def load_bam_models(out: str | Path, names: list[str], device: str | torch.device = "cpu",
                    model: ModelSource | None = None) -> dict[str, nn.Module]:
    """Load trained BAM models by name from ``out/models/<name>/model.safetensors``.

    ``model``: the user builder / module template they were trained from (None: registered
    architectures, rebuilt from the checkpoints).

    Raises:
        AttrbenchError: a model has not been trained yet.
    """
    models = {}
    for name in names:
        path = Path(out) / "models" / name / "model.safetensors"
        if not path.is_file():
            raise AttrbenchError(f"BAM model {name} not found at {path}; run 'attrbench bam run' "
                                 "(which trains it) or train it first.")
        models[name] = (load_checkpoint(path, device)[0].eval() if model is None
                        else load_user_checkpoint(path, model, device))
    return models


def stacked(dataset: ImageDataset, batch_size: int = 256) -> torch.Tensor:
    """All images of a (small) dataset as one (N, C, H, W) tensor."""
    return torch.cat([x for x, _ in DataLoader(dataset, batch_size=batch_size)])


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits (N, K) of ``x`` (N, C, H, W), batched, on the model's device, returned on CPU."""
    device = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(x), batch_size)])


def labels_by_stem(folder: BamFolder, files: list[str], field: str) -> torch.Tensor:
    """Object (``field="object"``) or scene labels of tree files, from the manifest by stem."""
    classes = folder.info["objects" if field == "object" else "scenes"]
    rows = folder.manifest[folder.manifest["set"] == "bam"].set_index("stem")[field]
    return torch.tensor([classes.index(rows[Path(f).stem]) for f in files])


def verify(folder: BamFolder, models: dict[str, nn.Module], split: str = "test") -> pd.DataFrame:
    """Fig. 2: accuracies on X_{o,s}, X_{empty,s}, X_{o,g}, confidence rises, X^k accuracy drops.

    Args:
        folder: the built BAM folder.
        models: at least ``f_o`` and ``f_s``; ``f_k*`` models are checked when present.
        split: which split to measure on.

    Returns:
        Tidy rows ``(model, test_set, quantity, value)`` with ``quantity`` one of
        ``accuracy``, ``confidence_increase`` (fraction), ``accuracy_drop``.
    """
    sets = {name: folder.dataset(name, split) for name in ("scene", "scene_only", "obj_gray")}
    files = sets["scene"].files
    if [Path(f).name for f in sets["scene_only"].files] != [Path(f).name for f in files]:
        raise AttrbenchError(f"The scene and scene_only trees of {folder.root} differ; rebuild it.")
    x = {"X_os": stacked(sets["scene"]), "X_0s": stacked(sets["scene_only"])}
    gray_files = sets["obj_gray"].files
    gray_order = {Path(f).stem: i for i, f in enumerate(gray_files)}
    x["X_og"] = stacked(sets["obj_gray"])[[gray_order[Path(f).stem] for f in files]]
    labels = {"f_o": labels_by_stem(folder, files, "object"),
              "f_s": labels_by_stem(folder, files, "scene")}
    rows: list[dict[str, Any]] = []
    for name in ("f_o", "f_s"):
        for set_name, images in x.items():
            acc = float((predict(models[name], images).argmax(1) == labels[name]).double().mean())
            rows.append({"model": name, "test_set": set_name, "quantity": "accuracy", "value": acc})
    p_with = predict(models["f_s"], x["X_os"]).softmax(1)
    p_without = predict(models["f_s"], x["X_0s"]).softmax(1)
    idx = torch.arange(len(files))
    correct = p_with.argmax(1) == labels["f_s"]
    rises = p_without[idx, labels["f_s"]] > p_with[idx, labels["f_s"]]
    value = float(rises[correct].double().mean()) if correct.any() else float("nan")
    rows.append({"model": "f_s", "test_set": "X_os->X_0s", "quantity": "confidence_increase",
                 "value": value})
    rows.extend(commonality_accuracy(folder, models, split))
    return pd.DataFrame(rows, columns=["model", "test_set", "quantity", "value"])


def commonality_accuracy(folder: BamFolder, models: dict[str, nn.Module], split: str = "test",
                         ) -> list[dict[str, Any]]:
    """Fig. 2 (bottom): each X^k model on its own test set and on the always-CF class +- CF."""
    rows: list[dict[str, Any]] = []
    cf_scene = folder.info["cf_scene"]
    cf_label = folder.info["scenes"].index(cf_scene)
    no_cf = folder.dataset("scene_only", split)
    keep = np.flatnonzero(no_cf.labels.numpy() == cf_label)
    x_no_cf = stacked(no_cf.subset(keep)) if len(keep) else None
    for k in folder.commonality_sets:
        name = f"f_{k}"
        if name not in models:
            continue
        own = folder.dataset(k, split)
        x_own = stacked(own)
        pred = predict(models[name], x_own).argmax(1)
        acc = float((pred == own.labels).double().mean())
        in_cf = own.labels == cf_label
        with_cf = float((pred[in_cf] == cf_label).double().mean())
        without = (float((predict(models[name], x_no_cf).argmax(1) == cf_label).double().mean())
                   if x_no_cf is not None else float("nan"))
        rows += [{"model": name, "test_set": k, "quantity": "accuracy", "value": acc},
                 {"model": name, "test_set": f"{cf_scene}+CF", "quantity": "accuracy",
                  "value": with_cf},
                 {"model": name, "test_set": f"{cf_scene}-CF", "quantity": "accuracy",
                  "value": without},
                 {"model": name, "test_set": cf_scene, "quantity": "accuracy_drop",
                  "value": with_cf - without}]
    return rows
