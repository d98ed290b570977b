"""PGD adversarial examples (Madry et al., "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018): the inner maximisation of the "adversarially trained" regime Kamath et al.
(2024) compare with natural training (NOTES §5.4: MNIST ε 0.3, 40 steps of 0.01, random start;
Flower ε 8/255, 7 steps of 2/255, random start).

The training regime that uses it is ``pgd`` in :mod:`attrbench.training.regimes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.adversarial.presets import preset_values
from attrbench.adversarial.space import InputSpace, check_eps


@dataclass(frozen=True)
class PGDConfig:
    """ℓ∞ PGD on the cross-entropy (budgets in pixel units of [0, 1] images).

    Attributes:
        eps: radius in [0, 1].
        step: step size in (0, 1].
        steps: ascent steps (>= 1).
        random_start: start from a uniform random point of the ball (Madry et al.).
    """

    eps: float = 8 / 255
    step: float = 2 / 255
    steps: int = 7
    random_start: bool = True

    def validate(self) -> PGDConfig:
        """Check the fields; return ``self``."""
        check_eps(self.eps)
        number = isinstance(self.step, (int, float)) and not isinstance(self.step, bool)
        if not number or not 0 < self.step <= 1:
            raise AttrbenchError(f"PGD step must be in (0, 1] pixel units, got {self.step!r}.")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise AttrbenchError(f"PGD steps must be an integer >= 1, got {self.steps!r}.")
        return self


PGD_PRESETS: dict[str, PGDConfig] = {
    "mnist": PGDConfig(eps=0.3, step=0.01, steps=40, random_start=True),
    "flower": PGDConfig(eps=8 / 255, step=2 / 255, steps=7, random_start=True),
}


def pgd_config(preset: str | None = None, **overrides: object) -> PGDConfig:
    """A validated :class:`PGDConfig` from a preset of :data:`PGD_PRESETS` plus overrides."""
    values = preset_values("PGD", PGDConfig, PGD_PRESETS, preset, overrides)
    return PGDConfig(**values).validate()  # type: ignore[arg-type]


@contextmanager
def frozen_buffers(model: nn.Module) -> Iterator[None]:
    """Restore every buffer (BatchNorm running statistics, batch counters) on exit, so that the
    attack's forward passes in train mode do not count as training batches."""
    saved = [(buf, buf.detach().clone()) for buf in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


@contextmanager
def batch_statistics_only(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers in train mode normalise with the batch's statistics but update no running
    statistics inside the block (their buffers are detached from the modules, then put back as the
    same tensors, never written).

    Unlike :func:`frozen_buffers`, nothing is restored in place, so a graph built in the block,
    or before it, can still be differentiated afterwards: the running statistics a clean forward
    pass saved for its backward pass stay at their version (IG-NORM's regulariser).
    """
    saved = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            names = ("running_mean", "running_var", "num_batches_tracked")
            saved.append((module, {n: module._buffers.get(n) for n in names}))
            for n in names:
                module._buffers[n] = None
    try:
        yield
    finally:
        for module, buffers in saved:
            module._buffers.update(buffers)


def pgd_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: PGDConfig,
    space: InputSpace,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Maximise the cross-entropy of ``y`` inside the ε-ball and valid range (Madry et al. 2018).

    x <- Proj(x + α sign(∇_x CE(model(x), y))), ``steps`` times, from a random start if asked.
    The model's mode is left as it is (train mode during training, as in Madry et al.), its buffers
    are restored afterwards and parameter ``.grad`` is not touched (gradients w.r.t. the input
    only).

    Args:
        model: classifier returning logits.
        x: ``(B, C, H, W)`` clean inputs in the model's input space.
        y: ``(B,)`` int64 labels.
        config: the PGD setting.
        space: input normalisation (pixel budgets -> input units).
        generator: randomness of the random start (seed 0 if None).

    Returns:
        ``(B, C, H, W)`` adversarial inputs, detached.
    """
    config.validate()
    x = x.detach()
    step = space.budget(config.step, x)
    x_adv = x
    if config.random_start and config.eps > 0:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        u = torch.rand(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
        x_adv = space.project(x + (2 * u - 1) * space.budget(config.eps, x), x, config.eps)
    if config.eps == 0:
        return x_adv
    with frozen_buffers(model), torch.enable_grad():
        for _ in range(config.steps):
            x_var = x_adv.detach().requires_grad_(True)
            loss = F.cross_entropy(model(x_var), y)
            (grad,) = torch.autograd.grad(loss, x_var)
            x_adv = space.project(x_var.detach() + step * grad.sign(), x, config.eps)
    return x_adv.detach()
