"""Guided backpropagation (Springenberg et al. 2015).

Why not Captum's ``GuidedBackprop``: it hooks ``nn.ReLU`` *modules* only, so a model that calls
``F.relu`` / ``torch.relu`` (as many CIFAR ResNets do) silently gets plain gradients (checked: the
Captum result equals ``Saliency`` on such a model). Here every ReLU *call* made during the forward
pass, module or functional, is routed through :class:`GuidedReLU` by a ``TorchFunctionMode`` that is
active only inside the call; no hooks are registered at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from attrbench.errors import AttrbenchError
from attrbench.methods.engine import accumulate_gradients
from attrbench.methods.spec import MethodSpec, Params

_RELUS = frozenset(
    {torch.relu, torch.relu_, F.relu, F.relu_, torch.Tensor.relu, torch.Tensor.relu_}
)


class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients through positive activations."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = x.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (out,) = ctx.saved_tensors
        return grad.clamp_min(0) * (out > 0).to(grad.dtype)


class _GuidedReLUMode(TorchFunctionMode):
    """Replaces every ReLU call with :class:`GuidedReLU` and counts them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        if func in _RELUS:
            self.calls += 1
            return GuidedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


@contextmanager
def guided_relus() -> Iterator[_GuidedReLUMode]:
    """Within the block, ReLUs in forward passes backpropagate the guided way."""
    with _GuidedReLUMode() as mode:
        yield mode


def guided_backprop(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, params: Params, max_batch: int
) -> torch.Tensor:
    """GB: the target logit's gradient with every ReLU replaced by :class:`GuidedReLU`, (B,C,H,W).

    Raises:
        AttrbenchError: the model's forward pass contains no ReLU.
    """

    def build(image: torch.Tensor, point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[image], torch.ones(image.shape, dtype=x.dtype, device=x.device)

    with guided_relus() as mode:
        first, _ = accumulate_gradients(
            model, x, target, 1, build, max_batch, what="the input images"
        )
    if mode.calls == 0:
        raise AttrbenchError(
            "guided_backprop needs a ReLU network, but the model's forward pass calls no ReLU; "
            "use vanilla_gradient instead."
        )
    return first.to(x.dtype)


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec(
        name="guided_backprop",
        compute=guided_backprop,
        signed=True,
        summary="GB: gradient with guided ReLUs (module and functional ReLUs alike).",
        reference="Springenberg et al. 2015; BAM, ROAR",
    ),
)
