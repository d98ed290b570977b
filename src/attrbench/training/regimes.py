"""Training regimes: what one SGD step minimises. ``none`` (natural training), ``pgd`` (Madry et
al. 2018) and ``ig-norm`` (Chen et al. 2019), the three regimes Kamath et al. (2024) compare.

A regime is a small object the training loop calls once per batch, after the batch's crops, flips
and FPA / Rectangle augmentation:

* ``regime.perturb(model, x, y, generator) -> x_adv | None``: the inner maximisation (PGD on the
  cross-entropy, or PGD on ‖IG^CE(x, x')‖_1), run in float32 outside autocast, with the model's
  buffers restored afterwards and parameter ``.grad`` untouched; None for natural training;
* ``regime.loss(model, x, x_adv, y, label_smoothing=..., reduction=...) -> (loss, logits)``: the
  outer objective the optimiser descends;
* ``regime.record()``: the JSON-ready record the checkpoint sidecar keeps under ``"regime"``
  (read back by :func:`attrbench.models.read_checkpoint_metadata`, which maps the pre-regime
  ``"adversarial"`` record of older sidecars to it).

:func:`training_step` is one SGD step on that objective; the loop calls it for every batch of a
one-process run (a ``torchrun`` run calls ``perturb`` and ``loss`` itself, to weight its share of
the global batch). The primitives (input space, PGD, IG-NORM's attack and objective) live in
:mod:`attrbench.adversarial`, which the robustness benchmark shares; nothing here imports a
benchmark package.

Example:
    >>> import torch
    >>> from attrbench.adversarial import InputSpace
    >>> from attrbench.runtime import make_generator
    >>> from attrbench.training.regimes import create_regime, training_step
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> regime = create_regime("ig-norm", "flower", {"steps": 2}, InputSpace((0.5,), (0.5,)))
    >>> regime.record()["resolved"]["lam"], regime.record()["resolved"]["steps"]
    (0.1, 2)
    >>> x, y = torch.zeros(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> loss, logits = training_step(regime, model, opt, x, y, make_generator(0))
    >>> logits.shape
    torch.Size([5, 3])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attrbench.adversarial import (
    IG_NORM_PRESETS,
    PGD_PRESETS,
    IGNormConfig,
    InputSpace,
    PGDConfig,
    ig_norm_attack,
    ig_norm_config,
    ig_norm_loss,
    pgd_attack,
    pgd_config,
)
from attrbench.errors import AttrbenchError
from attrbench.registry import Registry

_REDUCTIONS = ("mean", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise AttrbenchError(f"reduction must be 'mean' or 'none', got {reduction!r}.")


class Regime:
    """Natural training (the base of every regime): minimise CE(model(x), y) on the clean batch.

    Attributes:
        name: registry name.
        preset: the preset the config came from (None = the config's defaults).
        overrides: the explicit parameter overrides.
        config: the resolved frozen config dataclass, or None (natural training has none).
        one_process: True when the regime cannot run data-parallel under ``torchrun``.
    """

    name = "none"
    one_process = False

    def __init__(self, config: Any = None, space: InputSpace | None = None, *,
                 preset: str | None = None, overrides: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.space = space
        self.preset = preset
        self.overrides = dict(overrides or {})

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The regime's x' for the batch ``x`` (B, C, H, W), ``y`` (B,); None = train on ``x``."""
        return None

    def loss(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor | None,
             y: torch.Tensor, *, label_smoothing: float = 0.0,
             reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, logits)``: the objective (scalar, or ``(B,)`` with ``reduction="none"``) and
        the logits ``(B, K)`` the step's training accuracy is counted on."""
        _check_reduction(reduction)
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing,
                               reduction=reduction), logits

    def record(self) -> dict[str, Any]:
        """What the checkpoint sidecar keeps: name, preset, overrides and resolved config."""
        resolved = dataclasses.asdict(self.config) if self.config is not None else None
        return {"name": self.name, "preset": self.preset, "params": dict(self.overrides),
                "resolved": resolved}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class PGDRegime(Regime):
    """Madry et al. (2018): minimise CE(model(x'), y), x' = PGD on the cross-entropy in the
    ε-ball (:func:`attrbench.adversarial.pgd_attack`); the model's mode is left as it is (train
    mode, as in Madry et al.), its buffers are restored after the attack. Training accuracy is
    counted on x'."""

    name = "pgd"

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return pgd_attack(model, x, y, self.config, self._space(), generator)

    def loss(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor | None,
             y: torch.Tensor, *, label_smoothing: float = 0.0,
             reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
        if x_adv is None:
            raise AttrbenchError("The pgd regime's loss needs x_adv from perturb().")
        return super().loss(model, x_adv, None, y, label_smoothing=label_smoothing,
                            reduction=reduction)

    def _space(self) -> InputSpace:
        if self.space is None:
            raise AttrbenchError(f"The {self.name} regime needs the input space (dataset mean "
                                 "and std) to turn pixel budgets into input units.")
        return self.space


class IGNormRegime(PGDRegime):
    """Chen et al. (2019): minimise CE(model(x), y) + λ ‖IG^CE(x, x')‖_1, x' = PGD on the norm
    (:func:`attrbench.adversarial.ig_norm_attack`, :func:`attrbench.adversarial.ig_norm_loss`).
    Only the clean forward pass updates BatchNorm statistics; training accuracy is counted on x.
    One process only: the regulariser's second-order gradient goes through a second forward
    pass, which DistributedDataParallel's gradient hooks do not support."""

    name = "ig-norm"
    one_process = True

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return ig_norm_attack(model, x, y, self.config, self._space(), generator)

    def loss(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor | None,
             y: torch.Tensor, *, label_smoothing: float = 0.0,
             reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
        if x_adv is None:
            raise AttrbenchError("The ig-norm regime's loss needs x_adv from perturb().")
        return ig_norm_loss(model, x, x_adv, y, self.config, label_smoothing=label_smoothing,
                            reduction=reduction)


@dataclass(frozen=True)
class RegimeSpec:
    """A registered training regime.

    Attributes:
        name: registry name (``none``, ``pgd``, ``ig-norm``).
        factory: the :class:`Regime` class.
        configure: ``(preset, **overrides) -> config`` (validated), or None for no parameters.
        presets: named configs (``mnist`` / ``flower``, NOTES §5.4).
        description: one line for listings and ``--help``.
    """

    name: str
    factory: type[Regime]
    configure: Callable[..., Any] | None
    presets: Mapping[str, Any]
    description: str


REGIMES: Registry[RegimeSpec] = Registry("training regime")
REGIMES.register("none", RegimeSpec(
    "none", Regime, None, MappingProxyType({}), "natural training on the clean batch"))
REGIMES.register("pgd", RegimeSpec(
    "pgd", PGDRegime, pgd_config, PGD_PRESETS,
    "PGD adversarial training (Madry et al. 2018): CE on the batch's PGD examples"))
REGIMES.register("ig-norm", RegimeSpec(
    "ig-norm", IGNormRegime, ig_norm_config, IG_NORM_PRESETS,
    "IG-NORM (Chen et al. 2019): CE + lam * max_x' ||IG of the loss from x to x'||_1"))


def list_regimes(pattern: str = "*") -> list[str]:
    """Sorted names of the registered training regimes matching a shell-style ``pattern``."""
    return REGIMES.names(pattern)


def regime_config(name: str, preset: str | None = None,
                  overrides: Mapping[str, Any] | None = None) -> PGDConfig | IGNormConfig | None:
    """The validated config of regime ``name`` from ``preset`` plus ``overrides``.

    Raises:
        AttrbenchError: unknown regime, preset or parameter, a value out of range, or a preset
            or parameter given to ``none``.
    """
    spec = REGIMES.get(name)
    overrides = dict(overrides or {})
    if spec.configure is None:
        if preset is not None or overrides:
            raise AttrbenchError(f"Training regime {name!r} takes no preset or parameters; pass "
                                 "--regime pgd or --regime ig-norm to set them.")
        return None
    return spec.configure(preset, **overrides)


def create_regime(name: str, preset: str | None = None,
                  overrides: Mapping[str, Any] | None = None,
                  space: InputSpace | None = None) -> Regime:
    """Build a registered regime.

    Args:
        name: ``"none"``, ``"pgd"`` or ``"ig-norm"``.
        preset: ``"mnist"`` or ``"flower"`` (NOTES §5.4); None = the config's defaults.
        overrides: config fields to change, e.g. ``{"steps": 10}`` (budgets in [0, 1] pixel
            units).
        space: the training data's normalisation (needed by ``pgd`` and ``ig-norm``).

    Raises:
        AttrbenchError: see :func:`regime_config`.
    """
    config = regime_config(name, preset, overrides)
    return REGIMES.get(name).factory(config, space, preset=preset, overrides=overrides)


def training_step(
    regime: Regime,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    label_smoothing: float = 0.0,
    amp: bool = False,
    where: str = "",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of ``regime`` on the batch ``x`` (B, C, H, W), ``y`` (B,) int64.

    ``perturb`` runs in float32; the objective's forward pass runs under bfloat16 autocast when
    ``amp`` (on ``x``'s device type).

    Args:
        regime: from :func:`create_regime`.
        model: classifier in train mode.
        optimizer: its optimiser.
        x, y: the (augmented) batch and its labels.
        generator: randomness of the regime's random start.
        label_smoothing: of the cross-entropy.
        amp: bfloat16 autocast for the objective.
        where: appended to the divergence message (e.g. ``" in epoch 3"``).

    Returns:
        ``(loss, logits)``: the detached mean objective and the detached logits ``(B, K)``.

    Raises:
        AttrbenchError: the loss is not finite (nothing is updated then).
    """
    x_adv = regime.perturb(model, x, y, generator)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        loss, logits = regime.loss(model, x, x_adv, y, label_smoothing=label_smoothing)
    if not torch.isfinite(loss):
        raise AttrbenchError(f"Training diverged (loss {loss.item()}){where}; lower --lr.")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()
