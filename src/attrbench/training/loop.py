"""The one training loop: SGD + schedule + batch augmentation, atomic per-epoch state, exact resume.

Each batch, after its crops, flips and augmentation, goes to the run's training regime
(:mod:`attrbench.training.regimes`: natural, PGD or IG-NORM), which makes its x' and its objective.

Determinism: every epoch draws its shuffling, its crops and flips, the regime's random starts and
its FPA / Rectangle augmentation from separate generators seeded by ``(seed, epoch, stream)``, so
a run resumed after ``kill -9`` at any point produces the same weights as an uninterrupted run
(on CPU; cuDNN may be non-deterministic on GPU), and runs that differ only in ``augment`` (none /
FPA / Rectangle) see the same batches, crops and flips: the none-vs-FPA comparison is paired.

Data: a training split small enough to hold in memory (``IN_MEMORY_LIMIT_BYTES`` as float32, e.g. the
50,000 CIFAR-10 images = 614 MB) is decoded once and batched by index on the training device; larger
ones stream through a ``DataLoader``. Both shuffle with the epoch's shuffle generator, but not into
the same order (``RandomSampler`` draws a seed from it first), so the two paths are not interchangeable.

Files written to ``out_dir``:
    run.json           provenance: resolved config, seed, git revision, library versions
    history.json       per-epoch train loss/accuracy, test accuracy, learning rate, seconds
    resume.pt          model + optimiser + scheduler state after the last completed epoch
    model.safetensors  weights after the last completed epoch, with model.json (checkpoint sidecar)
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from attrbench.adversarial import InputSpace
from attrbench.atomic import atomic_path, write_json_atomic
from attrbench.augment import create_augmentation
from attrbench.data import load_dataset
from attrbench.errors import AttrbenchError
from attrbench.models import check_input_compatible, create_model, save_checkpoint
from attrbench.provenance import provenance
from attrbench.runtime import make_generator, match_memory_format, seed_everything, use_channels_last
from attrbench.training.batch_transforms import crop_fill_values, random_crop, random_hflip
from attrbench.training.config import TrainConfig
from attrbench.training.distributed import (LocalBatch, accuracy_counts, all_reduce_sum, barrier,
                                            broadcast_buffers, env_world, rank_batches, rank_seed,
                                            wrap_model)
from attrbench.training.distributed import setup as setup_distributed
from attrbench.training.init_weights import load_initial_weights
from attrbench.training.user_model import (ModelSource, build_user_model, is_user_label,
                                           save_user_weights)
from attrbench.training.regimes import REGIMES, Regime, create_regime, training_step
from attrbench.progress import progress_bar

_STATE_FILE = "resume.pt"
_HISTORY_FILE = "history.json"
_RUN_FILE = "run.json"
_RUNTIME_KEYS = frozenset({"device"})
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3
# Generator streams of one epoch; FPA / Rectangle draw from their own, so they never shift the
# crops and flips of the batches that follow.
_SHUFFLE, _CROP_FLIP, _ADVERSARY, _AUGMENT = 0, 1, 2, 3


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        out_dir: folder with the checkpoint, history and provenance.
        model: the trained model, in eval mode, on the training device.
        history: one dict per completed epoch.
        test_accuracy: accuracy (fraction in [0, 1]) on the test split after the last epoch.
        checkpoint: path of ``model.safetensors``.
    """

    out_dir: Path
    model: nn.Module
    history: list[dict[str, float]]
    test_accuracy: float
    checkpoint: Path


def training_finished(out_dir: str | Path) -> bool:
    """True if training folder ``out_dir`` holds its last epoch: ``history.json`` as long as the
    epochs its ``run.json`` asks for, and ``resume.pt`` (written last), so :func:`train` with the
    same settings loads that model instead of training."""
    out_dir = Path(out_dir)
    try:
        epochs = int(json.loads((out_dir / _RUN_FILE).read_text())["config"]["epochs"])
        done = len(json.loads((out_dir / _HISTORY_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return done >= epochs and (out_dir / _STATE_FILE).is_file()


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A distinct, reproducible seed per (run seed, epoch, random stream)."""
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729) % (2**63 - 1)


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate used during ``epoch`` (0-based) under the config's schedule."""
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1.0 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr


def evaluate_accuracy(model: nn.Module, dataset: Dataset, *, batch_size: int = 256,
                      device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (fraction in [0, 1]); the model's mode is restored."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False,
                               pin_memory=torch.device(device).type == "cuda"):
            logits = model(match_memory_format(model, x.to(device, non_blocking=True)))
            correct += int((logits.argmax(1).cpu() == y).sum())
            total += int(y.numel())
    model.train(was_training)
    if total == 0:
        raise AttrbenchError("Cannot compute accuracy on an empty dataset; check the split and limit.")
    return correct / total


def _read_resume_state(path: Path, device: torch.device) -> dict[str, Any]:
    """``resume.pt`` read weights-only (a pickle with code in it is refused, never run).

    Raises:
        AttrbenchError: a truncated, foreign or unsafe file, in one line that says what to do.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for bad files
        raise AttrbenchError(
            f"{path} is not a readable training state (truncated, or not written by attrbench "
            f"train: {type(exc).__name__}); delete it to restart training, or pass another "
            "--out.") from None
    if not isinstance(state, dict):
        raise AttrbenchError(f"{path} is not a training state written by attrbench train; delete "
                             "it to restart training, or pass another --out.")
    return state


def _check_same_config(out_dir: Path, config: dict[str, Any]) -> None:
    run_file = out_dir / _RUN_FILE
    if not run_file.exists():
        return
    stored = TrainConfig.upgrade_dict(json.loads(run_file.read_text())["config"])
    config = TrainConfig.upgrade_dict(config)
    # A run written before an option existed had that option's default.
    defaults = TrainConfig.default_values()
    # Except train_subset: before it existed, train_limit took the first N images.
    stored = {**{k: v for k, v in defaults.items() if k not in stored},
              "train_subset": "first", **stored}
    if stored.get("train_limit") is None and config.get("train_limit") is None:
        stored.pop("train_subset")  # all training images either way
        config = {k: v for k, v in config.items() if k != "train_subset"}
    # Where the run executes is not part of its identity: a CPU run may resume on a GPU.
    diff = sorted(k for k in set(stored) | set(config)
                  if k not in _RUNTIME_KEYS and stored.get(k) != config.get(k))
    if diff:
        hint = ""
        if "train_subset" in diff and stored.get("train_subset") == "first":
            hint = (f" (it trained on the first {stored.get('train_limit')} training images; "
                    "to resume it, train with train_subset='first': attrbench train --config "
                    'with train_subset = "first" in its [train] table)')
        raise AttrbenchError(
            f"{out_dir} holds a run with a different config (differs in: {', '.join(diff)}){hint}; "
            "choose another --out or delete the folder to start fresh.")


def load_training_data(cfg: TrainConfig) -> tuple[Dataset, Dataset]:
    """The ``(train_set, test_set)`` of ``cfg``: ``train_limit`` images of the training split
    as ``cfg.train_subset`` says (a stratified draw seeded by ``cfg.seed`` by default), and the
    first ``test_limit`` test images."""
    train_set = load_dataset(cfg.dataset, split="train", root=cfg.data_root,
                             limit=cfg.train_limit, image_size=cfg.image_size,
                             limit_mode=cfg.train_subset, seed=cfg.seed)
    test_set = load_dataset(cfg.dataset, split="test", root=cfg.data_root,
                            limit=cfg.test_limit, image_size=cfg.image_size)
    return train_set, test_set


def train(cfg: TrainConfig, out_dir: str | Path, *, progress: bool = True,
          on_epoch_end: Callable[[int], None] | None = None,
          datasets: tuple[Dataset, Dataset] | None = None,
          dist_backend: str = "auto", model: ModelSource | None = None) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.dataset`` and write checkpoints to ``out_dir``; resume if possible.

    Args:
        cfg: resolved configuration.
        out_dir: run folder; created if missing. A folder from an interrupted run with the same
            config resumes after its last completed epoch; a finished run is loaded, not retrained.
        progress: show a progress bar.
        on_epoch_end: called with the 0-based epoch index after each epoch's state is on disk
            (tests use it to simulate a crash).
        datasets: ``(train_set, test_set)`` to use instead of loading ``cfg.dataset`` (e.g. the
            modified in-memory data of ROAR); each needs a ``.spec``. ``cfg.dataset`` then only
            names the data in ``run.json``, so give it a stable key that identifies the data.
        dist_backend: under ``torchrun`` (``WORLD_SIZE`` > 1): ``auto`` (NCCL on CUDA, gloo on
            CPU), ``gloo`` or ``nccl``; every process calls ``train`` with the same arguments and
            takes its share of each global batch of ``cfg.batch_size`` images
            (:mod:`attrbench.training.distributed`). Ignored in a single process.
        model: train this instead of ``cfg.model``: an ``nn.Module`` (trained as given) or a
            builder ``callable(num_classes) -> nn.Module`` / ``callable() -> nn.Module`` called
            after seeding (:mod:`attrbench.training.user_model`). ``run.json`` then records
            ``model = "user:<module>.<qualname>"`` and ``model_init_sha256`` (its initial
            ``state_dict``), so a resume with another module is refused; the checkpoint is the
            plain ``state_dict`` (load it with ``load_user_weights``).

    Raises:
        AttrbenchError: bad names, data that does not fit the model, a folder with another config,
            or a distributed setting that cannot work (see
            :func:`attrbench.training.distributed.setup`).
    """
    out_dir = Path(out_dir)
    source, config = model, cfg.to_dict()
    if source is None:  # a user model's identity is known once it is built (below)
        _check_same_config(out_dir, config)
    if REGIMES.get(cfg.regime).factory.one_process and env_world()[1] > 1:
        raise AttrbenchError(f"Training regime {cfg.regime!r} runs in one process only; drop "
                             "--nproc / torchrun for it.")
    ctx, device = setup_distributed(cfg.device, backend=dist_backend, sync_bn=cfg.sync_bn,
                                    batch_size=cfg.batch_size)

    if datasets is not None:
        train_set, test_set = datasets
    else:
        train_set, test_set = load_training_data(cfg)
    spec = train_set.spec
    seed_everything(cfg.seed)
    if source is None:
        model = create_model(cfg.model, num_classes=spec.num_classes,
                             in_channels=spec.image_shape[0])
    else:  # a user module or builder: run.json records its class and initial weights
        model, user = build_user_model(source, spec.num_classes, tuple(spec.image_shape))
        cfg = dataclasses.replace(cfg, model=user["model"])
        config = {**cfg.to_dict(), **user}
        _check_same_config(out_dir, config)
    check_input_compatible(model, spec.image_shape)
    parent = None
    if cfg.init is not None:
        parent = load_initial_weights(model, cfg.init, architecture=cfg.model,
                                      num_classes=spec.num_classes)
    crop_fill = crop_fill_values(cfg.crop_fill, spec.mean, spec.std)
    use_channels_last(model.to(device))
    augmentation = create_augmentation(cfg.augment, preset=cfg.augment_preset, **cfg.augment_params)
    regime = create_regime(cfg.regime, cfg.regime_preset, cfg.regime_params,
                           InputSpace.from_stats(spec.mean, spec.std))

    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    start_epoch = 0
    state_path = out_dir / _STATE_FILE
    if state_path.exists():
        state = _read_resume_state(state_path, device)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch = int(state["epoch"]) + 1
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise AttrbenchError(
                f"{state_path} does not hold this run's training state ({str(exc)[:120]}); "
                "delete it to restart training, or pass another --out.") from None
        history = json.loads((out_dir / _HISTORY_FILE).read_text())[:start_epoch]
    elif ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / _RUN_FILE, provenance(config, cfg.seed))
    net = wrap_model(ctx, model, device, cfg.sync_bn)  # `model` itself in one process

    use_amp = cfg.amp
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    if len(train_set) == 0:
        raise AttrbenchError(f"The training split of {cfg.dataset!r} is empty.")
    in_memory = (_materialise(train_set, device)
                 if len(train_set) * math.prod(spec.image_shape) * 4 <= IN_MEMORY_LIMIT_BYTES
                 else None)
    with progress_bar(progress and ctx.is_main,  # one bar, on rank 0, under torchrun
                      total=steps_per_epoch * (cfg.epochs - start_epoch),
                      description=f"train {cfg.model}/{cfg.augment}") as advance:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            lr = _lr_at(cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            shuffle_gen = make_generator(_epoch_seed(cfg.seed, epoch, _SHUFFLE))
            # One process: rank_seed returns the epoch seed unchanged; else per rank.
            crop_gen, adv_gen, aug_gen = (
                make_generator(rank_seed(_epoch_seed(cfg.seed, epoch, stream), ctx.rank,
                                         ctx.world_size), device)
                for stream in (_CROP_FLIP, _ADVERSARY, _AUGMENT))
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            pin = device.type == "cuda"
            batches = (rank_batches(train_set, in_memory, cfg.batch_size, shuffle_gen, ctx, pin)
                       if ctx.distributed else
                       _batches(train_set, in_memory, cfg.batch_size, shuffle_gen, pin))
            for batch in batches:
                x, y = (batch.x, batch.y) if isinstance(batch, LocalBatch) else batch
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if cfg.crop_padding:
                    x = random_crop(x, cfg.crop_padding, crop_gen, fill=crop_fill)
                if cfg.hflip:
                    x = random_hflip(x, crop_gen)
                x = match_memory_format(model, augmentation(x, aug_gen))
                if isinstance(batch, LocalBatch):
                    stats = _distributed_step(net, model, optimizer, regime, x, y, batch, cfg,
                                              ctx, device, epoch, adv_gen)
                    loss_sum += stats[0]
                    correct, seen = correct + stats[1], seen + stats[2]
                    advance(1)
                    continue
                loss, logits = training_step(regime, model, optimizer, x, y, adv_gen,
                                             label_smoothing=cfg.label_smoothing, amp=use_amp,
                                             where=f" in epoch {epoch + 1}")
                loss_sum += float(loss) * y.numel()
                correct += int((logits.argmax(1) == y).sum())
                seen += int(y.numel())
                advance(1)
            if ctx.distributed:
                broadcast_buffers(ctx, model)  # rank 0's BatchNorm statistics, on every rank
                hits, total = accuracy_counts(model, test_set, ctx, device)
                if total == 0:
                    raise AttrbenchError("Cannot compute accuracy on an empty test split; check "
                                         "the split and --test-limit.")
                test_acc = hits / total
            else:
                test_acc = evaluate_accuracy(model, test_set, device=device)
            history.append({"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / seen,
                            "train_accuracy": correct / seen, "test_accuracy": test_acc,
                            "seconds": time.perf_counter() - t0})
            if ctx.is_main:
                _save_epoch(out_dir, cfg, model, optimizer, epoch, history, spec, augmentation,
                            regime, parent)
            barrier(ctx, device)  # every rank sees epoch `epoch` on disk before going on
            if on_epoch_end is not None:
                on_epoch_end(epoch)

    model.eval()
    test_acc = history[-1]["test_accuracy"]
    return TrainResult(out_dir=out_dir, model=model, history=history, test_accuracy=test_acc,
                       checkpoint=out_dir / "model.safetensors")


def _materialise(dataset: Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as ``(images (N, C, H, W) float32, labels (N,) int64)`` on ``device``."""
    xs, ys = [], []
    for x, y in DataLoader(dataset, batch_size=1024, shuffle=False):
        xs.append(x)
        ys.append(torch.as_tensor(y))
    return torch.cat(xs).to(device), torch.cat(ys).to(device)


def _batches(dataset: Dataset, in_memory: tuple[torch.Tensor, torch.Tensor] | None,
             batch_size: int, generator: torch.Generator, pin_memory: bool = False) -> Any:
    """Shuffled ``(x, y)`` batches of one epoch; the order is ``randperm(N, generator)`` either way
    (in memory: ``randperm(N, generator)``; streamed: ``DataLoader``'s own order from the same
    generator, which differs)."""
    if in_memory is None:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator,
                              pin_memory=pin_memory)
        return
    images, labels = in_memory
    order = torch.randperm(len(labels), generator=generator).to(labels.device)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield images[idx], labels[idx]


def _distributed_step(net: nn.Module, model: nn.Module, optimizer: torch.optim.Optimizer,
                      regime: Regime, x: torch.Tensor, y: torch.Tensor, batch: LocalBatch,
                      cfg: TrainConfig, ctx: Any, device: torch.device, epoch: int,
                      generator: torch.Generator) -> tuple[float, int, int]:
    """One SGD step of a data-parallel run on this rank's share ``x`` (b, C, H, W), ``y`` (b,).

    The regime's x' is made on the bare ``model`` (no gradient hooks: its input gradients only),
    its objective through the DDP wrapper ``net``.

    The loss is the sum over this rank's images times ``world_size / global_batch``, so DDP's
    gradient average equals the gradient of the mean loss over the global batch (also for an
    uneven last batch; a borrowed image has weight 0). Returns the global ``(loss sum, correct,
    images)`` of the step, identical on every rank, after checking the loss is finite everywhere.
    """
    x_adv = regime.perturb(model, x, y, generator)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
        per_image, logits = regime.loss(net, x, x_adv, y, label_smoothing=cfg.label_smoothing,
                                        reduction="none")
        local_sum = per_image[:batch.real].sum()
    hits = (logits[:batch.real].argmax(1) == y[:batch.real]).sum()
    total_loss, total_hits, total_n = all_reduce_sum(ctx, [local_sum, hits, batch.real], device)
    if not math.isfinite(total_loss):
        raise AttrbenchError(f"Training diverged (loss {total_loss / total_n}) in epoch "
                             f"{epoch + 1}; lower --lr.")
    optimizer.zero_grad(set_to_none=True)
    (local_sum * (ctx.world_size / batch.global_size)).backward()
    optimizer.step()
    return total_loss, int(total_hits), int(total_n)


def _save_epoch(out_dir: Path, cfg: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                epoch: int, history: list[dict[str, float]], spec: Any, augmentation: Any,
                regime: Regime, parent: dict[str, Any] | None = None) -> None:
    """Write checkpoint, history and resume state; resume state last, so it never runs ahead."""
    metadata = {
        "architecture": cfg.model,
        "classes": list(spec.classes),
        "normalization": {"mean": list(spec.mean), "std": list(spec.std)},
        "augmentation": {"name": cfg.augment, "preset": cfg.augment_preset,
                         "overrides": cfg.augment_params,
                         "resolved": dataclasses.asdict(augmentation.config)
                         if dataclasses.is_dataclass(augmentation.config) else None},
        "regime": regime.record(),
        "config": cfg.to_dict(),
        "metrics": {"epoch": epoch + 1, "test_accuracy": history[-1]["test_accuracy"],
                    "train_accuracy": history[-1]["train_accuracy"]},
        "crop": {"padding": cfg.crop_padding, "fill": cfg.crop_fill},
        "parent": parent,
        "seed": cfg.seed,
        "dataset": cfg.dataset,
    }
    if is_user_label(cfg.model):  # not in the registry: the plain state_dict
        save_user_weights(model, out_dir / "model", metadata)
    else:
        save_checkpoint(model, out_dir / "model", metadata)
    write_json_atomic(out_dir / _HISTORY_FILE, history)
    with atomic_path(out_dir / _STATE_FILE) as tmp:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch}, tmp)
