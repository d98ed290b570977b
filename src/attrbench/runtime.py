"""Seeds and devices: the two pieces of run-time state every command sets up the same way."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

from attrbench.errors import AttrbenchError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(seed: int, *parts: object) -> int:
    """A reproducible 63-bit seed for one unit of work, derived from the run seed.

    The SHA-256 of ``repr((seed, *parts))``, first 8 bytes little-endian, top bit cleared, so the
    same ``(seed, *parts)`` gives the same seed in every process and on every machine (Python's
    ``hash`` is salted per process; this is not). Every benchmark derives its per-unit seeds here
    (FPA: ``("ties", variant, chunk)`` and ``("method", method)``; robustness: ``(model, method,
    attack, eps, chunk)``), so a resumed run equals an uninterrupted one.

    Args:
        seed: the run's seed.
        *parts: what identifies the unit of work (strings, ints, rounded floats: anything whose
            ``repr`` is stable).

    Returns:
        An int in ``[0, 2**63)``, valid for ``torch.Generator.manual_seed``.

    Example:
        >>> derive_seed(0, "ties", "IG_sum", 3) == derive_seed(0, "ties", "IG_sum", 3)
        True
        >>> 0 <= derive_seed(1, "method", "smoothgrad") < 2**63
        True
    """
    return hash_seed(seed, *parts)


def hash_seed(*parts: object) -> int:
    """The 63-bit seed of ``parts``: SHA-256 of ``repr(parts)``, first 8 bytes little-endian, top
    bit cleared. :func:`derive_seed` is ``hash_seed(seed, *parts)``; DDP's per-rank seeds
    (:func:`attrbench.training.distributed.rank_seed`) hash ``("rank", seed, rank, world)``.

    Example:
        >>> hash_seed(0, "a") == derive_seed(0, "a")
        True
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (all our randomness flows through these)."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(seed)
    return gen


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``"auto"`` to CUDA when present (else CPU) and check an explicit device exists.

    Raises:
        AttrbenchError: the device is unknown or not available on this machine.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise AttrbenchError(f"Unknown device {name!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AttrbenchError(f"Device {name!r} requested but CUDA is not available; use --device cpu.")
    return dev


def use_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Store a convolutional model's 4-D weights channels-last (NHWC) in place and return it.

    On CPU this makes oneDNN convolutions 1.5-2.5x faster for the small CIFAR models (measured in
    this project); on GPUs it suits tensor cores. Values are unchanged. Inputs are matched to the
    model's layout by :func:`match_memory_format`.
    """
    return model.to(memory_format=torch.channels_last)


def match_memory_format(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` (B, C, H, W) channels-last if the model's first 4-D weight is channels-last.

    Models the user did not convert are left alone (a model that calls ``.view`` on feature maps
    may not accept channels-last inputs), so this never changes what a foreign model sees.
    """
    if x.dim() != 4:
        return x
    for p in model.parameters():
        if p.dim() == 4:
            if p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous():
                return x.contiguous(memory_format=torch.channels_last)
            return x
    return x
