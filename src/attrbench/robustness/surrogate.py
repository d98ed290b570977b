"""A smooth surrogate of a ReLU network for second-order attribution attacks.

The gradient of a ReLU network is piecewise constant in the input, so the gradient of a
gradient-based saliency map with respect to the input is zero almost everywhere. Ghorbani et al.
("Interpretation of Neural Networks is Fragile", AAAI 2019) therefore compute the attack direction
on a copy of the network whose ReLUs are replaced by softplus; the code Kamath et al. build on uses
softplus for MNIST and 0.1·x + 0.9·softplus(x) for the Flower ResNet (NOTES §5.3).

How the swap is done: a :class:`torch.overrides.TorchFunctionMode` redirects every call of
``F.relu``, ``torch.relu`` and ``Tensor.relu`` (and their in-place forms) made while the context is
active. This catches ``nn.ReLU`` modules *and* functional ``F.relu`` calls inside ``forward``
(e.g. our CIFAR ResNet), needs no copy of the model and never mutates it, and the mode is
thread-local and popped on exit, so nothing has to be restored and nothing leaks on error. It does
not catch ReLUs written as ``clamp(min=0)`` or ``max(x, 0)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from attrbench.errors import AttrbenchError

SURROGATES: tuple[str, ...] = ("softplus", "mixed", "none")

_RELUS = frozenset(
    {F.relu, torch.relu, torch.Tensor.relu, torch.relu_, F.relu_, torch.Tensor.relu_}
)


class _ReluReplacement(TorchFunctionMode):
    def __init__(self, kind: str, beta: float) -> None:
        super().__init__()
        self.kind = kind
        self.beta = beta

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in _RELUS:
            x = args[0]
            smooth = F.softplus(x, beta=self.beta)
            return smooth if self.kind == "softplus" else 0.1 * x + 0.9 * smooth
        return func(*args, **kwargs)


@contextmanager
def smooth_relu(kind: str = "softplus", beta: float = 1.0) -> Iterator[None]:
    """Inside the block every ReLU evaluates as a smooth surrogate.

    Args:
        kind: ``"softplus"`` (softplus_beta(x) = log(1 + exp(beta x)) / beta; Ghorbani et al.,
            MNIST),
            ``"mixed"`` (0.1 x + 0.9 softplus_beta(x), the RAR/LENS Flower ResNet) or ``"none"``
            (no replacement).
        beta: softplus sharpness (> 0); larger is closer to ReLU. The reference code uses 1.

    Raises:
        AttrbenchError: unknown kind or beta <= 0.
    """
    if kind not in SURROGATES:
        raise AttrbenchError(f"Unknown surrogate {kind!r}; use one of: {', '.join(SURROGATES)}.")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise AttrbenchError(f"The softplus beta must be a number > 0, got {beta!r}.")
    if kind == "none":
        yield
        return
    with _ReluReplacement(kind, float(beta)):
        yield
