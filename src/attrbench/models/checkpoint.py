"""Checkpoints: a ``.safetensors`` weights file plus a human-readable JSON sidecar.

Convention: a checkpoint is named by a *stem* path. ``save_checkpoint(model, "runs/x/last", meta)``
writes ``runs/x/last.safetensors`` (the bare network's ``state_dict``, no pickle) and
``runs/x/last.json`` (how to rebuild the model plus the run's metadata). ``load_checkpoint``
accepts the stem or either file name. Both files are written atomically, weights first; the sidecar
records the weights' SHA-256, so a pair torn by an interruption between the two writes is detected
on load.

Sidecar keys: ``format``, ``format_version``, ``weights_file``, ``weights_sha256``,
``num_parameters``, ``architecture``, ``num_classes``, ``in_channels``, ``input_normalization``,
``model_kwargs``, ``classes``, ``normalization``, ``augmentation``, ``config``, ``metrics``,
``seed``, ``input_shape`` (``[C, H, W]`` of the training images, or None), ``versions``,
``git_revision``, ``created``, and any further keys the caller passes in ``metadata``.

Every sidecar read back (:func:`read_checkpoint_metadata`, hence :func:`load_checkpoint` and the
shipped models) has a ``"regime"`` record ``{"name", "preset", "params", "resolved"}``: the one the
training loop wrote, the pre-regime ``"adversarial"`` record of older sidecars (PGD only), or
natural training when neither is there (:func:`checkpoint_regime`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from attrbench.atomic import atomic_path, write_json_atomic
from attrbench.errors import AttrbenchError
from attrbench.models.factory import MODELS, create_model, get_model_spec, model_build_of
from attrbench.models.normalization import resolve_normalization, unwrap_model
from attrbench.models.spec import ModelBuild
from attrbench.models.torch_load import load_state_dict_file
from attrbench.provenance import git_revision, library_versions

CHECKPOINT_FORMAT = "attrbench-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1

#: Metadata keys with a documented meaning (all optional; ``None`` when not given).
STANDARD_METADATA_KEYS: tuple[str, ...] = (
    "classes", "normalization", "augmentation", "config", "metrics", "seed", "input_shape",
)
#: Builder options that say where initial weights came from; a checkpoint rebuilds without them.
_WEIGHT_SOURCE_OPTIONS: dict[str, Any] = {"pretrained": False, "allow_download": False}
_MODEL_KEYS = ("architecture", "num_classes", "in_channels", "input_normalization", "model_kwargs")
_WRITTEN_KEYS = ("format", "format_version", "weights_file", "weights_sha256", "num_parameters",
                 "versions", "git_revision", "created")
#: Sidecar key of the training-regime record before regimes existed (PGD only): ``{"name",
#: "preset", "resolved"}``.
LEGACY_REGIME_KEY = "adversarial"
#: The regime record of natural training (``attrbench.training.regimes.Regime().record()``).
NATURAL_REGIME: Mapping[str, Any] = {"name": "none", "preset": None, "params": {},
                                     "resolved": None}


def checkpoint_regime(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The training-regime record of a sidecar, also of one written before regimes existed.

    Args:
        metadata: a sidecar as stored (``"regime"`` written by the training loop, or the older
            ``"adversarial"`` record, or neither).

    Returns:
        ``{"name", "preset", "params", "resolved"}`` (a new dict); a sidecar with neither record
        is natural training (``name == "none"``); missing fields take the natural values.
    """
    record = metadata.get("regime")
    if record is None:
        record = metadata.get(LEGACY_REGIME_KEY)
    out = {**NATURAL_REGIME, "params": {}}
    if isinstance(record, Mapping):
        out.update({k: record[k] for k in out if k in record})
    if out["params"] is None:
        out["params"] = {}
    return out


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, sidecar)`` paths of the checkpoint named by a stem or by either of its files."""
    path = Path(path)
    if path.name.endswith((".safetensors", ".json")):
        path = path.with_suffix("")
    return path.parent / f"{path.name}.safetensors", path.parent / f"{path.name}.json"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rebuild(build: ModelBuild, device: torch.device | str | None = None) -> nn.Module:
    """The architecture of ``build`` with fresh weights (never downloads pretrained ones)."""
    kwargs = {k: (_WEIGHT_SOURCE_OPTIONS[k] if k in _WEIGHT_SOURCE_OPTIONS else v)
              for k, v in build.kwargs.items()}
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return create_model(build.architecture, build.num_classes, build.in_channels,
                            input_normalization=build.input_normalization, **kwargs)


def apply_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "weights"
) -> None:
    """Load ``state_dict`` into the bare network of ``model``, strictly, with a readable error.

    Args:
        model: a network, possibly wrapped in ``InputNormalization`` (the weights go inside).
        state_dict: name -> tensor, keys as in ``unwrap_model(model).state_dict()``.
        source: how to name the weights in error messages (usually the file path).

    Raises:
        AttrbenchError: missing or unexpected keys, or tensors whose shapes differ from the model's.
    """
    bare = unwrap_model(model)
    own = bare.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        build = model_build_of(model)
        arch = build.architecture if build else type(bare).__name__
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) e.g. {unexpected[0]!r}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es) e.g. {shapes[0]}")
        raise AttrbenchError(
            f"{source} do not fit {arch}: {'; '.join(parts)}. Check the model name, num_classes "
            f"and in_channels, or strip a key prefix (strip_prefix)."
        )
    bare.load_state_dict(dict(state_dict), strict=True)


def load_weights_file(
    model: nn.Module, path: str | Path, strip_prefix: str | None = "auto"
) -> nn.Module:
    """Load a user's ``.pt`` / ``.pth`` / ``.ckpt`` / ``.safetensors`` state dict into ``model``.

    For example the FPA authors' ``weights/cifar/rand.pt`` into ``create_model("cifar_resnet18")``
    (their ``model.`` key prefix is stripped automatically, NOTES §1.3).

    Args:
        model: the network to fill (e.g. from :func:`~attrbench.models.create_model`).
        path: the weights file, read weights-only (see
            :func:`~attrbench.models.load_state_dict_file`).
        strip_prefix: ``"auto"``, ``None`` or an explicit key prefix to remove.

    Returns:
        ``model`` (same object) with the weights loaded.

    Raises:
        AttrbenchError: unreadable or unsafe file, or weights that do not fit the model.
    """
    state = load_state_dict_file(path, strip_prefix=strip_prefix)
    apply_state_dict(model, state, source=f"Weights in {str(path)!r}")
    return model


def _resolve_build(model: nn.Module, metadata: Mapping[str, Any]) -> ModelBuild:
    build = model_build_of(model)
    if build is None:
        arch = metadata.get("architecture")
        if not arch:
            raise AttrbenchError(
                "save_checkpoint needs a model made by attrbench.models.create_model or "
                "metadata['architecture'] naming a registered model."
            )
        spec = get_model_spec(arch)
        bare = unwrap_model(model)
        fc: Any = dict(bare.named_modules()).get(spec.fc_layer)
        first_conv = next((m for m in bare.modules() if isinstance(m, nn.Conv2d)), None)
        in_channels = int(metadata.get("in_channels", getattr(first_conv, "in_channels", 3)))
        build = ModelBuild(
            architecture=arch,
            num_classes=int(metadata.get("num_classes", getattr(fc, "out_features", 0))),
            in_channels=in_channels,
            input_normalization=resolve_normalization(
                metadata.get("input_normalization"), in_channels
            ),
            kwargs=dict(metadata.get("model_kwargs", {})),
        )
    for key, have in (("architecture", build.architecture), ("num_classes", build.num_classes),
                      ("in_channels", build.in_channels)):
        if key in metadata and metadata[key] != have:
            raise AttrbenchError(
                f"metadata[{key!r}] = {metadata[key]!r} contradicts the model ({have!r}); "
                f"drop it or fix it."
            )
    return build


def save_checkpoint(
    model: nn.Module, path: str | Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically.

    Args:
        model: a model from :func:`~attrbench.models.create_model` (or any registry architecture
            when ``metadata["architecture"]`` names it); its bare network's ``state_dict`` is
            stored.
        path: the checkpoint stem (a trailing ``.safetensors`` / ``.json`` is dropped).
        metadata: JSON-ready run facts. Standard keys: ``classes`` (list of ``num_classes`` names),
            ``normalization`` (the data loader's ``{"mean", "std"}``), ``augmentation``, ``config``
            (the full resolved run config), ``metrics``, ``seed``, ``input_shape`` (``[C, H, W]``
            of the training images; checked against ``in_channels``). Other keys are kept as given.

    Returns:
        The path of the ``.safetensors`` file.

    Raises:
        AttrbenchError: unknown architecture, metadata contradicting the model, wrong number of
            class names, or weights that would not load back into the registry architecture.
    """
    metadata = dict(metadata or {})
    clash = sorted(set(metadata) & set(_WRITTEN_KEYS))
    if clash:
        raise AttrbenchError(
            f"metadata keys {clash} are written by save_checkpoint itself; rename them."
        )
    build = _resolve_build(model, metadata)
    if metadata.get("input_shape") is not None:
        metadata["input_shape"] = _check_input_shape(metadata["input_shape"], build.in_channels)
    classes = metadata.get("classes")
    if classes is not None and len(classes) != build.num_classes:
        raise AttrbenchError(
            f"metadata['classes'] has {len(classes)} names but the model has "
            f"{build.num_classes} outputs."
        )
    bare_state = unwrap_model(model).state_dict()
    state = {k: v.detach().to("cpu").contiguous() for k, v in bare_state.items()}
    # Check now, cheaply on the meta device, that load_checkpoint will rebuild and load this.
    apply_check = _rebuild(build, device="meta")
    own = unwrap_model(apply_check).state_dict()
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        raise AttrbenchError(
            f"The model's weights do not match the registered {build.architecture!r} architecture "
            f"with num_classes={build.num_classes}, in_channels={build.in_channels}; save a model "
            f"made by create_model."
        )
    weights_path, sidecar_path = checkpoint_paths(path)
    with atomic_path(weights_path) as tmp:
        header = {"format": "pt", "attrbench_architecture": build.architecture}
        save_file(state, str(tmp), metadata=header)
    sidecar: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "weights_file": weights_path.name,
        "weights_sha256": file_sha256(weights_path),
        "num_parameters": sum(p.numel() for p in unwrap_model(model).parameters()),
        "architecture": build.architecture,
        "num_classes": build.num_classes,
        "in_channels": build.in_channels,
        "input_normalization": build.input_normalization,
        "model_kwargs": dict(build.kwargs),
        **{k: None for k in STANDARD_METADATA_KEYS},
        **{k: v for k, v in metadata.items() if k not in _MODEL_KEYS},
        "versions": library_versions(),
        "git_revision": git_revision(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json_atomic(sidecar_path, sidecar)
    return weights_path


def _check_input_shape(shape: Any, in_channels: int) -> list[int]:
    ok = (isinstance(shape, (list, tuple)) and len(shape) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape))
    if not ok:
        raise AttrbenchError(f"metadata['input_shape'] must be [C, H, W] positive integers, got "
                             f"{shape!r}.")
    if shape[0] != in_channels:
        raise AttrbenchError(f"metadata['input_shape'] has {shape[0]} channels but the model takes "
                             f"{in_channels}; fix input_shape.")
    return [int(v) for v in shape]


def checkpoint_input_shape(meta: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the images a checkpoint was trained on, or None when unknown.

    Read from the sidecar's ``input_shape``; for a sidecar without it, derived from the training
    config (``image_size`` squares, else the fixed shape of the registered ``dataset``).
    """
    shape = meta.get("input_shape")
    if isinstance(shape, (list, tuple)) and len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    config = meta.get("config") if isinstance(meta.get("config"), Mapping) else {}
    channels = int(meta.get("in_channels", 0)) or None
    size = config.get("image_size")
    if isinstance(size, int) and channels:
        return channels, size, size
    dataset = meta.get("dataset") or config.get("dataset")
    if not isinstance(dataset, str):
        return None
    from attrbench.data.catalog import DATASETS

    if dataset in DATASETS and DATASETS.get(dataset).static_spec is not None:
        c, h, w = DATASETS.get(dataset).static_spec("paper").image_shape
        return (c, h, w) if channels in (None, c) else None
    return None


def check_checkpoint_input(meta: Mapping[str, Any], image_shape: tuple[int, ...],
                           source: str = "The checkpoint") -> None:
    """Refuse images whose size differs from the checkpoint's training images.

    Args:
        meta: the checkpoint's sidecar (from :func:`load_checkpoint`).
        image_shape: ``(C, H, W)`` of the dataset's images.
        source: how to name the checkpoint in the message.

    Raises:
        AttrbenchError: another channel count (checked against ``in_channels`` even when the
            training size is unknown), or another height x width (a model would run on
            them silently, e.g. a 32x32 model on 64x64 images); the message says to pass
            ``--image-size`` (resize ImageFolder data) or to use a matching checkpoint.
    """
    trained = checkpoint_input_shape(meta)
    c, h, w = (int(v) for v in image_shape)
    channels = trained[0] if trained is not None else meta.get("in_channels")
    if channels is not None and c != int(channels):
        raise AttrbenchError(
            f"{source} takes {channels}-channel images but the dataset's have {c}; use data "
            f"with {channels} channels or a checkpoint trained on {c}-channel images.")
    if trained is not None and (h, w) != trained[1:]:
        raise AttrbenchError(
            f"{source} was trained on {trained[1]}x{trained[2]} images but the dataset's are "
            f"{h}x{w}; pass --image-size {trained[1]} to resize them (folder datasets) or use a "
            f"checkpoint trained at {h}x{w}.")


def read_checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar of a checkpoint (no weights are read), with its ``"regime"`` record
    (:func:`checkpoint_regime`: older sidecars' ``"adversarial"`` record, or natural training).

    Raises:
        AttrbenchError: the sidecar is missing, not JSON, or not an attrbench checkpoint sidecar.
    """
    weights_path, sidecar_path = checkpoint_paths(path)
    if Path(path).is_dir():
        found = sorted(p.name for p in Path(path).glob("*.safetensors"))
        raise AttrbenchError(
            f"{str(path)!r} is a directory; pass a checkpoint file "
            f"(found: {', '.join(found) or 'none'})."
        )
    if not sidecar_path.is_file():
        raise AttrbenchError(
            f"Checkpoint sidecar {str(sidecar_path)!r} not found; a checkpoint is "
            f"<stem>.safetensors + <stem>.json written by save_checkpoint (for a bare .pt file use "
            f"load_state_dict_file)."
        )
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AttrbenchError(
            f"Checkpoint sidecar {str(sidecar_path)!r} is not valid JSON ({exc})."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise AttrbenchError(f"{str(sidecar_path)!r} is not an attrbench checkpoint sidecar.")
    if meta.get("format_version", 0) > CHECKPOINT_FORMAT_VERSION:
        raise AttrbenchError(
            f"{str(sidecar_path)!r} has format version {meta['format_version']}; upgrade "
            f"attrbench to read it."
        )
    missing = [k for k in ("architecture", "num_classes", "in_channels") if k not in meta]
    if missing:
        raise AttrbenchError(
            f"Checkpoint sidecar {str(sidecar_path)!r} lacks {missing}; it cannot be rebuilt."
        )
    meta["regime"] = checkpoint_regime(meta)
    return meta


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    expected_num_classes: int | None = None,
    expected_arch: str | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model through the registry and load its safetensors weights.

    Args:
        path: checkpoint stem, or its ``.safetensors`` / ``.json`` file.
        device: where to put the model.
        expected_num_classes: if given, the checkpoint must have this many classes (e.g. the
            dataset's).
        expected_arch: if given, the checkpoint's architecture must be this registry name.

    Returns:
        ``(model, metadata)``: the model in eval mode on ``device``; the sidecar as a dict.

    Raises:
        AttrbenchError: missing files, a torn or corrupted pair, unknown architecture, mismatching
            architecture or class count, or weights that do not fit.
    """
    meta = read_checkpoint_metadata(path)
    weights_path, _ = checkpoint_paths(path)
    arch = meta["architecture"]
    if arch not in MODELS:
        raise AttrbenchError(
            f"Checkpoint {str(weights_path)!r} uses architecture {arch!r}, which this attrbench "
            f"does not register; valid models: {', '.join(MODELS.names())}."
        )
    if expected_arch is not None and arch != expected_arch:
        raise AttrbenchError(
            f"Checkpoint {str(weights_path)!r} is a {arch!r} model, not {expected_arch!r}; pass "
            f"--model {arch} or choose another checkpoint."
        )
    if expected_num_classes is not None and meta["num_classes"] != expected_num_classes:
        raise AttrbenchError(
            f"Checkpoint {str(weights_path)!r} has {meta['num_classes']} classes but "
            f"{expected_num_classes} are expected; use a checkpoint trained on this dataset."
        )
    if not weights_path.is_file():
        raise AttrbenchError(
            f"Checkpoint weights {str(weights_path)!r} not found beside its sidecar."
        )
    sha = meta.get("weights_sha256")
    if sha is not None and file_sha256(weights_path) != sha:
        raise AttrbenchError(
            f"Checkpoint weights {str(weights_path)!r} do not match their sidecar (interrupted or "
            f"altered write); re-save the checkpoint or use the previous one."
        )
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise AttrbenchError(
            f"Cannot read {str(weights_path)!r} as safetensors ({str(exc)[:160]})."
        ) from None
    build = ModelBuild(arch, int(meta["num_classes"]), int(meta["in_channels"]),
                       meta.get("input_normalization"), dict(meta.get("model_kwargs") or {}))
    model = _rebuild(build)
    apply_state_dict(model, state, source=f"Weights in {str(weights_path)!r}")
    return model.to(device).eval(), meta
