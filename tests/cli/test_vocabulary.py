"""One flag name per concept across every command (issue 12 item 4; docs/design.md).

The test walks the whole Typer/Click command tree and looks at every option: a parameter that
stands for a vocabulary concept (its Python name, or a known other name for it) must use the one
flag of ``cli/options.py``'s VOCABULARY, a vocabulary flag must not mean anything else, and the
replaced spellings (``--root``, ``--variant``, ``-p``, ...) appear nowhere.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.cli.options import RENAMED, VOCABULARY, parse_method_params, rename_hint
from attrbench.errors import AttrbenchError

#: Python parameter names that mean a vocabulary concept under another name.
OTHER_NAMES: dict[str, set[str]] = {
    "dataset": {"data"},
    "data_root": {"root"},
    "method": {"methods", "variant", "variants"},
    "method_param": {"param", "params", "method_params"},
    "augment": {"augmentation", "augmentations"},
}
CONCEPT_OF = {name: concept for concept in VOCABULARY
              for name in {concept, *OTHER_NAMES.get(concept, ())}}
FLAG_CONCEPT = {flag: concept for concept, (flag, _) in VOCABULARY.items()}


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    out = [(" ".join(path) or "attrbench", cmd)]
    for name in sorted(getattr(cmd, "commands", None) or {}):
        out += _commands(cmd.commands[name], (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))
OPTIONS = [(path, p) for path, cmd in COMMANDS for p in cmd.params
           if getattr(p, "param_type_name", "") == "option"]


def test_the_walk_sees_every_command() -> None:
    paths = {path for path, _ in COMMANDS}
    assert {"evaluate", "explain", "train", "roar", "iteroar", "robustness", "bam run",
            "reproduce fpa", "demo", "data info", "methods"} <= paths
    assert len(OPTIONS) > 100


def test_no_concept_has_two_spellings() -> None:
    wrong, spellings = [], {}
    for path, param in OPTIONS:
        flags = [*param.opts, *param.secondary_opts]
        concept = CONCEPT_OF.get(param.name)
        if concept is not None:
            spellings.setdefault(concept, set()).update(flags)
            if flags != [VOCABULARY[concept][0]]:
                wrong.append(f"{path}: {param.name} is {flags}, not {VOCABULARY[concept][0]}")
        for flag in flags:
            owner = FLAG_CONCEPT.get(flag)
            if owner is not None and concept != owner:
                wrong.append(f"{path}: {flag} is used for {param.name!r}, not {owner!r}")
    assert not wrong, "\n".join(wrong)
    # every concept a command takes is spelt one way across all commands
    assert {c: s for c, s in spellings.items() if len(s) != 1} == {}
    for concept in ("dataset", "data_root", "method", "method_param", "num_images",
                    "image_size", "seed", "device", "out"):
        assert concept in spellings, f"no command takes {concept}?"


def test_the_replaced_spellings_are_gone() -> None:
    used = {(path, flag) for path, p in OPTIONS for flag in (*p.opts, *p.secondary_opts)}
    assert [(path, flag) for path, flag in used if flag in RENAMED] == []
    assert not [p for _, p in OPTIONS if "-p" in p.opts or "--param" in p.opts]


def test_num_images_and_indices_are_two_concepts() -> None:
    # --num-images N: the first N images; --indices 0:8 / 0,3,7: chosen positions (explain)
    takes = {path: {p.name for p in cmd.params} for path, cmd in COMMANDS}
    assert "indices" in takes["explain"] and "num_images" in takes["evaluate"]


def test_an_old_spelling_names_the_new_one() -> None:
    assert rename_hint(["explain", "--root", "x"]).startswith("--root is now --data-root")
    assert rename_hint(["evaluate", "--variant=IG_sum"]).startswith("--variant is now --method")
    assert rename_hint(["explain", "-p", "steps=5"]).startswith("-p is now --method-param")
    assert rename_hint(["evaluate", "--method", "IG_sum", "--", "-p"]) is None
    proc = subprocess.run([sys.executable, "-m", "attrbench", "evaluate", "--variant", "IG_sum"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --variant is now --method")


@pytest.mark.parametrize("command, rest", [
    ("build", ["--objects", "o"]),
    ("coco-crops", ["--instances", "i.json", "--images", "im", "--class", "dog"])])
def test_bam_output_folder_is_out_and_the_old_positional_says_so(command: str,
                                                                 rest: list[str]) -> None:
    params = {p.name: p for p in typer.main.get_command(app).commands["bam"]
              .commands[command].params}
    assert params["out"].opts == ["--out"]
    proc = subprocess.run([sys.executable, "-m", "attrbench", "bam", command, "runs/x", *rest],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: the output folder is now --out (write --out runs/x); one flag name per concept "
        "across commands, see `attrbench bam --help`."]


def test_method_param_prefix_only_needed_with_several_methods() -> None:
    assert parse_method_params(["steps=8"], ["integrated_gradients"]) == {
        "integrated_gradients": {"steps": 8}}
    assert parse_method_params(["smoothgrad.n_samples=3", "integrated_gradients.steps=8"],
                               ["integrated_gradients", "smoothgrad"]) == {
        "smoothgrad": {"n_samples": 3}, "integrated_gradients": {"steps": 8}}
    with pytest.raises(AttrbenchError, match=r"\(2 methods given\); write METHOD\.PARAM=VALUE"):
        parse_method_params(["steps=8"], ["integrated_gradients", "smoothgrad"])


def test_train_help_shows_the_train_table() -> None:
    page = CliRunner().invoke(app, ["train", "--help"],
                              env={"COLUMNS": "2000", "NO_COLOR": "1"}).output
    assert "TOML file with a [train] table" in page


def _documented_command_lines() -> list[str]:
    """``attrbench ...`` lines of README.md's and docs/*.md's code, backslash continuations joined
    (inline `attrbench ...` spans of the docs included)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lines = []
    for doc in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        text = doc.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #", 1)[0]
            lines += [m.group(0) for m in re.finditer(r"(?<![\w/.-])attrbench [^`\n]*",
                                                      line.strip())]
    return lines


def test_documented_commands_use_existing_flags() -> None:
    """Every flag in README.md / docs command lines exists on its command (catches stale docs)."""
    import shlex

    tree = typer.main.get_command(app)
    stale = []
    lines = _documented_command_lines()
    assert len(lines) > 10
    for line in lines:
        try:
            tokens = shlex.split(line)[1:]
        except ValueError:
            continue
        cmd, i = tree, 0
        while i < len(tokens) and tokens[i] in (getattr(cmd, "commands", None) or {}):
            cmd, i = cmd.commands[tokens[i]], i + 1
        if cmd is tree:
            continue  # `attrbench` in prose, or an unknown word
        flags = {f for p in cmd.params for f in (*p.opts, *p.secondary_opts)} | {"--help"}
        stale += [f"{line!r}: {t}" for t in tokens[i:]
                  if t.startswith("--") and t.split("=", 1)[0] not in flags]
    assert not stale, "\n".join(stale)
