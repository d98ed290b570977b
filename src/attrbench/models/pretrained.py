"""Models shipped inside the package: ``cifar_resnet20.none``, ``.fpa``, ``.rectangle``.

Each is a checkpoint (``<name>.safetensors`` + ``<name>.json`` sidecar with recipe, data, seed, git
revision, accuracy and the weights' SHA-256) in ``attrbench/models/weights/``. They were trained by
``scripts/train_pretrained.py`` with ``attrbench train``; the sidecar records the exact config.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attrbench.errors import AttrbenchError, unknown_name_error


def weights_dir() -> Path:
    """The package folder that holds the shipped checkpoints."""
    return Path(str(resources.files("attrbench.models") / "weights"))


def list_pretrained() -> list[str]:
    """Names of the shipped models (sorted), e.g. ``["cifar_resnet20.fpa", ...]``."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json")
                  if (folder / f"{p.stem}.safetensors").is_file())


def is_pretrained_name(name: str) -> bool:
    """Whether ``name`` is one of :func:`list_pretrained`."""
    return name in list_pretrained()


def pretrained_path(name: str) -> Path:
    """The ``.safetensors`` file of shipped model ``name``.

    Raises:
        AttrbenchError: unknown name (the message lists the valid ones).
    """
    names = list_pretrained()
    if name not in names:
        raise unknown_name_error("pretrained model", name, names)
    return weights_dir() / f"{name}.safetensors"


def pretrained_metadata(name: str) -> dict[str, Any]:
    """The sidecar of shipped model ``name`` as
    :func:`~attrbench.models.read_checkpoint_metadata` reads it (with its ``"regime"`` record;
    no weights are read)."""
    from attrbench.models.checkpoint import read_checkpoint_metadata

    return read_checkpoint_metadata(pretrained_path(name))


def load_pretrained(name: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Load shipped model ``name`` after checking its weights against the recorded SHA-256.

    Returns:
        ``(model, metadata)``: the model in eval mode on ``device`` (it normalises its own inputs
        the way the sidecar's ``normalization`` says), and the sidecar.

    Raises:
        AttrbenchError: unknown name, or a weights file that does not match its recorded hash.
    """
    from attrbench.models.checkpoint import load_checkpoint

    path = pretrained_path(name)
    try:
        return load_checkpoint(path, device=device)
    except AttrbenchError as exc:
        if "do not match their sidecar" in str(exc):
            raise AttrbenchError(
                f"Shipped model {name!r} ({path}) does not match its recorded SHA-256; the "
                "installation is damaged: reinstall attrbench (pip install --force-reinstall).") from None
        raise
