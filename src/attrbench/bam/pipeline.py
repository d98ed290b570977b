"""``attrbench bam run`` end to end: train (or resume) the BAM models, verify them, score methods.

Writes into the run folder::

    models/<f_o|f_s|f_k..>/   checkpoints and training history (resumable)
    verify.csv                Fig. 2 quantities (see :func:`attrbench.bam.models.verify`)
    metrics.csv               MCS / IDR / IIR (+ random-region baselines, X^k series), mean +- std
    per_image.parquet         g_c of every image, method and region
    delta.json                how well delta kept f(x + delta) ~ f(x), pairs excluded from IIR
    tcav_layers.csv           TCAV per model and layer: scores, t-test p-value, passed
    samples.pt                the first images and their BAM maps per method (saliency grids)
    figures/*.png, report.html  from the files above (:func:`attrbench.bam.report.write_bam_report`)
    run.json                  configuration (incl. the model-space input range) and provenance
    config.json               the folder's identity: what the models depend on

The folder is bound (``config.json``, checked before anything is trained) to what it keeps between
runs, the trained models: the BAM data's fingerprint (``manifest.csv`` SHA-256 and the build
settings) and the training options; another is refused naming what differs. The metrics are
recomputed on every run, so other metric settings replace the earlier outputs (none is left
behind) and are recorded in ``run.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from attrbench.atomic import atomic_path, write_json_atomic, write_text_atomic
from attrbench.bam.evaluate import (BamResults, BamRunConfig, _input_range, check_maps,
                                   resolve_method, run_bam_metrics)
from attrbench.bam.manifest import BamFolder
from attrbench.bam.models import load_bam_models, model_names, train_bam_models, verify
from attrbench.bam.report import write_bam_report
from attrbench.errors import AttrbenchError
from attrbench.provenance import provenance
from attrbench.results.identity import differences, normalise, summarise_differences
from attrbench.runtime import resolve_device
from attrbench.training.user_model import ModelSource, probe_identity


@dataclasses.dataclass(frozen=True)
class BamTrainOptions:
    """How the BAM models are trained (see :func:`attrbench.bam.models.train_bam_models`).

    The CPU default (small CNN, 30 epochs of batch 16 at lr 0.02) suits the shipped 64 px set;
    the paper fine-tunes ResNet-50 (``model="resnet50"`` with a suitable recipe).
    """

    model: str = "small_cnn"
    recipe: str = "quick"
    epochs: int | None = 30
    batch_size: int | None = 16
    lr: float | None = 0.02
    seed: int = 0


def bind_run_folder(folder: BamFolder, out: str | Path, train_options: BamTrainOptions) -> None:
    """Bind ``out`` to the BAM data and the training options its models depend on.

    Writes ``out/config.json`` on first use; later runs must match it.

    Raises:
        AttrbenchError: ``out`` is a file, or holds a run on other data (``manifest.csv`` SHA-256,
            build settings) or with other training options; names each difference.
    """
    out = Path(out)
    manifest = hashlib.sha256((folder.root / "manifest.csv").read_bytes()).hexdigest()
    identity = normalise({"data": {"manifest_sha256": manifest,
                                   "build": folder.info.get("config")},
                          "train": dataclasses.asdict(train_options)})
    if out.exists() and not out.is_dir():
        raise AttrbenchError(f"--out {out} is a file; pass a folder (new or a BAM run folder).")
    config_file = out / "config.json"
    if not config_file.exists():  # a new folder, or one from before config.json: its models
        out.mkdir(parents=True, exist_ok=True)  # are still checked by their own run.json
        write_json_atomic(config_file, provenance(identity, train_options.seed))
        return
    try:
        stored = json.loads(config_file.read_text()).get("config")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise AttrbenchError(f"{config_file} is unreadable; pass a new --out folder or delete "
                             "this one to start fresh.") from None
    if stored == identity:
        return
    old = stored if isinstance(stored, dict) else {}
    keys = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
    raise AttrbenchError(
        f"{out} holds BAM models of other data or training (differs in: {', '.join(keys)}): "
        f"{summarise_differences(differences(stored, identity))}. Pass a new --out folder or "
        "delete this one to start fresh (its models would be retrained).")


def run_bam(root: str | Path, out: str | Path, *,
            train_options: BamTrainOptions = BamTrainOptions(),
            run_config: BamRunConfig = BamRunConfig(), device: str = "auto",
            progress: bool = False,
            model: ModelSource | None = None,
            maps: dict[str, dict[str, Any]] | None = None) -> BamResults:
    """Train/resume the models on a built BAM folder, verify them, compute the metrics, report.

    Args:
        root: the built BAM folder (``attrbench bam build`` output, or the shipped ``bam_mini``).
        out: run folder (created; models resume there).
        train_options: model training.
        run_config: metric settings.
        device: ``auto``, ``cpu``, ``cuda``.
        progress: progress bars while training.
        model: a user builder ``callable(num_classes) -> nn.Module`` or ``nn.Module`` template
            trained instead of ``train_options.model`` (see
            :func:`~attrbench.bam.models.train_bam_models`); the folder records its class.
        maps: precomputed maps of some methods, passed to
            :func:`~attrbench.bam.evaluate.run_bam_metrics` (``{label: {"fo_xos", "fs_xos",
            "fs_x0s": values}}``, see :func:`~attrbench.bam.evaluate.given_maps`): their MCS and
            IDR use them; IIR and the X^k series still run the label's method. They must be
            maps of this folder's trained f_o / f_s; checked before anything is trained.

    Returns:
        The :class:`BamResults` (also written to ``out``).
    """
    folder, out = BamFolder(root), Path(out)
    for label in run_config.methods:  # before the first write or any training
        resolve_method(label, 0.0)
    check_maps(folder, run_config, maps)
    if model is not None:  # the folder is bound to the user model's class
        image_shape = tuple(folder.dataset("scene", "train").spec.image_shape)
        user = probe_identity(model, len(folder.info["objects"]), image_shape, train_options.seed)
        train_options = dataclasses.replace(train_options, model=user["model"])
    bind_run_folder(folder, out, train_options)
    commonality = run_config.commonality and bool(folder.commonality_sets)
    train_bam_models(folder, out, model=train_options.model if model is None else model,
                     recipe=train_options.recipe,
                     epochs=train_options.epochs, seed=train_options.seed, device=device,
                     commonality=commonality, progress=progress,
                     batch_size=train_options.batch_size, lr=train_options.lr)
    models = load_bam_models(out, list(model_names(folder, commonality)), resolve_device(device),
                             model=model)
    checks = verify(folder, models, run_config.split)
    write_text_atomic(out / "verify.csv", checks.to_csv(index=False))
    results = run_bam_metrics(folder, models, run_config, maps=maps)
    write_text_atomic(out / "metrics.csv", results.metrics.to_csv(index=False))
    results.per_image.to_parquet(out / "per_image.parquet", index=False)
    write_json_atomic(out / "delta.json", results.delta)
    if results.tcav is not None:
        write_text_atomic(out / "tcav_layers.csv", results.tcav.to_csv(index=False))
    else:  # an earlier run's table must not stand beside these results
        (out / "tcav_layers.csv").unlink(missing_ok=True)
    for stale in (out / "figures").glob("*.png"):  # the report writes this run's figures
        stale.unlink()
    low, high = _input_range(folder.dataset("scene", run_config.split))
    config: dict[str, Any] = {"root": str(folder.root), "train": dataclasses.asdict(train_options),
                              "run": dataclasses.asdict(run_config), "device": device,
                              "input_range": [float(low.min()), float(high.max())]}
    write_json_atomic(out / "run.json", provenance(config, run_config.seed))
    with atomic_path(out / "samples.pt") as tmp:
        torch.save({m: dict(s) for m, s in results.samples.items()}, tmp)
    write_bam_report(out)
    return results
