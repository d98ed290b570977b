"""Fine-tuning: start a training run from existing weights instead of a random initialisation.

``--init`` accepts a shipped model name (``cifar_resnet20.none``), a project checkpoint (stem,
``.safetensors`` or ``.json`` with its sidecar) or a plain PyTorch state dict file (torchvision /
timm style ``.pt`` / ``.pth`` / ``.safetensors``, always read weights-only). The parent's SHA-256
goes into the new checkpoint's sidecar so that a fine-tuned model names the model it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.models import (apply_state_dict, load_checkpoint, load_weights_file,
                              unwrap_model)
from attrbench.models.checkpoint import (checkpoint_paths, file_sha256,
                                        read_checkpoint_metadata)


def resolve_init(init: str) -> tuple[str, Path]:
    """``("checkpoint" | "state_dict", path)`` of what ``init`` names.

    Raises:
        AttrbenchError: ``init`` is neither a shipped model, a checkpoint nor a weights file.
    """
    from attrbench.models.pretrained import is_pretrained_name, pretrained_path

    if is_pretrained_name(init):
        return "checkpoint", pretrained_path(init)
    path = Path(init).expanduser()
    weights, sidecar = checkpoint_paths(path)
    if sidecar.is_file() and weights.is_file():
        return "checkpoint", weights
    if path.is_file():
        return "state_dict", path
    from attrbench.models.pretrained import list_pretrained

    raise AttrbenchError(
        f"--init {init!r} is neither a shipped model ({', '.join(list_pretrained())}), a "
        f"checkpoint (<stem>.safetensors + <stem>.json) nor a weights file; check the path.")


def load_initial_weights(model: nn.Module, init: str, *, architecture: str,
                         num_classes: int) -> dict[str, Any]:
    """Load the weights ``init`` names into ``model`` (strictly) and describe the parent.

    Args:
        model: freshly built network of the run (``architecture``, ``num_classes`` outputs).
        init: see the module docstring.
        architecture: registry name of the run's model, to refuse a checkpoint of another one.
        num_classes: the run's class count.

    Returns:
        ``{"init": init, "kind": ..., "path": ..., "sha256": ...}`` for the sidecar; for a
        checkpoint ``sha256`` is its recorded weights hash (checked against the file).

    Raises:
        AttrbenchError: another architecture or class count, missing / unexpected keys, a file that
            does not match its recorded hash, or an unsafe file.
    """
    kind, path = resolve_init(init)
    if kind == "checkpoint":
        meta = read_checkpoint_metadata(path)
        if meta["architecture"] != architecture:
            raise AttrbenchError(
                f"--init {init!r} is a {meta['architecture']!r} model but this run trains "
                f"{architecture!r}; pass --model {meta['architecture']} or another --init.")
        if int(meta["num_classes"]) != num_classes:
            raise AttrbenchError(
                f"--init {init!r} has {meta['num_classes']} classes but the dataset has "
                f"{num_classes}; fine-tune on data with the same classes.")
        parent, meta = load_checkpoint(path)  # checks the recorded SHA-256
        apply_state_dict(model, unwrap_model(parent).state_dict(),
                         source=f"Weights of --init {init!r}")
        sha = meta["weights_sha256"]
    else:
        load_weights_file(model, path)
        sha = file_sha256(path)
    return {"init": init, "kind": kind, "path": str(path), "sha256": sha}
