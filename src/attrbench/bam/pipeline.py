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
    tables/<name>/all.parquet verify, metrics, per_image, tcav_layers as store tables

Every file is written atomically through the folder's :class:`~attrbench.results.ResultStore`
(benchmark ``bam``); the CSV files are copies of the tables, for the report and for users.

The folder is bound (``config.json``, checked before anything is trained) to what it keeps between
runs, the trained models: the BAM data's fingerprint (``manifest.csv`` SHA-256 and the build
settings) and the training options; another is refused naming what differs. The metrics are
recomputed on every run, so other metric settings replace the earlier outputs (none is left
behind) and are recorded in ``run.json``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from attrbench.atomic import atomic_path
from attrbench.bam.evaluate import (BamResults, BamRunConfig, _input_range, check_maps,
                                   resolve_method, run_bam_metrics)
from attrbench.bam.manifest import BamFolder
from attrbench.bam.models import load_bam_models, model_names, train_bam_models, verify
from attrbench.bam.report import write_bam_report
from attrbench.errors import AttrbenchError
from attrbench.models.checkpoint import file_sha256
from attrbench.provenance import provenance
from attrbench.results.store import ResultStore
from attrbench.runtime import resolve_device
from attrbench.training.user_model import ModelSource, probe_identity


@dataclasses.dataclass(frozen=True)
class BamTrainOptions:
    """How the BAM models are trained (see :func:`attrbench.bam.models.train_bam_models`).

    The plain default (small CNN, 30 epochs of batch 16 at lr 0.02, from scratch) suits the
    shipped 64 px ``bam_mini`` set; :data:`BAM_PRESETS` holds named settings for larger sets
    (``cpu``: the 10 x 10 MiniPlaces set at 32 px); the paper fine-tunes ImageNet ResNet-50s
    (``model="resnet50"`` with a suitable recipe).

    Attributes:
        model: registered architecture of every model.
        recipe: training recipe the other fields override.
        epochs: epochs of f_o and f_s (and of the X^k models unless ``k_epochs`` is given).
        batch_size, lr: recipe overrides (None keeps the recipe's).
        seed: training seed, the same for every model.
        k_epochs: epochs of each X^k model (None = ``epochs``). The X^k training sets are
            ``1 / |objects|`` the size of f_s's, so they need more epochs for as many steps.
        init: start every model from these weights (a shipped model such as
            ``cifar_resnet20.none`` or a checkpoint; see ``TrainConfig.init``); None = random.
        amp: bfloat16 autocast while training (CPUs with AVX-512 BF16 and CUDA).
    """

    model: str = "small_cnn"
    recipe: str = "quick"
    epochs: int | None = 30
    batch_size: int | None = 16
    lr: float | None = 0.02
    seed: int = 0
    k_epochs: int | None = None
    init: str | None = None
    amp: bool = False

    def identity(self) -> dict[str, Any]:
        """The fields that bind a run folder; the later fields only where they are set, so a
        folder written before they existed keeps its identity."""
        out = dataclasses.asdict(self)
        for name in _LATER_FIELDS:
            if out[name] == _LATER_FIELDS[name]:
                del out[name]
        return out


#: Fields added to :class:`BamTrainOptions` after run folders existed, with their defaults.
_LATER_FIELDS: dict[str, Any] = {"k_epochs": None, "init": None, "amp": False}


@dataclasses.dataclass(frozen=True)
class BamPreset:
    """A named BAM setting: the data to build, how to train, and the metric settings.

    Attributes:
        name: ``--preset`` value.
        description: what it is for and how long it takes (shown by ``--help``).
        build: :class:`~attrbench.bam.build.BamBuildConfig` fields the data must have been built
            with (``attrbench bam build --preset`` uses them; ``run`` checks them).
        train: how the models are trained.
        run: :class:`~attrbench.bam.evaluate.BamRunConfig` field defaults.
    """

    name: str
    description: str
    build: dict[str, Any]
    train: BamTrainOptions
    run: dict[str, Any]


#: Named presets. ``cpu``: every object and scene class of ``shared/data/miniplaces`` (10 x 10),
#: 300 images per pair (every scene image; crops cycle within disjoint train / held-out pools),
#: 32 px, ResNet-20s fine-tuned from the shipped CIFAR-10 ResNet-20 (the paper fine-tunes
#: ImageNet ResNet-50s); metrics on 200 held-out images, trials of 50 pairs.
BAM_PRESETS: dict[str, BamPreset] = {p.name: p for p in (
    BamPreset(
        name="cpu",
        description="10 x 10 MiniPlaces set at 32 px, 300 images per pair; ResNet-20s "
                    "fine-tuned from cifar_resnet20.none (f_o, f_s 10 epochs, X^k 12), lr 0.05 "
                    "cosine, batch 128; 200 test images, 10 trials of 50 pairs. About 75 min on "
                    "one CPU core.",
        build={"per_pair": 300, "image_size": 32, "val_fraction": 0.1},
        train=BamTrainOptions(model="cifar_resnet20", recipe="finetune", epochs=10, batch_size=128,
                              lr=0.05, seed=0, k_epochs=12, init="cifar_resnet20.none", amp=True),
        run={"num_images": 200, "n_trials": 10, "trial_size": 50},
    ),
)}


def get_preset(name: str) -> BamPreset:
    """The preset called ``name``.

    Raises:
        AttrbenchError: unknown name (lists the valid ones).
    """
    if name not in BAM_PRESETS:
        raise AttrbenchError(f"Unknown BAM preset {name!r}; valid: {', '.join(BAM_PRESETS)}.")
    return BAM_PRESETS[name]


def check_preset_data(preset: BamPreset, folder: BamFolder) -> None:
    """Refuse data built with other settings than ``preset.build`` (or objects/scenes missing).

    Raises:
        AttrbenchError: names each differing build setting and the command that builds the data.
    """
    built = folder.info.get("config") or {}
    wrong = [f"{k} = {built.get(k)!r} (preset: {v!r})" for k, v in preset.build.items()
             if built.get(k) != v]
    if wrong:
        raise AttrbenchError(
            f"{folder.root} was not built for preset {preset.name!r}: {'; '.join(wrong)}. Build "
            f"it with 'attrbench bam build --out NEW_FOLDER --preset {preset.name} --miniplaces DIR'.")


def bind_run_folder(folder: BamFolder, out: str | Path,
                    train_options: BamTrainOptions) -> ResultStore:
    """Bind ``out`` to the BAM data and the training options its models depend on.

    Writes ``out/config.json`` on first use; later runs must match it.

    Returns:
        The folder's :class:`~attrbench.results.ResultStore` (benchmark ``bam``).

    Raises:
        AttrbenchError: ``out`` is a file, or holds a run on other data (``manifest.csv`` SHA-256,
            build settings) or with other training options; names each difference.
    """
    manifest = file_sha256(folder.root / "manifest.csv")
    identity = {"data": {"manifest_sha256": manifest, "build": folder.info.get("config")},
                "train": train_options.identity()}
    # A folder from before config.json gets one; its models are still checked by their run.json.
    return ResultStore(out, identity, train_options.seed, benchmark="bam")


def train_models(folder: BamFolder, out: str | Path, options: BamTrainOptions, *,
                 device: str = "auto", commonality: bool = True, progress: bool = False,
                 model: ModelSource | None = None) -> dict[str, Path]:
    """:func:`~attrbench.bam.models.train_bam_models` with ``options`` (train, resume or load)."""
    return train_bam_models(folder, out, model=options.model if model is None else model,
                            recipe=options.recipe,
                            epochs=options.epochs, seed=options.seed, device=device,
                            commonality=commonality, progress=progress,
                            k_epochs=options.k_epochs, batch_size=options.batch_size,
                            lr=options.lr, init=options.init, amp=options.amp or None)


#: BAM outputs: stored as one-shard tables (``tables/<name>/all.parquet``) and, except
#: ``per_image``, as the ``<name>.csv`` copies the report and users read.
OUTPUTS = ("verify", "metrics", "per_image", "tcav_layers")


def write_outputs(store: ResultStore, **frames: pd.DataFrame | None) -> None:
    """Atomically write BAM output tables (names from :data:`OUTPUTS`) into ``store``.

    Each frame replaces its table (BAM metrics are recomputed on every run, not resumed); a
    None frame removes that output, so no table of an earlier run stands beside these
    results. ``per_image`` is also kept as ``per_image.parquet`` (its documented name).
    """
    for name, frame in frames.items():
        if name not in OUTPUTS:
            raise ValueError(f"unknown BAM output {name!r}; valid: {', '.join(OUTPUTS)}")
        table = store.table(name)
        for key in table.keys():
            table.delete(key)
        copy = "per_image.parquet" if name == "per_image" else f"{name}.csv"
        if frame is None:
            (store.root / copy).unlink(missing_ok=True)
            continue
        table.write("all", frame)
        if name == "per_image":
            store.write_bytes(copy, table.path("all").read_bytes())
        else:
            store.write_bytes(copy, frame.to_csv(index=False).encode("utf-8"))


def run_bam(root: str | Path, out: str | Path, *,
            train_options: BamTrainOptions = BamTrainOptions(),
            run_config: BamRunConfig = BamRunConfig(), device: str = "auto",
            progress: bool = False, preset: str | None = None,
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
        preset: name of the :data:`BAM_PRESETS` entry the options came from: the data must have
            been built with its build settings; recorded in ``run.json``.

    Returns:
        The :class:`BamResults` (also written to ``out``).

    Raises:
        AttrbenchError: unknown preset or data not built for it, a run folder bound to other
            data or training, unknown methods.
    """
    folder, out = BamFolder(root), Path(out)
    if preset is not None:
        check_preset_data(get_preset(preset), folder)
    for label in run_config.methods:  # before the first write or any training
        resolve_method(label, 0.0)
    check_maps(folder, run_config, maps)
    if model is not None:  # the folder is bound to the user model's class
        image_shape = tuple(folder.dataset("scene", "train").spec.image_shape)
        user = probe_identity(model, len(folder.info["objects"]), image_shape, train_options.seed)
        train_options = dataclasses.replace(train_options, model=user["model"])
    store = bind_run_folder(folder, out, train_options)
    commonality = run_config.commonality and bool(folder.commonality_sets)
    train_models(folder, out, train_options, device=device, commonality=commonality,
                 progress=progress, model=model)
    models = load_bam_models(out, list(model_names(folder, commonality)), resolve_device(device),
                             model=model)
    t_verify = time.perf_counter()
    checks = verify(folder, models, run_config.split)
    write_outputs(store, verify=checks)
    t_metrics = time.perf_counter()
    results = run_bam_metrics(folder, models, run_config, maps=maps)
    write_outputs(store, metrics=results.metrics, per_image=results.per_image,
                  tcav_layers=results.tcav)
    store.write_json("delta.json", results.delta)
    for stale in (out / "figures").glob("*.png"):  # the report writes this run's figures
        stale.unlink()
    low, high = _input_range(folder.dataset("scene", run_config.split))
    config: dict[str, Any] = {"root": str(folder.root), "preset": preset,
                              "build": folder.info.get("config"),
                              "train": dataclasses.asdict(train_options),
                              "run": dataclasses.asdict(run_config), "device": device,
                              "input_range": [float(low.min()), float(high.max())],
                              "seconds": {"verify": t_metrics - t_verify,
                                          "metrics": time.perf_counter() - t_metrics}}
    store.write_json("run.json", provenance(config, run_config.seed))
    with atomic_path(out / "samples.pt") as tmp:
        torch.save({m: dict(s) for m, s in results.samples.items()}, tmp)
    write_bam_report(out)
    return results
