"""Configuration shared by ROAR / KAR and IteROAR: data, model, training and the variants.

Defaults are sized for a CPU: the embedded CIFAR-10 subset (5000 training, first 500 test images),
``small_cnn``, 2 epochs at batch 64 (about 33 % test accuracy in about 40 s per retrain on one core;
ROAR's 48 retrains take about half an hour, IteROAR about 20 minutes per repeat and 3 variants);
a demo that separates nothing. ``preset="cifar"`` is the smallest setting whose unmodified model
is a real classifier: ResNet-20 on the full CIFAR-10 JPEG splits (50,000 / 10,000 images; give
``data_root``), recipe ``roar-cifar`` (10 epochs, bf16 autocast), VG, IG, SmoothGrad², VarGrad and
random, 2 repeats; about 12 minutes per retrain on one core, so ROAR's 52 retrains run across
sessions (every retrain resumes). Its estimator settings are cut from the papers' to fit
(:data:`CIFAR_METHOD_PARAMS`; docs/design.md). ``preset="paper"`` switches to the papers' setting
(ResNet-50 from scratch, full splits, the ImageNet recipe; give the dataset folder and
``image_size=224`` for 224-pixel inputs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from attrbench.data import ImageDataset, get_dataset_spec, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.methods import get_method_spec
from attrbench.methods.custom import one_or_many
from attrbench.roar.removal import FILLS, UNITS, check_choice
from attrbench.roar.scores import check_variant
from attrbench.training import TrainConfig
from attrbench.training.user_model import ModelSource, probe_identity

#: Estimator settings of the ``cifar`` preset, cut from the papers' to fit one CPU core: IG with
#: 16 right-Riemann steps (FPA: 200; the ROAR code's PAIR saliency default: 25) and SmoothGrad² /
#: VarGrad with 10 noisy samples at sigma 0.15 (max - min) (ROAR code: 25 at 0.15). Maps of all
#: 60,000 images cost 60,000 x (1 + 16 + 10 + 10) input gradients, about the time of 4 retrains.
CIFAR_METHOD_PARAMS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"steps": 16},
    "smoothgrad_sq": {"n_samples": 10, "noise_level": 0.15},
    "vargrad": {"n_samples": 10, "noise_level": 0.15},
}

#: Field values of the presets; explicit arguments win (see :meth:`RetrainConfig.preset`).
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"dataset": "cifar10-mini", "model": "small_cnn", "recipe": "quick", "epochs": 2,
            "batch_size": 64, "train_limit": None, "test_limit": 500},
    "cifar": {"dataset": "cifar10-jpeg", "model": "cifar_resnet20", "recipe": "roar-cifar",
              "epochs": None, "batch_size": None, "train_limit": None, "test_limit": None,
              "repeats": 2, "amp": True, "batch_maps": 256,
              "variants": ("random", "vanilla_gradient|abs_sum", "smoothgrad_sq|sum",
                           "vargrad|sum", "integrated_gradients|abs_sum"),
              "method_params": CIFAR_METHOD_PARAMS},
    # IteROAR re-explains every train and test image at each of its 10 iterations: the same
    # model and recipe on a stratified 10,000-image train subset, the full test set, 3 repeats
    # (the paper's >= 3); chains of repeat 0 first, cheap estimators first.
    "cifar-iteroar": {"dataset": "cifar10-jpeg", "model": "cifar_resnet20",
                      "recipe": "roar-cifar", "epochs": None, "batch_size": None,
                      "train_limit": 10_000, "limit_mode": "stratified", "test_limit": None,
                      "repeats": 3, "amp": True, "batch_maps": 256,
                      "variants": ("random", "vanilla_gradient|abs_sum", "smoothgrad_sq|sum",
                                   "vargrad|sum", "integrated_gradients|abs_sum"),
                      "method_params": CIFAR_METHOD_PARAMS},
    "paper": {"model": "resnet50", "recipe": "paper-imagenet", "epochs": None, "batch_size": None,
              "train_limit": None, "test_limit": None, "repeats": 5},
}


@dataclass(frozen=True)
class RetrainConfig:
    """What every remove-and-retrain benchmark needs.

    Attributes:
        dataset: dataset name or folder (see ``attrbench data list``).
        model: architecture retrained from scratch at every point (``attrbench models``); the
            runners' ``model=`` argument replaces it with a user module or builder.
        recipe: training recipe (optimiser, schedule, flips/crops).
        epochs, batch_size, lr: recipe overrides (None = the recipe's value).
        variants: importance estimators, ``"method|post"`` (spatial) or method names (element);
            ``"random"`` is the random baseline. One string is one variant; a user method object
            (callable, Captum, Quantus-style) is registered under its own name
            (:mod:`attrbench.methods.custom`).
        repeats: independent retrains per point (different seeds), >= 1.
        unit: ``"spatial"`` or ``"element"`` ranking (:mod:`attrbench.roar.removal`).
        fill: ``"mean"``, ``"zero"`` or ``"removed_mean"``.
        train_limit, test_limit: N images of each split (None = all), chosen by ``limit_mode``.
        limit_mode: ``"first"`` (the first N) or ``"stratified"`` (N with every class in
            proportion, seeded by ``seed``; needed for class-sorted folders such as
            ``cifar10-jpeg``).
        data_root, image_size: as for :func:`attrbench.data.load_dataset`.
        seed: base seed; repeat ``r`` retrains with seed ``seed + r`` for every variant (paired).
        device: ``auto``/``cpu``/``cuda``; not part of a run's identity.
        batch_maps: images per explainer call.
        amp: bfloat16 autocast in every retrain (:class:`~attrbench.training.TrainConfig`);
            the maps are always computed in float32.
        method_params: ``{method: {parameter: value}}`` for the estimators (e.g. IG ``steps``);
            None = the registry's defaults. Seeds are set by the benchmark.
    """

    dataset: str = "cifar10-mini"
    model: str = "small_cnn"
    recipe: str = "quick"
    epochs: int | None = 2
    batch_size: int | None = 64
    lr: float | None = None
    variants: tuple[str, ...] = ("random", "vanilla_gradient|abs_sum", "guided_backprop|abs_sum")
    repeats: int = 3
    unit: str = "spatial"
    fill: str = "mean"
    train_limit: int | None = None
    test_limit: int | None = 500
    limit_mode: str = "first"
    data_root: str | None = None
    image_size: int | None = None
    seed: int = 0
    device: str = "auto"
    batch_maps: int = 128
    amp: bool = False
    method_params: dict[str, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        check_choice("ranking unit", self.unit, UNITS)
        check_choice("fill", self.fill, FILLS)
        check_choice("limit_mode", self.limit_mode, ("first", "stratified"))
        if self.repeats < 1:
            raise AttrbenchError(f"repeats must be >= 1, got {self.repeats}.")
        variants = one_or_many(self.variants)  # "IG_sum" is one variant, not five
        if not variants:
            raise AttrbenchError("Give at least one variant, e.g. 'vanilla_gradient|abs_sum'.")
        names = tuple(check_variant(v, self.unit) for v in variants)
        if len(set(names)) != len(names):
            raise AttrbenchError(f"Variants must be distinct; got {list(self.variants)}.")
        object.__setattr__(self, "variants", names)
        object.__setattr__(self, "method_params", _check_method_params(self.method_params))
        self.train_config()  # validates recipe and training overrides early

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RetrainConfig:
        """Build from preset ``"cpu"`` or ``"paper"``; ``overrides`` that are not None win."""
        check_choice("preset", name, tuple(PRESETS))
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in PRESETS[name].items() if k in known}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise AttrbenchError(f"Unknown option(s) {unknown}; valid: {', '.join(sorted(known))}.")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def train_config(self) -> TrainConfig:
        """The training settings of every retrain (dataset fields are replaced per run)."""
        return TrainConfig.from_recipe(
            self.recipe, dataset=self.dataset, model=self.model, epochs=self.epochs,
            batch_size=self.batch_size, lr=self.lr, seed=self.seed, device=self.device,
            amp=self.amp)

    def params_of(self, variant: str) -> dict[str, Any]:
        """The configured parameters of a variant's method (a copy; empty if none are set).

        ``variant`` is a canonical variant (``"integrated_gradients|abs_sum"``), a method name
        (per-element ranking) or ``"random"``.
        """
        method = variant.partition("|")[0]
        return dict((self.method_params or {}).get(method, {}))

    def identity(self, model: ModelSource | None = None) -> dict[str, Any]:
        """The resolved configuration that defines a results folder (without ``device``).

        Args:
            model: the user model (module or builder) the runner retrains instead of
                ``self.model``; recorded as ``user_model`` (its class and the SHA-256 of the
                first retrain's initial weights, :func:`~attrbench.training.user_model.
                probe_identity`), so a folder is never resumed with another model.
        """
        out = dataclasses.asdict(self)
        out.pop("device")
        out.pop("amp")  # recorded in out["train"]; folders written before the field resume
        if not out["method_params"]:
            out.pop("method_params")
        if out["limit_mode"] == "first":
            out.pop("limit_mode")
        if model is not None:
            spec = get_dataset_spec(self.dataset, root=self.data_root, split="train",
                                    image_size=self.image_size)
            out["model"] = None
            out["user_model"] = probe_identity(model, spec.num_classes,
                                               tuple(spec.image_shape), self.seed)
        out["kind"] = type(self).__name__
        out["train"] = {k: v for k, v in self.train_config().to_dict().items()
                        if k not in ("device", "dataset", "seed")}
        return out

    def load_split(self, split: str) -> ImageDataset:
        """The ``split`` of the configured dataset, limited as configured."""
        limit = self.train_limit if split == "train" else self.test_limit
        return load_dataset(self.dataset, split, root=self.data_root, limit=limit,
                            image_size=self.image_size, limit_mode=self.limit_mode,
                            seed=self.seed)


def _check_method_params(params: Any) -> dict[str, dict[str, Any]] | None:
    """Validate ``{method: {parameter: value}}``: known methods and parameter names, no seed."""
    if params is None or params == {}:
        return None
    if not isinstance(params, dict):
        raise AttrbenchError("method_params must be a mapping {method: {parameter: value}}, e.g. "
                             "{'integrated_gradients': {'steps': 16}}.")
    out: dict[str, dict[str, Any]] = {}
    for method in sorted(params):
        values = params[method]
        spec = get_method_spec(str(method))  # unknown -> the registry's error with suggestions
        if not isinstance(values, dict):
            raise AttrbenchError(f"method_params[{method!r}] must be a mapping of parameters.")
        unknown = sorted(set(values) - set(spec.defaults))
        if unknown:
            raise AttrbenchError(f"Unknown parameter(s) {unknown} of {method!r}; valid: "
                                 f"{', '.join(sorted(spec.defaults)) or 'none'}.")
        if "seed" in values:
            raise AttrbenchError(f"method_params[{method!r}] sets 'seed'; the benchmark derives "
                                 "the estimators' seeds from its own seed (give seed= instead).")
        out[str(method)] = dict(values)
    return out
