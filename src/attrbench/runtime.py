"""Seeds and devices: the two pieces of run-time state every command sets up the same way."""

from __future__ import annotations

import random

import numpy as np
import torch

from attrbench.errors import AttrbenchError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
