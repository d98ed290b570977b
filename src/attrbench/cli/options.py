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
    """Read ``[section]`` of a TOML file (empty dict if no file); CLI flags override what it says.

    A file without the table is read whole (a flat file), except for a dotted section such as
    ``bam.train`` (a table inside ``[bam]``), which is empty when absent.
    """
    if path is None:
        return {}
    if not path.is_file():
        raise AttrbenchError(f"Config file {path} does not exist.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AttrbenchError(f"Config file {path} is not valid TOML: {exc}.") from None
    if "." in section:
        table: Any = data
        for part in section.split("."):
            table = table.get(part, {}) if isinstance(table, dict) else table
    else:
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


# ------------------------------------------------------------------ the CLI vocabulary (issue 12)
#
# One flag per concept across all commands (docs/design.md, "CLI vocabulary"). A command takes a
# concept as ``name: Annotated[T, option("name", "what it means here")] = default``; the parameter
# name is the concept, the flag comes from this table only. tests/cli/test_vocabulary.py walks
# every command and refuses a second spelling.

#: concept (the Python parameter name) -> (its one flag, the help used when a command gives none)
VOCABULARY: dict[str, tuple[str, str]] = {
    "dataset": ("--dataset",
                "Dataset: a registered name (see `attrbench data list`) or a folder."),
    "data_root": ("--data-root",
                  "Folder of a dataset on disk (cifar10, cifar10-jpeg, imagefolder)."),
    "split": ("--split", "Dataset split: train or test."),
    "checkpoint": ("--checkpoint",
                   "Checkpoint stem or .safetensors file written by `attrbench train`."),
    "model": ("--model", "Registered architecture (see `attrbench models`)."),
    "method": ("--method",
               "Method (integrated_gradients), variant 'method|post' (smoothgrad|input_sum), "
               "alias (SG'_sum) or preset (fpa-table); repeatable; see `attrbench methods`."),
    "method_param": ("--method-param",
                     "Method parameter METHOD.PARAM=VALUE (repeatable), e.g. "
                     "integrated_gradients.steps=50; PARAM=VALUE when one method is given."),
    "num_images": ("--num-images", "Use the first N images of the split."),
    "indices": ("--indices", "Image positions: START:STOP[:STEP] or a list like 0,3,7."),
    "image_size": ("--image-size",
                   "Resize (shorter side) and centre-crop folder images to this side."),
    "max_batch": ("--max-batch", "Most model inputs per forward pass."),
    "seed": ("--seed", "Seed of every random draw."),
    "device": ("--device", "auto, cpu, cuda or cuda:N."),
    "out": ("--out", "Output folder."),
    "config": ("--config", "TOML file; flags given explicitly win over it."),
    "target": ("--target",
               "Class explained: predicted (the model's class on the clean image) or label."),
    "augment": ("--augment", "Training augmentation: none, fpa or rectangle."),
}

#: spellings replaced by the vocabulary -> the flag to use now (a one-line hint, see rename_hint)
RENAMED: dict[str, str] = {
    "--root": "--data-root",
    "--augmentation": "--augment",
    "--data": "--dataset",
    "--variant": "--method",
    "--param": "--method-param",
    "-p": "--method-param",
}


def option(concept: str, help: str | None = None, **kwargs: Any) -> Any:
    """``typer.Option`` for a vocabulary concept: its one flag, ``help`` or the default help."""
    import typer

    flag, default_help = VOCABULARY[concept]
    return typer.Option(flag, help=help or default_help, **kwargs)


def rename_hint(args: list[str]) -> str | None:
    """The message for the first old flag spelling in ``args`` (before ``--``), else None."""
    for arg in args:
        if arg == "--":
            return None
        flag = arg.split("=", 1)[0]
        if flag in RENAMED:
            return (f"{flag} is now {RENAMED[flag]} (one flag name per concept across commands; "
                    "see `attrbench <command> --help`).")
    return None


def parse_method_params(pairs: list[str] | None, methods: list[str] | None = None,
                        ) -> dict[str, dict[str, Any]]:
    """``["integrated_gradients.steps=50"]`` -> ``{"integrated_gradients": {"steps": 50}}``.

    Args:
        pairs: the ``--method-param`` values, ``METHOD.PARAM=VALUE`` (values as in
            :func:`parse_key_values`).
        methods: the registry method names the command runs; when it holds exactly one, the
            ``METHOD.`` prefix may be left out (``steps=50``).

    Raises:
        AttrbenchError: a pair without ``=``, or without ``METHOD.`` while not exactly one method
            is given.
    """
    only = sorted(set(methods or ()))
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_key_values(pairs, "--method-param").items():
        method, sep, param = key.partition(".")
        if not sep:
            if len(only) != 1:
                given = f" ({len(only)} methods given)" if only else ""
                raise AttrbenchError(
                    f"Bad --method-param {key!r}{given}; write METHOD.PARAM=VALUE, e.g. "
                    "integrated_gradients.steps=50 (PARAM=VALUE alone only with one method).")
            method, param = only[0], key
        out.setdefault(method, {})[param] = value
    return out


def method_names(names: str | list[str]) -> list[str]:
    """The registry methods behind ``--method`` values (methods, variants, aliases, presets,
    comma-separated or repeated), for :func:`parse_method_params`; an unknown name fails here,
    before anything loads."""
    from attrbench.methods import list_methods
    from attrbench.variants import resolve_variants

    items = [names] if isinstance(names, str) else list(names)
    tokens = [t.strip() for item in items for t in item.split(",") if t.strip()]
    registered = set(list_methods())
    rest = [t for t in tokens if t not in registered]
    found = {t for t in tokens if t in registered}
    return sorted(found | ({v.method for v in resolve_variants(rest)} if rest else set()))


def build_config(cls: type, config: Path | None, section: str, flags: dict[str, Any], *,
                 factory: Any = None, renamed: dict[str, str] | None = None,
                 subtables: tuple[str, ...] = ()) -> Any:
    """The one way a command builds its configuration: a TOML table, then the flags, then ``cls``.

    Reads table ``[section]`` of the TOML file ``config`` (none: no file), refuses keys that are
    not fields of the frozen dataclass ``cls`` and values of the wrong type (naming the file and
    the valid keys), applies the ``flags`` that were given (None = not given, so the file's
    value or the default stays; a dict flag merges into the file's dict key by key), turns
    lists into tuples for tuple fields and builds the config with ``factory`` (default ``cls``;
    e.g. ``RoarConfig.preset`` partially applied, ``TrainConfig.from_values``). The config
    validates itself on construction, so a bad value from the file or a flag raises there.

    Args:
        cls: the config dataclass (``EvalConfig``, ``RobustnessConfig``, ``RoarConfig``,
            ``IteRoarConfig``, ``FPAReproductionConfig``, ``TrainConfig``, ...).
        config: the ``--config`` file, or None.
        section: its table, e.g. ``"roar"`` (a file without that table is read whole).
        flags: ``{field: value}`` from the command line.
        factory: builds the config from the merged values (default ``cls``).
        renamed: ``{old key: new key}`` of keys a file may still use: refused with the new name.
        subtables: keys of the table that are tables read by another call (``train`` of
            ``[bam]``, read as section ``bam.train``): skipped here.

    Returns:
        The config.

    Raises:
        AttrbenchError: missing or invalid TOML, unknown keys, wrong types, bad values.

    Example:
        >>> from attrbench.fpa import EvalConfig
        >>> build_config(EvalConfig, None, "evaluate", {"num_steps": 8, "seed": None}).num_steps
        8
    """
    import dataclasses
    import typing

    source = str(config) if config is not None else "the options"
    values = {k: v for k, v in load_config_file(config, section).items() if k not in subtables}
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in sorted(set(values) & set(renamed or {})):
        raise AttrbenchError(f"Option {key!r} in {source} is now {renamed[key]!r}; rename it.")
    check_known_keys(values, fields, source)
    check_value_types(values, cls, source)
    given = {k: v for k, v in flags.items() if v is not None}
    check_known_keys(given, fields, "the options")
    for key, value in given.items():
        # A dict field (augment_params, regime_params) merges key by key: one --x-param K=V
        # overrides that key of the file's table and keeps the others.
        both_dicts = isinstance(value, dict) and isinstance(values.get(key), dict)
        values[key] = {**values[key], **value} if both_dicts else value
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        hint = hints.get(key)
        options = (*typing.get_args(hint), hint)
        if isinstance(value, list) and any(typing.get_origin(o) is tuple or o is tuple
                                           for o in options):
            values[key] = tuple(value)
    return (factory or cls)(**values)
