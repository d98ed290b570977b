"""Sharded runs: which units of work one of N independent processes computes.

Shard ``K/N`` computes the chunks ``c`` with ``c % N == K`` into the same results folder
(:func:`in_shard`; FPA, robustness, IteROAR chains) or one contiguous block of an ordered list
of units (:func:`block_shard`; ROAR / KAR points, so that a shard needs few estimators' maps).
No process group is involved: every unit is its own atomically written file, so shards can run
at the same time on different machines over a shared filesystem, each resumes on its own, and
the report reads whatever shards are on disk. A unit that needs another shard's output (a
retraining benchmark's reference model) waits for it (:func:`wait_for`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

import torch

from attrbench.errors import AttrbenchError

_SHARD_RE = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``; ``"auto"`` -> :func:`shard_from_env`.

    Raises:
        AttrbenchError: malformed text, ``N < 1`` or ``K`` outside ``[0, N)``.
    """
    if text.strip().lower() == "auto":
        return shard_from_env()
    match = _SHARD_RE.match(text)
    if not match:
        raise AttrbenchError(f"--shard {text!r} is not K/N (e.g. 0/4: the first of 4 shards) or "
                             "auto (rank and world size from torchrun or SLURM).")
    k, n = int(match.group(1)), int(match.group(2))
    return check_shard(k, n)


def check_shard(k: int, n: int) -> tuple[int, int]:
    """Return ``(k, n)`` if ``0 <= k < n``; else raise :class:`AttrbenchError`."""
    if n < 1:
        raise AttrbenchError(f"--shard {k}/{n}: the number of shards N must be >= 1.")
    if not 0 <= k < n:
        raise AttrbenchError(f"--shard {k}/{n}: the shard index K must be in 0..{n - 1} "
                             "(shards are numbered from 0).")
    return k, n


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise AttrbenchError(f"Environment variable {name}={raw!r} is not an integer; pass "
                             "--shard K/N explicitly.") from None


def shard_from_env() -> tuple[int, int]:
    """``(K, N)`` from the launcher's environment.

    ``torchrun``: ``RANK`` / ``WORLD_SIZE``. SLURM: tasks of one step (``SLURM_PROCID`` /
    ``SLURM_NTASKS``) times array tasks (``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` /
    ``SLURM_ARRAY_TASK_COUNT``): ``K = array_index * ntasks + procid``,
    ``N = array_count * ntasks``.

    Raises:
        AttrbenchError: none of these variables is set, or they are inconsistent.
    """
    rank, world = _int_env("RANK"), _int_env("WORLD_SIZE")
    if world is not None:
        return check_shard(rank or 0, world)
    procid, ntasks = _int_env("SLURM_PROCID") or 0, _int_env("SLURM_NTASKS") or 1
    task, count = _int_env("SLURM_ARRAY_TASK_ID"), _int_env("SLURM_ARRAY_TASK_COUNT")
    if task is not None and count is None:
        raise AttrbenchError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (older "
                             "SLURM); pass --shard $SLURM_ARRAY_TASK_ID/<array size>.")
    if task is None and "SLURM_PROCID" not in os.environ:
        raise AttrbenchError("--shard auto found neither torchrun (RANK, WORLD_SIZE) nor SLURM "
                             "(SLURM_PROCID, SLURM_ARRAY_TASK_ID) variables; pass --shard K/N.")
    index = 0 if task is None else task - (_int_env("SLURM_ARRAY_TASK_MIN") or 0)
    count = 1 if count is None else count
    return check_shard(index * ntasks + procid, count * ntasks)


def in_shard(chunk: int, shard: tuple[int, int] | None) -> bool:
    """True if ``chunk`` belongs to ``shard`` (``None`` = all chunks)."""
    return shard is None or chunk % shard[1] == shard[0]


def block_shard(index: int, count: int, n: int) -> int:
    """The shard (of ``n``) owning unit ``index`` of ``count`` ordered units when each shard
    takes one contiguous block: ``index * n // count`` (block sizes differ by at most one)."""
    if not 0 <= index < count:
        raise ValueError(f"unit {index} is outside 0..{count - 1}")
    return index * n // count


def wait_for(ready: Callable[[], bool], what: str, say: Callable[[str], None], *,
             poll_s: float = 30.0, timeout_s: float | None = None) -> None:
    """Return once ``ready()`` is true, checking every ``poll_s`` seconds; ``say`` is told once
    what this shard waits for.

    Raises:
        AttrbenchError: ``timeout_s`` passed first.
    """
    start = time.monotonic()
    told = False
    while not ready():
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise AttrbenchError(f"Waited {timeout_s:g} s for {what}; start the shard that makes "
                                 "it (or run without --shard).")
        if not told:
            say(f"waiting for {what} (checked every {poll_s:g} s)")
            told = True
        time.sleep(poll_s)


def shard_device(device: torch.device) -> torch.device:
    """A plain ``cuda`` device becomes ``cuda:LOCAL_RANK`` (torchrun) or ``cuda:SLURM_LOCALID``
    (modulo the visible GPUs), so shards on one node use different GPUs; anything else is kept."""
    if device.type != "cuda" or device.index is not None:
        return device
    local = _int_env("LOCAL_RANK")
    local = _int_env("SLURM_LOCALID") if local is None else local
    if local is None:
        return device
    return torch.device("cuda", local % max(1, torch.cuda.device_count()))
