"""Issue 13 item 7: --train-limit takes a seeded stratified subset (every class in proportion),
recorded as train_subset in run.json; --test-limit stays the first N test images; a folder
written before train_subset existed (the first N) is refused rather than resumed on other images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

import attrbench.training.loop as loop
from attrbench.cli import app
from attrbench.data import load_dataset
from attrbench.data.base import SubsetWarning
from attrbench.errors import AttrbenchError
from attrbench.training import TrainConfig, train
from attrbench.training.loop import _check_same_config, load_training_data

CLASSES = ("ant", "bee", "cat", "dog")


def _folder(root: Path, per_class: int = 3) -> Path:
    """A class-sorted ImageFolder tree: train/ and test/ with ``per_class`` 32x32 PNGs a class."""
    for split in ("train", "test"):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = np.full((32, 32, 3), 40 * c + 5 * i, dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def _cfg(dataset: str, **kw) -> TrainConfig:
    base = dict(dataset=dataset, model="small_cnn", epochs=1, batch_size=4, train_limit=4,
                test_limit=2, device="cpu", seed=0)
    return TrainConfig.from_recipe("quick", **{**base, **kw})


def test_train_limit_is_a_seeded_stratified_subset(tmp_path: Path) -> None:
    data = str(_folder(tmp_path / "data"))
    cfg = _cfg(data)
    assert cfg.train_subset == "stratified"
    with pytest.warns(SubsetWarning, match="the first 2 images"):  # test_limit: the first N
        train_set, test_set = load_training_data(cfg)
    # The first 4 training files are all 'ant'; the stratified subset has one image per class.
    assert train_set.label_histogram().tolist() == [1, 1, 1, 1]
    expected = load_dataset(data, "train", limit=4, limit_mode="stratified", seed=0)
    assert torch.equal(train_set.ids, expected.ids)
    assert test_set.labels.tolist() == [0, 0]
    other = load_training_data(_cfg(data, seed=1, test_limit=None))[0]
    assert not torch.equal(other.ids, train_set.ids)  # the draw follows the run's seed
    with pytest.warns(SubsetWarning, match="the first 4 images"):
        first = load_training_data(_cfg(data, train_subset="first", test_limit=None))[0]
    assert first.labels.tolist() == [0, 0, 0, 1]


def test_train_uses_and_records_the_subset(tmp_path: Path, monkeypatch) -> None:
    data = str(_folder(tmp_path / "data"))
    seen: list[object] = []

    def spy(*args, **kwargs):
        dataset = load_dataset(*args, **kwargs)
        seen.append(dataset)
        return dataset

    monkeypatch.setattr(loop, "load_dataset", spy)
    with pytest.warns(SubsetWarning):
        train(_cfg(data), tmp_path / "run", progress=False)
    assert seen[0].split == "train" and seen[0].label_histogram().tolist() == [1, 1, 1, 1]
    config = json.loads((tmp_path / "run" / "run.json").read_text())["config"]
    assert config["train_subset"] == "stratified" and config["train_limit"] == 4


def test_old_folder_on_the_first_n_is_refused(tmp_path: Path) -> None:
    cfg = _cfg("cifar10-mini", train_limit=8, test_limit=4, batch_size=8)
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    record = json.loads((run / "run.json").read_text())
    del record["config"]["train_subset"]  # as written before the field existed
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(AttrbenchError, match=r"differs in: train_subset\).*trained on the first "
                                             r"8 training images; to resume it, train with "
                                             r"train_subset='first'.*\[train\] table\); "
                                             r"choose another --out"):
        train(cfg, run, progress=False)
    # Asking for the first N resumes it (here: finds it finished).
    result = train(_cfg("cifar10-mini", train_limit=8, test_limit=4, batch_size=8,
                        train_subset="first"), run, progress=False)
    assert len(result.history) == 1


def test_without_train_limit_the_subset_mode_does_not_matter(tmp_path: Path) -> None:
    cfg = _cfg("cifar10-mini", train_limit=None)
    old = {k: v for k, v in cfg.to_dict().items() if k != "train_subset"}
    (tmp_path / "run.json").write_text(json.dumps({"config": old}))
    _check_same_config(tmp_path, cfg.to_dict())  # all images either way: resumes
    limited = _cfg("cifar10-mini", train_limit=8)
    with pytest.raises(AttrbenchError, match="differs in: train_limit, train_subset"):
        _check_same_config(tmp_path, limited.to_dict())


def test_bad_train_subset_is_refused() -> None:
    with pytest.raises(AttrbenchError, match=r"train_subset must be 'stratified' or 'first', "
                                             r"got 'random'"):
        _cfg("cifar10-mini", train_subset="random")


def test_help_says_stratified() -> None:
    assert CliRunner().invoke(app, ["train", "--help"]).exit_code == 0
    command = typer.main.get_command(app).commands["train"]
    helps = {p.name: p.help for p in command.params}
    assert "a seeded stratified subset" in helps["train_limit"]
    assert 'train_subset = "first"' in helps["train_limit"]
    assert "first N test images" in helps["test_limit"]


def test_cli_records_the_subset_and_takes_first_from_the_config(tmp_path: Path) -> None:
    base = ["train", "--dataset", "cifar10-mini", "--epochs", "1", "--batch-size", "8",
            "--train-limit", "8", "--test-limit", "4", "--device", "cpu"]
    runner = CliRunner()
    assert runner.invoke(app, [*base, "--out", str(tmp_path / "a")]).exit_code == 0
    (tmp_path / "c.toml").write_text('[train]\ntrain_subset = "first"\n')
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--config",
                                 str(tmp_path / "c.toml")])
    assert result.exit_code == 0, result.output
    subsets = [json.loads((tmp_path / r / "run.json").read_text())["config"]["train_subset"]
               for r in ("a", "b")]
    assert subsets == ["stratified", "first"]
