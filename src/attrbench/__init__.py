"""attrbench: which feature-attribution method really explains your image classifier.

The public API (names are imported on first use, so ``import attrbench`` stays fast)::

    import attrbench
    test = attrbench.load_dataset("cifar10-mini", "test", limit=100)
    model = attrbench.create_model("small_cnn")            # or any torch.nn.Module
    curves = attrbench.evaluate(model, test, ["fpa-table"])  # tidy MIF/LIF curves (pandas)
    table = attrbench.fidelity_table(curves)                 # fidelity A +- 95 % CI per variant
    pairs = attrbench.compare_estimators(curves)             # paired tests, ranks, per model
    attrbench.register_method("mine", fn)                    # bring your own (see README)
"""

from __future__ import annotations

from attrbench.errors import AttrbenchError
from attrbench.lazy import lazy_exports

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "DatasetSpec": "attrbench.data",
    "denormalize": "attrbench.data",
    "get_dataset_spec": "attrbench.data",
    "list_datasets": "attrbench.data",
    "load_dataset": "attrbench.data",
    "create_model": "attrbench.models",
    "list_models": "attrbench.models",
    "load_checkpoint": "attrbench.models",
    "load_pretrained": "attrbench.models.pretrained",
    "list_pretrained": "attrbench.models.pretrained",
    "save_checkpoint": "attrbench.models",
    "create_augmentation": "attrbench.augment",
    "list_augmentations": "attrbench.augment",
    "TrainConfig": "attrbench.training",
    "train": "attrbench.training",
    "list_recipes": "attrbench.training",
    "create_method": "attrbench.methods",
    "list_methods": "attrbench.methods",
    "register_method": "attrbench.methods",
    "create_variant": "attrbench.variants",
    "explain": "attrbench.explanation",
    "resolve_variants": "attrbench.variants",
    "perturbation_curves": "attrbench.metrics.functional.perturbation",
    "fidelity": "attrbench.metrics.functional.fidelity",
    "evaluate": "attrbench.fpa.api",
    "EvalConfig": "attrbench.fpa.runner",
    "fidelity_table": "attrbench.fpa.tables",
    "per_image_fidelity": "attrbench.fpa.comparisons",
    "compare_estimators": "attrbench.fpa.comparisons",
    "compare_models": "attrbench.fpa.comparisons",
    "build_all": "attrbench.fpa.report",
}

__all__ = ["AttrbenchError", "__version__", *sorted(_EXPORTS)]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
