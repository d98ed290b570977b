"""The one training configuration: what to train, on what, how, and with which seed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from attrbench.errors import AttrbenchError
from attrbench.training.batch_transforms import CROP_FILLS
from attrbench.training.recipes import get_recipe
from attrbench.training.regimes import regime_config

_SCHEDULES = ("step", "cosine", "constant")
#: JSON keys of the regime fields before regimes existed (``attrbench train --adversarial pgd``).
#: Natural training still serialises under them (:meth:`TrainConfig.to_dict`), so the identity of
#: every natural run folder, ROAR results folder and shipped sidecar written before is unchanged.
LEGACY_REGIME_KEYS = {"regime": "adversarial", "regime_preset": "adversarial_preset",
                      "regime_params": "adversarial_params"}
#: How ``train_limit`` picks its images (see :class:`TrainConfig`).
TRAIN_SUBSETS = ("stratified", "first")


@dataclass(frozen=True)
class TrainConfig:
    """A fully resolved training run. Build it with :meth:`from_recipe`.

    Attributes:
        dataset: registered dataset name (``cifar10-mini``) or a directory (see ``attrbench data``).
        model: registered model name (``small_cnn``, ``cifar_resnet18`` ...).
        augment: ``none``, ``fpa`` or ``rectangle``.
        augment_preset: preset of the augmentation (``cifar``/``imagenet`` for FPA) or None.
        augment_params: overrides of the augmentation's parameters (e.g. ``{"p1_max": 0.3}``).
        regime: what each SGD step minimises (:mod:`attrbench.training.regimes`): ``none``
            (natural training), ``pgd`` (Madry et al.: CE on the batch's PGD examples, made after
            augmentation on the current model) or ``ig-norm`` (Chen et al.: CE + λ ‖IG‖_1 at
            the worst x' of the ε-ball).
        regime_preset: ``mnist`` or ``flower`` (NOTES §5.4; PGD: eps 0.3, 40 steps of 0.01 /
            eps 8/255, 7 steps of 2/255; IG-NORM adds ig_steps 10 / 5 and lam 1.0 / 0.1), None =
            the regime's defaults.
        regime_params: overrides, e.g. ``{"steps": 10}`` (budgets in [0, 1] pixel units).
        recipe: name of the recipe the optimisation fields came from.
        epochs, batch_size, lr, momentum, weight_decay, schedule, milestones, gamma, hflip,
        crop_padding, crop_fill, label_smoothing: see :class:`~attrbench.training.recipes.Recipe`.
        init: start from these weights instead of a random initialisation (fine-tuning): a project
            checkpoint (``model.safetensors`` or its stem), a shipped model name
            (``cifar_resnet20.none``) or a plain PyTorch state dict file (``.pt``/``.pth``/
            ``.safetensors``, read with ``weights_only=True``). The parent's SHA-256 is recorded.
        seed: seeds weights, shuffling and every augmentation draw.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: bfloat16 autocast for the forward pass, on CUDA and on CPU (on CPUs with AVX-512 BF16
            about 1.4x faster for ResNet-20; weights and optimiser stay float32).
        train_limit: use only N training images (None = all), chosen as ``train_subset`` says.
        train_subset: how ``train_limit`` picks its images: ``"stratified"`` (default; every
            class in proportion, a draw seeded by ``seed``, kept in dataset order, so a
            class-sorted folder still gives every class) or ``"first"`` (the first N, as runs
            written before this field existed: a folder without the field is read as
            ``"first"`` and refused, not resumed on other images). Irrelevant without a limit.
        test_limit: use only the first N test images (None = all): a reduced evaluation on the
            first N test images, never a draw.
        data_root: root folder for datasets read from disk.
        image_size: resize (then centre crop) side for ImageFolder data; None keeps the files' size.
        sync_bn: under ``torchrun`` with several processes, convert BatchNorm to
            ``nn.SyncBatchNorm`` (statistics over the global batch; CUDA only). Without it each
            process normalises with its own share's statistics. No effect in one process.
    """

    dataset: str
    model: str
    recipe: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    milestones: tuple[int, ...]
    gamma: float
    hflip: bool
    crop_padding: int
    crop_fill: str
    label_smoothing: float
    augment: str = "none"
    augment_preset: str | None = None
    augment_params: dict[str, Any] = field(default_factory=dict)
    regime: str = "none"
    regime_preset: str | None = None
    regime_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    train_subset: str = "stratified"
    data_root: str | None = None
    image_size: int | None = None
    init: str | None = None
    sync_bn: bool = False

    @classmethod
    def from_recipe(cls, recipe: str, *, dataset: str, model: str, **overrides: Any) -> TrainConfig:
        """Fill the optimisation fields from ``recipe``, then apply ``overrides`` (None = keep).

        Raises:
            AttrbenchError: unknown recipe, unknown field, or an invalid value.
        """
        spec = get_recipe(recipe)
        values: dict[str, Any] = {
            f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
            if f.name not in ("name", "description")
        }
        known = {f.name for f in dataclasses.fields(cls)}
        for key, value in overrides.items():
            if key in LEGACY_REGIME_KEYS.values():
                new = next(k for k, v in LEGACY_REGIME_KEYS.items() if v == key)
                raise AttrbenchError(f"Training option {key!r} is now {new!r}; rename it (flags: "
                                     "--regime, --regime-preset, --regime-param K=V).")
            if key not in known:
                raise AttrbenchError(f"Unknown training option {key!r}; valid: {', '.join(sorted(known))}.")
            if value is not None:
                values[key] = value
        return cls(recipe=recipe, dataset=dataset, model=model, **values)

    @classmethod
    def from_values(cls, recipe: str = "quick", dataset: str = "cifar10-mini",
                    model: str = "small_cnn", **overrides: Any) -> TrainConfig:
        """:meth:`from_recipe` with the CLI's defaults for the three names: the factory
        ``attrbench train`` gives :func:`attrbench.cli.options.build_config` (a ``[train]``
        TOML table and the flags, merged as every command merges them).

        Example:
            >>> TrainConfig.from_values(epochs=2).recipe, TrainConfig.from_values(epochs=2).epochs
            ('quick', 2)
        """
        return cls.from_recipe(recipe, dataset=dataset, model=model, **overrides)

    def __post_init__(self) -> None:
        # One config style (issue 12): validated on construction, whatever builds it
        # (from_recipe, dataclasses.replace, a run.json read back).
        object.__setattr__(self, "milestones", tuple(self.milestones))
        self.validate()

    def validate(self) -> None:
        """Check value ranges; raise :class:`AttrbenchError` with what to change (run on
        construction)."""
        if self.epochs < 1:
            raise AttrbenchError(f"epochs must be >= 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise AttrbenchError(f"batch_size must be >= 1, got {self.batch_size}.")
        if not self.lr > 0:
            raise AttrbenchError(f"lr must be > 0, got {self.lr}.")
        if self.schedule not in _SCHEDULES:
            raise AttrbenchError(f"Unknown schedule {self.schedule!r}; use one of {', '.join(_SCHEDULES)}.")
        if any(m < 1 for m in self.milestones):
            raise AttrbenchError(f"milestones must be epochs >= 1, got {list(self.milestones)}.")
        if self.crop_padding < 0:
            raise AttrbenchError(f"crop_padding must be >= 0, got {self.crop_padding}.")
        if self.crop_fill not in CROP_FILLS:
            raise AttrbenchError(f"Unknown crop_fill {self.crop_fill!r}; use one of "
                                 f"{', '.join(CROP_FILLS)}.")
        regime_config(self.regime, self.regime_preset, self.regime_params)
        if self.train_subset not in TRAIN_SUBSETS:
            raise AttrbenchError(f"train_subset must be 'stratified' or 'first', got "
                                 f"{self.train_subset!r}.")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise AttrbenchError(f"{name} must be >= 1 when given, got {value}.")

    @classmethod
    def default_values(cls) -> dict[str, Any]:
        """JSON-ready defaults of the fields that have one (used to read older run folders)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists): the run's identity in ``run.json``, the sidecar
        and ROAR results folders. Natural training (regime ``none``, which takes no preset or
        parameters) keeps the keys it was written with before regimes existed
        (:data:`LEGACY_REGIME_KEYS`); :meth:`upgrade_dict` reads either form."""
        out = dataclasses.asdict(self)
        out["milestones"] = list(self.milestones)
        if self.regime == "none":
            for key, legacy in LEGACY_REGIME_KEYS.items():
                out[legacy] = out.pop(key)
        return out

    @staticmethod
    def upgrade_dict(stored: dict[str, Any]) -> dict[str, Any]:
        """A stored config dict with its regime under the field names (``regime`` ...), whether it
        was written under the pre-regime keys (``adversarial`` ...) or not."""
        out = dict(stored)
        for key, legacy in LEGACY_REGIME_KEYS.items():
            if legacy in out:
                value = out.pop(legacy)
                out.setdefault(key, value)
        return out
