"""PGD adversarial training (Madry et al., "Towards Deep Learning Models Resistant to Adversarial
Attacks", ICLR 2018), the "adversarially trained" regime Kamath et al. (2024) compare with natural
training (NOTES §5.4: MNIST ε 0.3, 40 steps of 0.01, random start; Flower ε 8/255, 7 steps of
2/255, random start).

:class:`PGDAdversary` is an augmentation-like hook ``adversary(model, x, y, generator) -> x_adv``
for the training loop: it needs the model and the labels, which the loop's augmentations
``aug(x, generator)`` do not get, so the loop calls it separately (see :func:`pgd_training_step`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.robustness.presets import preset_values
from attrbench.robustness.space import InputSpace, check_eps


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
    return PGDConfig(**preset_values("PGD", PGDConfig, PGD_PRESETS, preset, overrides)).validate()  # type: ignore[arg-type]


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


class PGDAdversary:
    """Training hook: ``adversary(model, x, y, generator) -> x_adv`` (PGD on the current model).

    Attributes:
        name: ``"pgd"``.
        config: the resolved :class:`PGDConfig` (to record in the checkpoint sidecar).
        space: the input normalisation of the training data.
    """

    name = "pgd"

    def __init__(self, config: PGDConfig, space: InputSpace) -> None:
        self.config = config.validate()
        self.space = space

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return pgd_attack(model, x, y, self.config, self.space, generator)

    def __repr__(self) -> str:
        return f"PGDAdversary({self.config})"


def pgd_training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    adversary: PGDAdversary,
    generator: torch.Generator | None = None,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of Madry et al.'s min-max training on the batch's PGD examples.

    Args:
        model: classifier in train mode.
        optimizer: its optimiser.
        x, y: ``(B, C, H, W)`` clean (augmented) inputs and ``(B,)`` labels.
        adversary: the PGD hook.
        generator: randomness of the PGD random start.
        label_smoothing: cross-entropy label smoothing.

    Returns:
        ``(loss, logits)`` on the adversarial batch (loss detached, logits ``(B, K)`` detached).
    """
    x_adv = adversary(model, x, y, generator)
    logits = model(x_adv)
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()
