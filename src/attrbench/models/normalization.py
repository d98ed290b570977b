"""Optional input normalisation inside the model, so a model can take ``[0, 1]`` images.

By default attrbench models take inputs already normalised by the data loader (the FPA paper's
mean = std = 0.5, so inputs lie in ``[-1, 1]``). Wrapping a network in :class:`InputNormalization`
moves a fixed per-channel ``(x - mean) / std`` into the model instead, e.g. for ImageNet-style
statistics. Attribution maps are then taken with respect to the un-normalised input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from attrbench.errors import AttrbenchError

#: Named normalisation presets (per-channel mean, std), for 3-channel RGB inputs in ``[0, 1]``.
NORMALIZATION_PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # torchvision's ImageNet statistics (the values every torchvision classifier was trained with).
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    # The FPA paper's CIFAR/ImageNet transform Normalize(0.5, 0.5), i.e. [0, 1] -> [-1, 1].
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}

#: What :func:`resolve_normalization` accepts.
NormalizationArg = (
    str | Mapping[str, Sequence[float]] | tuple[Sequence[float], Sequence[float]] | None
)


def resolve_normalization(
    spec: NormalizationArg, in_channels: int
) -> dict[str, list[float]] | None:
    """Turn a preset name, a ``{"mean", "std"}`` mapping or a ``(mean, std)`` pair into plain lists.

    Args:
        spec: ``None`` / ``"none"`` (no normalisation), a preset name from
            :data:`NORMALIZATION_PRESETS`, a mapping with keys ``mean`` and ``std``, or a pair.
            A preset's 3 values are not broadcast: a 1-channel model needs its own 1-value pair.
        in_channels: the model's input channels; mean and std must have this many entries.

    Returns:
        ``{"mean": [...], "std": [...]}`` with ``in_channels`` floats each, or ``None``.

    Raises:
        AttrbenchError: unknown preset, wrong length, or a non-positive std.
    """
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, str):
        if spec not in NORMALIZATION_PRESETS:
            valid = ", ".join(["none", *sorted(NORMALIZATION_PRESETS)])
            raise AttrbenchError(
                f"Unknown input normalization {spec!r}; use one of {valid} or a (mean, std) pair."
            )
        mean, std = NORMALIZATION_PRESETS[spec]
    elif isinstance(spec, Mapping):
        if set(spec) != {"mean", "std"}:
            raise AttrbenchError(
                f"Input normalization mapping must have exactly the keys 'mean' and 'std', "
                f"got {sorted(spec)}."
            )
        mean, std = spec["mean"], spec["std"]
    else:
        try:
            mean, std = spec
        except (TypeError, ValueError):
            raise AttrbenchError(
                f"Input normalization must be a preset name, a (mean, std) pair or a "
                f"{{'mean', 'std'}} mapping, got {spec!r}."
            ) from None
    mean_l = [float(v) for v in mean]
    std_l = [float(v) for v in std]
    if len(mean_l) != in_channels or len(std_l) != in_channels:
        raise AttrbenchError(
            f"Input normalization has {len(mean_l)} mean and {len(std_l)} std values but the model "
            f"takes {in_channels} channel(s); give one value per channel."
        )
    if any(not s > 0 for s in std_l):
        raise AttrbenchError(f"Input normalization std must be positive, got {std_l}.")
    return {"mean": mean_l, "std": std_l}


class InputNormalization(nn.Module):
    """``model((x - mean) / std)`` with fixed per-channel statistics.

    The statistics are non-persistent buffers, so ``state_dict()`` keys are those of the wrapped
    network prefixed by ``model.``; checkpoints store the inner network's state and record the
    statistics in the sidecar instead.

    Args:
        model: the network to wrap.
        mean: per-channel mean, length ``C``.
        std: per-channel standard deviation, length ``C``, all positive.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` ``(B, C, H, W)``; return the wrapped model's logits ``(B, K)``."""
        return self.model((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare network inside any :class:`InputNormalization` wrappers (else ``model``)."""
    while isinstance(model, InputNormalization):
        model = model.model
    return model
