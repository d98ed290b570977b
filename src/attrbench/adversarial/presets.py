"""Config = named preset + explicit overrides, validated: one rule for PGD, IG-NORM and the
attributional attacks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from attrbench.errors import AttrbenchError, unknown_name_error


def preset_values(kind: str, fields_of: type, presets: Mapping[str, Any], preset: str | None,
                  overrides: Mapping[str, object]) -> dict[str, object]:
    """Field values of ``preset`` (a dataclass instance or a dict of values) updated by overrides.

    Args:
        kind: what is configured, for messages ("PGD", "attack").
        fields_of: the config dataclass; overrides must name its fields.
        presets: preset name -> config instance or dict of field values.
        preset: the chosen preset, or None for the dataclass defaults.
        overrides: user values; None means "keep the preset's".

    Raises:
        AttrbenchError: unknown preset or field.
    """
    values: dict[str, object] = {}
    if preset is not None:
        if preset not in presets:
            raise unknown_name_error(f"{kind} preset", preset, presets)
        chosen = presets[preset]
        values.update(dataclasses.asdict(chosen) if dataclasses.is_dataclass(chosen) else chosen)
    known = {f.name for f in dataclasses.fields(fields_of)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AttrbenchError(
            f"Unknown {kind} option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}."
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values
