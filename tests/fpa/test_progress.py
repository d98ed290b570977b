"""Progress counts images and leaves lines in a log when stderr is not a terminal (issue 13, 14)."""

from __future__ import annotations

import io

from attrbench import progress as progress_mod
from attrbench.data import load_dataset
from attrbench.fpa import evaluate
from attrbench.progress import attached_to_terminal, progress_bar


def test_lines_in_a_log(monkeypatch) -> None:
    monkeypatch.setattr(progress_mod, "LINE_INTERVAL_S", 0.0)
    log = io.StringIO()
    assert not attached_to_terminal(log)
    with progress_bar(True, total=6, description="evaluate", unit="images", stream=log) as advance:
        advance(4)
        advance(0)
        advance(2)
    lines = [line.split(",")[0] for line in log.getvalue().splitlines()]
    assert lines == ["evaluate: 4/6 images (67 %)", "evaluate: 6/6 images (100 %)"]


def test_lines_are_rate_limited_but_the_last_prints(monkeypatch) -> None:
    monkeypatch.setattr(progress_mod, "LINE_INTERVAL_S", 3600.0)
    log = io.StringIO()
    with progress_bar(True, total=3, description="x", stream=log) as advance:
        for _ in range(3):
            advance(1)
    assert [line.split(",")[0] for line in log.getvalue().splitlines()] == ["x: 1/3 (33 %)",
                                                                          "x: 3/3 (100 %)"]


def test_evaluate_counts_images_not_chunks(monkeypatch, capsys, small_cnn_model) -> None:
    monkeypatch.setattr(progress_mod, "LINE_INTERVAL_S", 0.0)
    model = small_cnn_model
    data = load_dataset("cifar10-mini", "test", limit=6)
    evaluate(model, data, ["Random"], chunk_size=4, num_steps=2, progress=True)
    lines = [line.split(",")[0] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["evaluate: 4/6 images (67 %)", "evaluate: 6/6 images (100 %)"]
    evaluate(model, data, ["Random"], chunk_size=4, num_steps=2)  # default: silent off a terminal
    assert capsys.readouterr().err == ""
