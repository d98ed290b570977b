"""The identity of a results folder: fingerprints of everything that changes a number.

A results folder is bound to one *identity*: the resolved configuration (methods and their resolved
parameters, seed, steps, ...), the model's weights, the dataset and split, and the images. A rerun
with another identity is refused (:class:`~attrbench.results.ResultStore`) with a message that says
what differs, so results of two settings never mix.

Fingerprints are SHA-256 hex digests:

* :func:`state_dict_sha256` hashes a model's ``state_dict`` (names, dtypes, shapes and bytes), so
  two loads of the same checkpoint agree and any other weights differ;
* :func:`images_sha256` hashes the ordered image ids (and labels, when given) of a run, so a
  different split, subset or order differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_SHOWN = 4  # differences listed in one message
_TEXT = 40  # characters of one value shown


def state_dict_sha256(model: Any) -> str:
    """SHA-256 of ``model.state_dict()``: every tensor's name, dtype, shape and bytes, in key order.

    Args:
        model: an ``nn.Module`` (any device).

    Returns:
        64 hex characters.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def images_sha256(ids: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray | None = None,
                  ) -> str:
    """SHA-256 of the ordered image ids ``(N,)`` (int64), and of the labels ``(N,)`` if given."""
    digest = hashlib.sha256(np.ascontiguousarray(ids, dtype="<i8").tobytes())
    if labels is not None:
        digest.update(b"|labels|" + np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def normalise(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples -> lists, other objects -> ``str``)."""
    return json.loads(json.dumps(obj, default=str))


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping) and obj:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: obj}


def _show(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a digest: its first 12 hex digits tell two apart
    return text if len(text) <= _TEXT else text[: _TEXT - 3] + "..."


_MISSING = object()


def differences(stored: Any, new: Any) -> list[str]:
    """What differs between two identities, one ``"key: X there, Y now"`` item per leaf.

    Args:
        stored: the identity recorded in the folder (JSON-like, nested dicts).
        new: this run's identity.

    Returns:
        Items, top-level keys first, then by name (dotted paths for nested keys); empty when
        equal.
    """
    a, b = _flatten(normalise(stored)), _flatten(normalise(new))
    out = []
    for key in sorted(set(a) | set(b), key=lambda k: (k.count("."), k)):  # top-level first
        old, now = a.get(key, _MISSING), b.get(key, _MISSING)
        if old != now:
            out.append(f"{key or 'config'}: {_show(old)} there, {_show(now)} now")
    return out


def summarise_differences(items: list[str]) -> str:
    """The first few items of :func:`differences` joined for a one-line message."""
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more
