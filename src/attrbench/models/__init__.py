"""Model registry and checkpoints.

- :func:`list_models`, :func:`get_model_spec`, :func:`create_model`: the registered architectures
  (``small_cnn``, ``cifar_resnet18``, ``cifar_resnet20/32/44/56``, ``resnet18``, ``resnet50``).
- :func:`save_checkpoint`, :func:`load_checkpoint`: ``<stem>.safetensors`` plus a ``<stem>.json``
  sidecar.
- :func:`load_state_dict_file`, :func:`load_weights_file`, :func:`safe_torch_load`: users' ``.pt`` /
  ``.pth`` files, weights only.
- :func:`check_input_compatible`: channels and minimum size, checked at the boundary.
"""

from __future__ import annotations

from attrbench.models.checkpoint import (
    apply_state_dict,
    checkpoint_paths,
    checkpoint_regime,
    load_checkpoint,
    load_weights_file,
    read_checkpoint_metadata,
    save_checkpoint,
)
from attrbench.models.compat import check_input_compatible, first_conv_in_channels
from attrbench.models.factory import (
    MODELS,
    count_parameters,
    create_model,
    get_model_spec,
    list_models,
    model_build_of,
    model_spec_of,
    resolve_layer,
)
from attrbench.models.normalization import NORMALIZATION_PRESETS, InputNormalization, unwrap_model
from attrbench.models.spec import ModelBuild, ModelSpec
from attrbench.models.torch_load import (
    load_state_dict_file,
    safe_torch_load,
    strip_state_dict_prefix,
)

__all__ = [
    "MODELS",
    "NORMALIZATION_PRESETS",
    "InputNormalization",
    "ModelBuild",
    "ModelSpec",
    "apply_state_dict",
    "check_input_compatible",
    "checkpoint_paths",
    "checkpoint_regime",
    "count_parameters",
    "create_model",
    "first_conv_in_channels",
    "get_model_spec",
    "list_models",
    "load_checkpoint",
    "load_state_dict_file",
    "load_weights_file",
    "model_build_of",
    "model_spec_of",
    "read_checkpoint_metadata",
    "resolve_layer",
    "safe_torch_load",
    "save_checkpoint",
    "strip_state_dict_prefix",
    "unwrap_model",
]
