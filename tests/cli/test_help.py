"""Every ``--help`` shows its bracketed words; ``attrbench methods`` (issue 12 item 4).

Typer renders help with Rich, whose markup takes ``[word ...]`` (a ``[`` then a lower-case letter,
``#``, ``/`` or ``@``) for a style tag and drops it: "TOML file with a [train] table" printed as
"TOML file with a  table". Help strings must write ``\\[train]``. The test walks the whole command
tree, collects each ``[...]`` of every help text (the command's and every option's) and asserts
that its first word, bracket included, is on the printed page.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from attrbench.cli import app
from attrbench.errors import AttrbenchError
from attrbench.methods import get_method_spec, list_methods, register_method, unregister_method
from attrbench.variants import ALIASES, PRESETS

runner = CliRunner()
WIDE = {"COLUMNS": "2000", "TERMINAL_WIDTH": "2000", "NO_COLOR": "1"}
# "[train]" -> "[train]"; "[default: fpa-table]" -> "[default:"; an escaped "\[x]" the same
BRACKET = re.compile(r"\\?\[([^\[\]\s]+)(\]?)")


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, command) of ``cmd`` and of every sub-command below it (Typer's vendored Click)."""
    out = [(path, cmd)]
    if hasattr(cmd, "commands"):  # a group
        for name in sorted(cmd.commands):
            out += _commands(cmd.commands[name], (*path, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def _expected(cmd: Any) -> list[str]:
    texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
    return sorted({f"[{m.group(1)}{m.group(2)}" for t in texts for m in BRACKET.finditer(t)})


def test_every_command_is_walked() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"train", "evaluate", "methods", "bam run", "roar", "robustness", "explain"} <= names
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("path,cmd", COMMANDS,
                         ids=[" ".join(p) or "attrbench" for p, _ in COMMANDS])
def test_help_shows_bracketed_words(path: tuple[str, ...], cmd: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    page = result.output
    missing = [w for w in _expected(cmd) if w not in page]
    assert not missing, f"`attrbench {' '.join(path)} --help` drops {missing}"


def test_the_check_catches_an_unescaped_bracket() -> None:
    demo = typer.Typer()

    @demo.command()
    def run(raw: str = typer.Option("", help="TOML file with a [train] table."),
            escaped: str = typer.Option("", help="TOML file with a \\[fpa] table.")) -> None:
        """Demo \\[default: x] and [-1, 1]."""

    cmd = typer.main.get_command(demo)
    assert _expected(cmd) == ["[-1,", "[default:", "[fpa]", "[train]"]
    page = runner.invoke(demo, ["--help"], env=WIDE).output
    assert [w for w in _expected(cmd) if w not in page] == ["[train]"]  # Rich ate the raw one
    assert "TOML file with a  table." in page


def test_train_help_names_the_train_table() -> None:
    page = runner.invoke(app, ["train", "--help"], env=WIDE).output
    assert "[train] table" in page


# --------------------------------------------------------------------------- attrbench methods


def test_methods_json_matches_the_registry() -> None:
    result = runner.invoke(app, ["methods", "--json"], env=WIDE)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["name"]: r for r in data["methods"]}
    assert list(rows) == list_methods()
    for name, row in rows.items():
        spec = get_method_spec(name)
        assert row["signed"] is spec.signed and row["stochastic"] is spec.stochastic
        assert row["differentiable"] is (spec.differentiable is not None)
        assert row["defaults"] == json.loads(json.dumps(dict(spec.defaults)))
    assert rows["vanilla_gradient"]["differentiable"] and rows["integrated_gradients"]["signed"]
    assert not rows["smoothgrad"]["differentiable"] and not rows["grad_cam"]["signed"]
    assert rows["integrated_gradients"]["defaults"]["steps"] == 200
    assert data["presets"] == {k: list(v) for k, v in PRESETS.items()}
    variants = {v["alias"]: v for v in data["variants"]}
    assert {a: v["name"] for a, v in variants.items()} == ALIASES
    # FPA Sec. 3: _sum keeps the sign, _abs drops it; SQ-SG is a square, x * e can be < 0
    assert variants["IG_sum"]["signed"] and not variants["IG_abs"]["signed"]
    assert not variants["SQ-SG_sum"]["signed"] and variants["SQ-SG'_sum"]["signed"]
    steps = {s["name"]: s for s in data["postprocess"]}
    assert steps["abs_sum"]["kind"] == "reduce" and not steps["abs_sum"]["keeps_sign"]
    assert steps["minmax_p99"]["kind"] == "map"


def test_methods_tables_pattern_and_errors() -> None:
    page = runner.invoke(app, ["methods"], env=WIDE).output
    for name in [*list_methods(), *PRESETS, "VG'_sum", "vanilla_gradient|input_sum", "minmax_p99"]:
        assert name in page, name
    # the defaults column is shown as written, brackets included (Rich markup escaped)
    assert "steps=200, baseline=0.0, quadrature='riemann_right'" in page
    assert "U[0, 1)" in page
    rows = json.loads(runner.invoke(app, ["methods", "smooth*", "--json"]).output)["methods"]
    assert [r["name"] for r in rows] == ["smoothgrad", "smoothgrad_sq"]
    bad = runner.invoke(app, ["methods", "nope*"])
    assert isinstance(bad.exception, AttrbenchError)
    assert "No method matches 'nope*'; run 'attrbench methods'" in str(bad.exception)


def test_methods_lists_a_user_method() -> None:
    def ones(model, x, target):  # (B, C, H, W) -> all-ones map
        return x.new_ones(x.shape)

    register_method("test_help_ones", ones, signed=False, summary="all ones [x]")
    try:
        data = json.loads(runner.invoke(app, ["methods", "test_help_*", "--json"]).output)
        (row,) = data["methods"]
        assert (row["name"], row["signed"], row["differentiable"]) == (
            "test_help_ones", False, False)
        assert row["origin"].endswith("ones")
        assert "all ones [x]" in runner.invoke(app, ["methods", "test_help_*"], env=WIDE).output
    finally:
        unregister_method("test_help_ones")
