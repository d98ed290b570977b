"""The docstring examples in src/attrbench run and print what they show (issue 12 item 6).

Every module whose source holds ``>>>`` is run through :mod:`doctest` (offline: the examples use
the embedded data and tiny models). An example that cannot run offline is marked
``# doctest: +SKIP`` where it is written.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import attrbench

SRC = Path(attrbench.__file__).resolve().parent


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            rel = path.relative_to(SRC.parent).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_are_found() -> None:
    # The variants, data, augmentation and metric docstrings carry examples; an empty list would
    # mean the walk above is broken and the test below runs nothing.
    assert {"attrbench.variants", "attrbench.data", "attrbench.metrics.fidelity"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has '>>>' in its source but doctest finds no example"
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
