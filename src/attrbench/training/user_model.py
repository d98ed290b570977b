"""Train your own ``nn.Module``: builders, fresh copies, the run identity and the weights files.

The Python API trains a user model wherever it trains a registered one
(:func:`attrbench.train`, ROAR / IteROAR, BAM's models). A model is given as

- a **builder** ``build(num_classes) -> nn.Module`` (or ``build() -> nn.Module``). It is called
  after the run's seed is set, so its initial weights are reproducible and a resumed run rebuilds
  the same start. This is the form for benchmarks that train many models;
- an **nn.Module**. :func:`attrbench.train` trains it as given (its current weights are the
  start, like fine-tuning). ROAR, IteROAR and BAM train many models from scratch, each with its
  own seed, so they take a module as a template (:func:`fresh_copies`): every run deep-copies it
  and re-initialises each submodule with its ``reset_parameters()`` under that run's seed. A
  module whose own weights would be reused instead would make ROAR's repeats the same start and
  lose the seeds that pair them; a parameter outside any ``reset_parameters()`` cannot be
  re-initialised, so such a module is refused there (pass a builder).

Identity: a run records ``model = "user:<module>.<qualname>"`` and ``model_init_sha256`` (SHA-256
of the initial ``state_dict``, :func:`~attrbench.results.identity.state_dict_sha256`); resuming a
folder with another class or other initial weights is refused.

Weights: a user model is not in the model registry, so its checkpoint is the plain ``state_dict``
in ``model.safetensors`` (safetensors, never pickle) with a ``model.json`` sidecar
(``architecture = "user:..."``); :func:`load_user_weights` loads it into a module you build.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from attrbench.atomic import atomic_path, write_json_atomic
from attrbench.errors import AttrbenchError
from attrbench.models.checkpoint import file_sha256
from attrbench.provenance import git_revision, library_versions
from attrbench.results.identity import state_dict_sha256

#: What ``model=`` accepts: a module or a builder.
ModelSource = Union[nn.Module, Callable[..., nn.Module]]

#: Prefix of a user model's label in ``run.json`` and the checkpoint sidecar.
USER_PREFIX = "user:"

#: ``format`` of a user model's sidecar.
USER_WEIGHTS_FORMAT = "attrbench-user-weights"


def model_label(module: nn.Module) -> str:
    """``"user:<module>.<qualname>"`` of ``module``'s class."""
    cls = type(module)
    return f"{USER_PREFIX}{cls.__module__}.{cls.__qualname__}"


def _call_builder(build: Callable[..., nn.Module], num_classes: int) -> nn.Module:
    try:
        sig = inspect.signature(build)
        takes_classes = True
        try:
            sig.bind(num_classes)
        except TypeError:
            sig.bind()
            takes_classes = False
    except TypeError:
        raise AttrbenchError(
            f"Model builder {getattr(build, '__name__', build)!r} must take num_classes (or "
            "nothing) and return an nn.Module: def build(num_classes): return MyNet("
            "num_classes).") from None
    except ValueError:  # no signature (a builtin): try with the class count
        takes_classes = True
    module = build(num_classes) if takes_classes else build()
    if not isinstance(module, nn.Module):
        raise AttrbenchError(f"Model builder {getattr(build, '__name__', build)!r} returned a "
                             f"{type(module).__name__}; return an nn.Module.")
    return module


def check_outputs(module: nn.Module, image_shape: tuple[int, ...], num_classes: int) -> None:
    """Refuse a model whose logits are not (B, ``num_classes``) for images ``image_shape``.

    Runs two zero images through the model in eval mode without gradients (its mode is restored).

    Raises:
        AttrbenchError: the forward pass fails or gives another shape (says what to change).
    """
    was_training = module.training
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros(2, *image_shape, device=device))
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward pass
        raise AttrbenchError(
            f"{model_label(module)} fails on images {tuple(image_shape)}: "
            f"{type(exc).__name__}: {str(exc)[:160]}; build it for these images.") from None
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AttrbenchError(
            f"{model_label(module)} returns {shape} for 2 images but the data has {num_classes} "
            "classes; return logits (B, num_classes) (a builder gets num_classes).")


def build_user_model(source: ModelSource, num_classes: int,
                     image_shape: tuple[int, ...]) -> tuple[nn.Module, dict[str, str]]:
    """The module to train and its identity, from a module (used as given) or a builder.

    Call after the run's seed is set (a builder's weights then follow the seed).

    Args:
        source: an ``nn.Module`` or a builder (see the module docstring).
        num_classes: classes of the training data (passed to a builder; the logits are checked).
        image_shape: (C, H, W) of the training images.

    Returns:
        ``(module, {"model": "user:...", "model_init_sha256": ...})``.

    Raises:
        AttrbenchError: not a module or builder, or a model that does not fit the data.
    """
    if isinstance(source, nn.Module):
        module = source
    elif callable(source):
        module = _call_builder(source, num_classes)
    else:
        raise AttrbenchError(f"model= must be an nn.Module or a builder callable(num_classes) -> "
                             f"nn.Module, got {type(source).__name__}.")
    check_outputs(module, image_shape, num_classes)
    return module, {"model": model_label(module), "model_init_sha256": state_dict_sha256(module)}


def _reset_all(module: nn.Module) -> nn.Module:
    """Re-initialise every submodule with ``reset_parameters()``; refuse parameters left over."""
    covered: set[int] = set()
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
            covered.update(id(p) for p in sub.parameters(recurse=False))
    missed = [name for name, p in module.named_parameters() if id(p) not in covered]
    if missed:
        raise AttrbenchError(
            f"{model_label(module)}: parameters {missed[:5]} belong to no module with "
            "reset_parameters(), so a copy cannot be re-initialised for each run; pass a builder "
            "instead: model=lambda num_classes: MyNet(num_classes).")
    return module


def fresh_copies(source: ModelSource) -> Callable[..., nn.Module]:
    """A builder for benchmarks that train many models from scratch.

    A builder is returned as is. A module becomes a builder that deep-copies it and re-initialises
    the copy with its modules' ``reset_parameters()``, under the seed set before each call (the
    template itself is never changed). Its class count must fit every training set.

    Raises:
        AttrbenchError: neither a module nor a callable; a module with a parameter that no
            ``reset_parameters()`` covers (checked now, on a copy).
    """
    if isinstance(source, nn.Module):
        template = copy.deepcopy(source)
        _reset_all(copy.deepcopy(template))  # refuse now, not after the first retrain

        def build() -> nn.Module:
            return _reset_all(copy.deepcopy(template))

        build.__name__ = f"fresh_{type(source).__name__}"
        return build
    if callable(source):
        return source
    raise AttrbenchError(f"model= must be an nn.Module or a builder callable(num_classes) -> "
                         f"nn.Module, got {type(source).__name__}.")


def probe_identity(source: ModelSource, num_classes: int, image_shape: tuple[int, ...],
                   seed: int) -> dict[str, str]:
    """The identity of the model a benchmark's first run builds (seeded with ``seed``).

    For a results folder's identity: builds ``fresh_copies(source)`` once under ``seed`` (the
    global RNG state is restored afterwards).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, identity = build_user_model(fresh_copies(source), num_classes, image_shape)
    return identity


def is_user_label(architecture: object) -> bool:
    """Whether a checkpoint's ``architecture`` names a user model (``"user:..."``)."""
    return isinstance(architecture, str) and architecture.startswith(USER_PREFIX)


def save_user_weights(module: nn.Module, stem: str | Path, metadata: Mapping[str, Any]) -> Path:
    """Write ``<stem>.safetensors`` (the plain ``state_dict``) and ``<stem>.json`` atomically.

    Args:
        module: the trained user model.
        stem: checkpoint stem.
        metadata: JSON-ready facts (the training loop's checkpoint metadata; its
            ``architecture`` is the ``"user:..."`` label).

    Returns:
        The ``.safetensors`` path.
    """
    from safetensors.torch import save_file

    stem = Path(stem)
    weights = stem.with_suffix(".safetensors")
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    write_json_atomic(stem.with_suffix(".json"), {
        "format": USER_WEIGHTS_FORMAT, "weights_file": weights.name,
        "weights_sha256": file_sha256(weights),
        "num_parameters": sum(p.numel() for p in module.parameters()),
        **dict(metadata), "architecture": model_label(module),
        "versions": library_versions(), "git_revision": git_revision()})
    return weights


def load_user_weights(path: str | Path, module: nn.Module,
                      device: str | torch.device = "cpu") -> nn.Module:
    """Load a user model's ``model.safetensors`` (written by training) into ``module``.

    Args:
        path: the ``.safetensors`` file or its stem.
        module: a freshly built module of the class that was trained.
        device: where to put the module.

    Returns:
        ``module`` with the weights, on ``device``, in eval mode.

    Raises:
        AttrbenchError: a missing file, another class than the sidecar records, or weights that
            do not fit the module.
    """
    from safetensors.torch import load_file

    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
    weights, sidecar = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if not weights.is_file():
        raise AttrbenchError(f"No trained weights at {weights}; train the model first.")
    if sidecar.is_file():
        import json

        recorded = json.loads(sidecar.read_text()).get("architecture")
        if recorded != model_label(module):
            raise AttrbenchError(f"{weights} holds a {recorded!r} model, not "
                                 f"{model_label(module)!r}; build the class that was trained.")
    try:
        module.load_state_dict(load_file(str(weights)))
    except RuntimeError as exc:
        raise AttrbenchError(f"{weights} does not fit {model_label(module)} "
                             f"({str(exc)[:160]}); build it as it was trained.") from None
    return module.to(device).eval()


def load_user_checkpoint(path: str | Path, source: ModelSource,
                         device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a trained user model from ``source`` and load its ``model.safetensors``.

    The class count comes from the sidecar's ``classes``; a module template is copied (never
    changed), a builder called with that count.

    Raises:
        AttrbenchError: no sidecar or weights, or weights of another model
            (:func:`load_user_weights`).
    """
    import json

    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in (".safetensors", ".json") else stem
    sidecar = stem.with_suffix(".json")
    if not sidecar.is_file():
        raise AttrbenchError(f"No trained model at {sidecar}; train it first.")
    classes = json.loads(sidecar.read_text()).get("classes") or []
    module = _call_builder(fresh_copies(source), len(classes))
    return load_user_weights(stem, module, device)


__all__ = ["ModelSource", "USER_PREFIX", "build_user_model", "check_outputs", "fresh_copies",
           "is_user_label", "load_user_checkpoint", "load_user_weights", "model_label",
           "probe_identity", "save_user_weights"]
