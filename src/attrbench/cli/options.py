"""Parsing helpers shared by CLI commands: ``KEY=VALUE`` overrides and TOML config files."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

from attrbench.errors import AttrbenchError


def parse_key_values(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """Turn ``["p1_max=0.3", "mode=reference"]`` into ``{"p1_max": 0.3, "mode": "reference"}``.

    Values are read as Python literals (numbers, booleans, tuples) when they parse, else kept as text;
    ``ast.literal_eval`` never executes code.
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise AttrbenchError(f"Bad {what} {pair!r}; write KEY=VALUE, e.g. p1_max=0.3.")
        try:
            value: Any = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out[key.strip()] = value
    return out


def load_config_file(path: Path | None, section: str) -> dict[str, Any]:
    """Read ``[section]`` of a TOML file (empty dict if no file); CLI flags override what it says."""
    if path is None:
        return {}
    if not path.is_file():
        raise AttrbenchError(f"Config file {path} does not exist.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AttrbenchError(f"Config file {path} is not valid TOML: {exc}.") from None
    table = data.get(section, data)
    if not isinstance(table, dict):
        raise AttrbenchError(f"Section [{section}] of {path} must be a table.")
    return table


def check_known_keys(values: dict[str, Any], known: set[str], source: str) -> None:
    """Refuse keys (from a config file) that the target config does not have, listing valid ones."""
    unknown = sorted(set(values) - known)
    if unknown:
        raise AttrbenchError(f"Unknown option(s) {', '.join(unknown)} in {source}; "
                             f"valid: {', '.join(sorted(known))}.")


def check_out_folder(path: Path, flag: str = "--out") -> None:
    """Refuse an output folder that is a file or cannot be created, before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AttrbenchError(f"{flag} {path} is a file; pass a folder (new, or one this command "
                             "wrote before).")
    parent = next((p for p in (path, *path.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise AttrbenchError(f"{flag} {path} lies under the file {parent}; pass a folder path.")


def check_positive(value: int | None, flag: str) -> None:
    """Refuse a count flag below 1 (``--num-images 0``), naming the flag."""
    if value is not None and value < 1:
        raise AttrbenchError(f"{flag} must be >= 1, got {value}.")


_KINDS: dict[type, tuple[str, tuple[type, ...]]] = {
    bool: ("true or false", (bool,)), int: ("an integer", (int,)),
    float: ("a number", (int, float)), str: ("a string", (str,)),
    tuple: ("a list", (list, tuple)), list: ("a list", (list, tuple)), dict: ("a table", (dict,)),
}


def check_value_types(values: dict[str, Any], cls: type, source: str) -> None:
    """Refuse config-file values whose type does not fit the dataclass field (``epochs = "two"``).

    Checks the outer type of ``bool``, ``int``, ``float``, ``str``, ``tuple``, ``list`` and
    ``dict`` fields, optionally ``| None``; other field types are left to the config itself.
    """
    import dataclasses
    import types
    import typing

    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        hint = hints.get(key)
        if hint is None or not dataclasses.is_dataclass(cls):
            continue
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) or \
            typing.get_origin(hint) is typing.Union else (hint,)
        if value is None and type(None) in options:
            continue
        kinds = [_KINDS.get(typing.get_origin(o) or o) for o in options if o is not type(None)]
        if not kinds or any(k is None for k in kinds):
            continue
        ok = any(isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
                 for _, allowed in kinds)
        if not ok:
            want = " or ".join(sorted({name for name, _ in kinds}))
            raise AttrbenchError(f"{key} in {source} must be {want}, got {value!r} "
                                 f"({type(value).__name__}).")
