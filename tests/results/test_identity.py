"""Results-folder identity: fingerprints, readable differences, refusal and extension (issue 13)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.results import CURVES, ResultStore
from attrbench.results.identity import differences, images_sha256, state_dict_sha256
from attrbench.results.store import ImageList


def test_images_sha256_is_sha256_of_int64_ids() -> None:
    ids = [5, 1, 9]
    expected = hashlib.sha256(np.array(ids, dtype="<i8").tobytes()).hexdigest()
    assert images_sha256(ids) == expected
    assert images_sha256([1, 5, 9]) != expected          # order matters
    assert images_sha256(ids, [0, 0, 1]) != expected     # labels count when given


def test_state_dict_sha256_tells_weights_apart() -> None:
    torch.manual_seed(0)
    a = nn.Linear(3, 2)
    b = nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert state_dict_sha256(a) == state_dict_sha256(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert state_dict_sha256(a) != state_dict_sha256(b)


def test_differences_name_the_leaf_top_level_first() -> None:
    old = {"seed": 0, "models": {"m": {"weights_sha256": "a" * 64}}, "x": 1}
    new = {"seed": 1, "models": {"m": {"weights_sha256": "b" * 64}}, "x": 1}
    assert differences(old, new) == [
        "seed: 0 there, 1 now",
        "models.m.weights_sha256: aaaaaaaaaaaa there, bbbbbbbbbbbb now",
    ]
    assert differences({"a": 1}, {"b": 1}) == ["a: 1 there, absent now", "b: absent there, 1 now"]


def _images(n: int, chunk: int = 4) -> ImageList:
    return ImageList(np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), chunk)


def test_same_identity_resumes_other_config_is_refused(tmp_path: Path) -> None:
    ResultStore(tmp_path / "r", {"a": 1, "b": [1, 2]}, 0, images=_images(8))
    ResultStore(tmp_path / "r", {"a": 1, "b": (1, 2)}, 0, images=_images(8))  # tuple == list
    with pytest.raises(AttrbenchError, match=r"differs in: a\): a: 1 there, 2 now\. Pass a new "
                                             r"--out folder or delete this one"):
        ResultStore(tmp_path / "r", {"a": 2, "b": [1, 2]}, 0, images=_images(8))


def test_more_images_extend_and_drop_the_partial_chunk(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r", {"a": 1}, 0, images=_images(6, chunk=4))
    curves, other = store.table(CURVES), store.table("other")
    for key in ("m__chunk00000", "m__chunk00001"):  # chunk 1 holds images 4, 5 only
        for table in (curves, other):
            table.path(key).parent.mkdir(parents=True, exist_ok=True)
            table.path(key).write_bytes(b"x")
    ResultStore(tmp_path / "r", {"a": 1}, 0, images=_images(10, chunk=4))
    for table in (curves, other):  # every table drops the partial chunk
        assert table.has("m__chunk00000") and not table.has("m__chunk00001")
    record = json.loads((tmp_path / "r" / "config.json").read_text())["images"]
    assert record == {"count": 10, "sha256": _images(10).sha256}


def test_fewer_or_other_images_are_refused(tmp_path: Path) -> None:
    ResultStore(tmp_path / "r", {"a": 1}, 0, images=_images(8))
    with pytest.raises(AttrbenchError, match=r"holds 8 images and this run asks for 4; evaluate "
                                             r"\(at least\) those 8 images \(--num-images 8\)"):
        ResultStore(tmp_path / "r", {"a": 1}, 0, images=_images(4))
    shifted = ImageList(np.arange(1, 13, dtype=np.int64), np.zeros(12, dtype=np.int64), 4)
    with pytest.raises(AttrbenchError, match=r"results on other images \(8 images, fingerprint "
                                             r"\w{12}; this run: 12 images"):
        ResultStore(tmp_path / "r", {"a": 1}, 0, images=shifted)


def test_out_that_is_a_file_or_not_writable(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(AttrbenchError, match=r"--out .*f is a file; pass a folder"):
        ResultStore(tmp_path / "f", {}, 0)

    def denied(*args, **kwargs):  # what a read-only folder does (root ignores chmod, so simulate)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("attrbench.results.store.write_json_atomic", denied)
    with pytest.raises(AttrbenchError, match=r"Cannot write to .*permission denied\); pass an "
                                             r"--out folder you can write to"):
        ResultStore(tmp_path / "r", {}, 0)
