"""Data-parallel training under ``torchrun``: process group, per-rank batches, seeds, reductions.

The one training loop (:func:`attrbench.training.train`) calls :func:`setup` first. Without
``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) it only resolves the device and the loop
runs exactly as it always has. Under ``torchrun --nproc-per-node N`` every process (rank) runs the
same loop and:

- draws the same global permutation of the training split per epoch (the shuffle generator is
  seeded from ``(seed, epoch)`` only) and takes its contiguous share of every global batch of
  ``batch_size`` images (:func:`local_slice`; the last, partial batch is split as evenly as
  possible), so the global batch, and with BN-free models the weights, equal a 1-process run's
  within float tolerance. PyTorch's ``DistributedSampler`` is not used: it interleaves ranks
  (``indices[rank::N]``) and pads the last batch with repeated samples;
- sums its per-sample losses and scales them by ``N / global_batch``, so DDP's gradient average is
  exactly the gradient of the global batch mean, also for uneven last batches;
- draws crops, flips, FPA / Rectangle masks and PGD starts from generators seeded by
  ``(seed, epoch, stream, rank, N)`` (:func:`rank_seed`), so ranks never repeat each other's
  draws and a resumed run replays them exactly (same N);
- BatchNorm normalises with the statistics of its own share of the batch (as in every DDP run)
  unless ``sync_bn`` converts it to ``nn.SyncBatchNorm`` (CUDA only: PyTorch has no CPU kernel);
  rank 0's running statistics are broadcast before each test pass and checkpoint;
- the test pass splits the test split into contiguous, disjoint shares and sums the counts: no
  padding with duplicates, so the accuracy is the 1-process accuracy;
- only rank 0 writes files (atomically, as in 1 process); the others wait at a barrier, so the
  on-disk state after epoch ``e`` is complete before any rank starts epoch ``e + 1``. After a
  crash of any rank, ``torchrun`` stops the others and rerunning the same command resumes from
  the last completed epoch.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from attrbench.errors import AttrbenchError
from attrbench.runtime import hash_seed, resolve_device

BACKENDS = ("auto", "gloo", "nccl")
_DEVICE_INDEX_RE = re.compile(r"^cuda:\d+$")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a data-parallel run.

    Attributes:
        rank: global rank in ``[0, world_size)`` (0 writes the files).
        world_size: number of processes; 1 = no process group, the plain single-process loop.
        local_rank: rank on this node (selects ``cuda:local_rank``).
        backend: ``"gloo"`` or ``"nccl"``; None when ``world_size == 1``.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the rank that writes checkpoints, history and provenance."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise AttrbenchError(f"Environment variable {name}={raw!r} is not an integer; launch with "
                             "torchrun, which sets it.") from None


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the variables ``torchrun`` sets (1 process if
    unset)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise AttrbenchError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent; launch with "
                             "torchrun (or `attrbench train --nproc N`).")
    return rank, world, local


def check_batch_size(batch_size: int, world_size: int) -> None:
    """Refuse a global batch that the processes cannot share evenly.

    Raises:
        AttrbenchError: ``batch_size`` is not a multiple of ``world_size``.
    """
    if batch_size % world_size:
        lower = batch_size - batch_size % world_size
        raise AttrbenchError(
            f"--batch-size {batch_size} (the global batch) does not split evenly over "
            f"{world_size} processes; pass a multiple of {world_size} (e.g. {lower or world_size}) "
            "or change --nproc-per-node.")


def setup(device: str, *, backend: str = "auto", sync_bn: bool = False,
          batch_size: int | None = None) -> tuple[DistContext, torch.device]:
    """Resolve the device and, under ``torchrun``, join the process group (once per process).

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. With several processes, ``cuda`` (or
            ``auto`` on a GPU machine) becomes ``cuda:LOCAL_RANK``.
        backend: ``auto`` (NCCL on CUDA, gloo on CPU), ``gloo`` or ``nccl``.
        sync_bn: whether SyncBatchNorm was asked for (checked against the device).
        batch_size: the global batch, checked to split evenly over the processes.

    Returns:
        ``(context, device)``; with one process the device is exactly :func:`resolve_device`'s.

    Raises:
        AttrbenchError: unknown backend, NCCL without CUDA, an explicit ``cuda:N`` or too few GPUs
            for several processes, SyncBatchNorm on CPU, a batch the processes cannot share, or a
            CUDA device on a machine without one.
    """
    if backend not in BACKENDS:
        raise AttrbenchError(f"Unknown distributed backend {backend!r}; use one of "
                             f"{', '.join(BACKENDS)}.")
    rank, world, local = env_world()
    if world == 1:
        return DistContext(), resolve_device(device)
    if _DEVICE_INDEX_RE.match(device):
        raise AttrbenchError(f"--device {device} names one GPU for all {world} processes; pass "
                             "--device cuda (each process uses cuda:LOCAL_RANK).")
    dev = resolve_device(device)
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        if local >= count:
            raise AttrbenchError(f"Process with LOCAL_RANK={local} needs cuda:{local} but "
                                 f"{count} GPU(s) are visible; start at most {count} processes "
                                 "per node.")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    chosen = ("nccl" if dev.type == "cuda" else "gloo") if backend == "auto" else backend
    if chosen == "nccl" and dev.type != "cuda":
        raise AttrbenchError("The NCCL backend needs CUDA devices and this run is on the CPU; use "
                             "--dist-backend gloo (or auto) for CPU training.")
    if sync_bn and dev.type != "cuda":
        raise AttrbenchError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm has no CPU kernel); "
                             "drop --sync-bn for CPU training.")
    if batch_size is not None:
        check_batch_size(batch_size, world)
    if not dist.is_initialized():
        dist.init_process_group(chosen, rank=rank, world_size=world,
                                timeout=timedelta(minutes=30))
        atexit.register(_destroy)
    elif dist.get_world_size() != world or dist.get_rank() != rank:
        raise AttrbenchError("A process group of another size is already initialised in this "
                             "process; train in a fresh process.")
    return DistContext(rank, world, local, dist.get_backend()), dev


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int, world_size: int) -> int:
    """A 63-bit seed for ``rank`` of ``world_size`` derived from ``seed`` (1 process: ``seed``)."""
    if world_size == 1:
        return seed
    return hash_seed("rank", seed, rank, world_size)


def local_slice(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[lo, hi)`` of rank ``rank`` in a batch of ``n`` items: contiguous, sizes differ by <= 1,
    the first ``n % world_size`` ranks take one more (so rank 0 is never empty when ``n > 0``)."""
    base, extra = divmod(n, world_size)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


@dataclass
class LocalBatch:
    """This rank's share of one global batch.

    Attributes:
        x: images ``(b, C, H, W)``; ``b >= 1``.
        y: labels ``(b,)``.
        real: how many leading rows are this rank's share (0 when the global batch has fewer
            images than processes: ``x`` then holds one borrowed image whose loss weight is 0,
            so every rank still runs forward and backward for DDP's gradient all-reduce).
        global_size: images in the whole global batch (the loss denominator).
    """

    x: torch.Tensor
    y: torch.Tensor
    real: int
    global_size: int


def rank_batches(dataset: Dataset, in_memory: tuple[torch.Tensor, torch.Tensor] | None,
                 batch_size: int, generator: torch.Generator, ctx: DistContext,
                 pin_memory: bool = False) -> Iterator[LocalBatch]:
    """This rank's share of every global batch of one epoch, in the 1-process order.

    The order is the single-process loop's permutation (``randperm(N, generator)``, after the one
    draw ``DataLoader`` makes first when the split is streamed); global batch ``j`` is
    ``order[j*B:(j+1)*B]`` and this rank takes :func:`local_slice` of it.
    Streamed datasets read only this rank's images (a ``DataLoader`` over per-rank index lists).
    """
    n = len(dataset)  # type: ignore[arg-type]
    if in_memory is None:
        # The 1-process loop streams through DataLoader(shuffle=True, generator=...), whose
        # iterator draws one int64 (its worker base seed) before the sampler's randperm.
        torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n, generator=generator)
    plan: list[tuple[list[int], int, int]] = []
    for start in range(0, n, batch_size):
        glob = order[start:start + batch_size]
        lo, hi = local_slice(len(glob), ctx.rank, ctx.world_size)
        real = hi - lo
        idx = glob[lo:hi] if real else glob[:1]
        plan.append((idx.tolist(), real, len(glob)))
    if in_memory is not None:
        images, labels = in_memory
        for idx, real, size in plan:
            sel = torch.as_tensor(idx, device=labels.device)
            yield LocalBatch(images[sel], labels[sel], real, size)
        return
    loader = DataLoader(dataset, batch_sampler=[p[0] for p in plan], pin_memory=pin_memory)
    for (x, y), (_, real, size) in zip(loader, plan):
        yield LocalBatch(x, torch.as_tensor(y), real, size)


def all_reduce_sum(ctx: DistContext, values: Sequence[float | torch.Tensor],
                   device: torch.device) -> list[float]:
    """Sum ``values`` over all ranks (float64); returns them unchanged with one process."""
    if not ctx.distributed:
        return [float(v) for v in values]
    buf = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).detach().reshape(())
                       for v in values])
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.tolist()


def broadcast_buffers(ctx: DistContext, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics); no-op in 1 process."""
    if not ctx.distributed:
        return
    for buf in model.buffers():
        dist.broadcast(buf, src=0)


def barrier(ctx: DistContext, device: torch.device) -> None:
    """Wait for all ranks (no-op in 1 process)."""
    if ctx.distributed:
        dist.barrier(device_ids=[device.index] if device.type == "cuda" else None)


def wrap_model(ctx: DistContext, model: nn.Module, device: torch.device,
               sync_bn: bool) -> nn.Module:
    """The module the training forward pass calls: ``model`` itself in 1 process, else
    ``DistributedDataParallel`` (after the SyncBatchNorm conversion when ``sync_bn``) around it.

    The conversion replaces BatchNorm children in place (same parameter and buffer names), so
    ``model`` keeps being the module that is evaluated and saved.
    """
    if not ctx.distributed:
        return model
    if sync_bn:
        for name, child in list(model.named_children()):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def accuracy_counts(model: nn.Module, dataset: Dataset, ctx: DistContext, device: torch.device,
                    batch_size: int = 256) -> tuple[int, int]:
    """``(correct, total)`` top-1 over the whole ``dataset``: each rank scores a contiguous,
    disjoint share and the counts are summed, so nothing is counted twice."""
    from torch.utils.data import Subset

    from attrbench.runtime import match_memory_format

    n = len(dataset)  # type: ignore[arg-type]
    lo, hi = local_slice(n, ctx.rank, ctx.world_size)
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        if hi > lo:
            for x, y in DataLoader(Subset(dataset, range(lo, hi)), batch_size=batch_size,
                                   pin_memory=device.type == "cuda"):
                logits = model(match_memory_format(model, x.to(device, non_blocking=True)))
                correct += int((logits.argmax(1).cpu() == torch.as_tensor(y)).sum())
    model.train(was_training)
    total_correct, total = all_reduce_sum(ctx, [correct, hi - lo], device)
    return int(total_correct), int(total)


def torchrun_command(nproc: int, args: Sequence[str]) -> list[str]:
    """The ``torchrun --standalone --nproc-per-node N -m attrbench ARGS`` command (single node),
    with this interpreter."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "attrbench", *args]


def cli_args(command: Any, params: dict[str, Any], skip: Sequence[str] = ()) -> list[str]:
    """Rebuild the command line of a click ``command`` from its parsed ``params`` (values that are
    None, and names in ``skip``, are left out), e.g. to relaunch it under ``torchrun``."""
    out: list[str] = [command.name]
    for param in command.params:
        value = params.get(param.name)
        if param.name in skip or value is None or not getattr(param, "opts", None):
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            if value:
                out.append(flag)
            elif param.secondary_opts:
                out.append(param.secondary_opts[0])
        elif getattr(param, "multiple", False):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out
