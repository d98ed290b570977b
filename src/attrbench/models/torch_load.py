"""Loading users' weight files safely: ``.pt`` / ``.pth`` / ``.ckpt`` pickles and ``.safetensors``.

Pickles are read only with ``torch.load(..., weights_only=True)``: torch's restricted unpickler
accepts tensors and plain containers and refuses anything that would import or call code, so a
malicious file cannot run on the user's machine; we turn that refusal into a one-line
:class:`AttrbenchError`.

The FPA authors' checkpoints (NOTES §1.3) are ``torch.save(lightning_module.state_dict())``: plain
state dicts whose keys carry the Lightning module's ``model.`` prefix (``model.conv1.weight``);
:func:`load_state_dict_file` strips such a prefix on request or when every key has it.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file

from attrbench.errors import AttrbenchError

#: Prefixes stripped by ``strip_prefix="auto"``: PyTorch Lightning modules (``self.model = ...``)
#: and ``nn.DataParallel`` / DistributedDataParallel wrappers.
AUTO_STRIP_PREFIXES: tuple[str, ...] = ("model.", "module.")

#: Top-level keys under which training frameworks nest the state dict in a checkpoint dict.
_NESTED_STATE_KEYS: tuple[str, ...] = ("state_dict", "model_state_dict")


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors.

    Args:
        path: a file written by ``torch.save``.
        map_location: device to load tensors onto.

    Returns:
        The unpickled object (tensors, dicts, lists, numbers, strings only).

    Raises:
        AttrbenchError: missing file, not a torch file, or a pickle that would execute code.
    """
    path = Path(path)
    if not path.is_file():
        raise AttrbenchError(f"Weights file {str(path)!r} does not exist; check the path.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is many lines long and suggests weights_only=False, which we never do.
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)
        if found:
            raise AttrbenchError(
                f"Refusing to load {str(path)!r}: its pickle calls {found.group(1)}, which a "
                f"weights-only load never runs; re-save the weights with "
                f"torch.save(model.state_dict()) in a trusted environment."
            ) from None
        lines = [ln.strip() for ln in text.splitlines()[1:]]
        detail = next((ln for ln in lines if ln.startswith("Unsupported")), "not weights-only")
        raise AttrbenchError(
            f"Cannot read {str(path)!r} as a plain weights file ({detail}); give a .pt/.pth state "
            f"dict saved with torch.save(model.state_dict()) or a .safetensors file."
        ) from None
    except Exception as exc:  # noqa: BLE001 - arbitrary bytes make the unpickler raise anything
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AttrbenchError(
            f"Cannot read {str(path)!r} as a torch.save file ({msg[:160]}); give a .pt/.pth "
            f"state dict or a .safetensors file."
        ) from None


def _as_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _NESTED_STATE_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise AttrbenchError(
            f"{str(path)!r} does not hold a state dict (name -> tensor); save one with "
            f"torch.save(model.state_dict(), path)."
        )
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise AttrbenchError(
            f"{str(path)!r} is not a state dict: entries {bad[:3]!r} are not name -> tensor; "
            f"save one with torch.save(model.state_dict(), path)."
        )
    return dict(obj)


def strip_state_dict_prefix(
    state_dict: Mapping[str, torch.Tensor], prefix: str | None = "auto"
) -> dict[str, torch.Tensor]:
    """Remove a key prefix such as Lightning's ``model.``.

    Args:
        state_dict: name -> tensor.
        prefix: ``"auto"``: strip the first of :data:`AUTO_STRIP_PREFIXES` that *every* key starts
            with (repeatedly, so ``module.model.`` goes too); ``None`` or ``""``: keep the keys;
            any other string: strip exactly that prefix, which every key must carry.

    Raises:
        AttrbenchError: an explicit prefix is missing from some key.
    """
    sd = dict(state_dict)
    if not prefix:
        return sd
    if prefix == "auto":
        changed = True
        while changed and sd:
            changed = False
            for p in AUTO_STRIP_PREFIXES:
                if all(k.startswith(p) for k in sd):
                    sd = {k[len(p):]: v for k, v in sd.items()}
                    changed = True
                    break
        return sd
    missing = [k for k in sd if not k.startswith(prefix)]
    if missing:
        raise AttrbenchError(
            f"Cannot strip prefix {prefix!r}: {len(missing)} key(s) lack it (e.g. {missing[0]!r}); "
            f"use strip_prefix='auto' or None."
        )
    return {k[len(prefix):]: v for k, v in sd.items()}


def load_state_dict_file(
    path: str | Path, strip_prefix: str | None = "auto", map_location: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Read a state dict from a user's ``.pt`` / ``.pth`` / ``.ckpt`` or ``.safetensors`` file.

    Lightning ``.ckpt`` dicts and ``{"state_dict": ...}`` / ``{"model_state_dict": ...}`` wrappers
    are unpacked. Load the result into a model with :func:`attrbench.models.apply_state_dict`.

    Args:
        path: the weights file.
        strip_prefix: see :func:`strip_state_dict_prefix` (``"auto"`` handles the FPA authors'
            ``model.``-prefixed checkpoints).
        map_location: device to load tensors onto.

    Returns:
        ``{name: tensor}``.

    Raises:
        AttrbenchError: missing or unreadable file, unsafe pickle, or not a state dict.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise AttrbenchError(f"Weights file {str(path)!r} does not exist; check the path.")
        try:
            obj: Any = load_safetensors_file(path, device=str(map_location))
        except (SafetensorError, OSError, ValueError) as exc:
            raise AttrbenchError(
                f"Cannot read {str(path)!r} as safetensors ({str(exc)[:160]})."
            ) from None
    else:
        obj = safe_torch_load(path, map_location=map_location)
    return strip_state_dict_prefix(_as_state_dict(obj, path), strip_prefix)
