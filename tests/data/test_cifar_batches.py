"""cifar-10-batches-py loader on tiny batches written here, including unsafe and corrupt pickles."""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from attrbench.data import CIFAR10_CLASSES, load_dataset
from attrbench.data.cifar_batches import read_batch
from attrbench.errors import AttrbenchError


@pytest.mark.parametrize("root_key", ["root", "folder"])
def test_reads_train_and_test_in_official_order(cifar_batches: dict, root_key: str) -> None:
    train = load_dataset("cifar10", "train", root=cifar_batches[root_key])
    test = load_dataset("cifar10", "test", root=cifar_batches[root_key])
    assert train.images_uint8.dtype == torch.uint8 and tuple(train.images_uint8.shape) == (5, 32, 32, 3)
    np.testing.assert_array_equal(train.images_uint8.numpy(), cifar_batches["train_x"])
    np.testing.assert_array_equal(train.labels.numpy(), cifar_batches["train_y"])
    np.testing.assert_array_equal(test.images_uint8.numpy(), cifar_batches["test_x"])
    assert train.ids.tolist() == [0, 1, 2, 3, 4] and test.ids.tolist() == [0, 1, 2, 3]
    assert train.spec.classes == CIFAR10_CLASSES and train.spec.image_shape == (3, 32, 32)
    image, label = test[1]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 8
    expected = (cifar_batches["test_x"][1].transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    torch.testing.assert_close(image, torch.from_numpy(expected).float())


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes as Python-2 ``str`` opcodes, as in the official cPickle'd CIFAR-10 batches."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(b"U" + bytes([n]) + obj if n < 256 else b"T" + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def test_reads_python2_style_batch(cifar_batches: dict, images_maker) -> None:
    images = images_maker(2, 7)
    rows = np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(2, -1)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump({b"batch_label": b"testing batch 1 of 1", b"labels": [5, 2], b"data": rows})
    # The official files name numpy 1.x's module path.
    data = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n_reconstruct" in data and b"_codecs" not in data
    (cifar_batches["folder"] / "test_batch").write_bytes(data)
    test = load_dataset("cifar10", "test", root=cifar_batches["root"])
    np.testing.assert_array_equal(test.images_uint8.numpy(), images)
    assert test.labels.tolist() == [5, 2]


def test_directory_autodetected(cifar_batches: dict) -> None:
    ds = load_dataset(str(cifar_batches["root"]), "test")
    assert ds.spec.name == "cifar10" and len(ds) == 4


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "payload": Evil()}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(AttrbenchError, match=r"Refusing to load .*test_batch: its pickle asks for (posix|os)\.system"):
        load_dataset("cifar10", "test", root=tmp_path)
    assert not marker.exists()


def test_pickle_naming_builtins_eval_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # protocol-0 pickle calling builtins.eval("1+1"), written by hand.
    (folder / "test_batch").write_bytes(b"cbuiltins\neval\n(V1+1\ntR.")
    with pytest.raises(AttrbenchError, match=r"asks for builtins\.eval"):
        load_dataset("cifar10", "test", root=tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", "truncate"])
def test_corrupt_batch(cifar_batches: dict, content: bytes | str) -> None:
    path = cifar_batches["folder"] / "test_batch"
    data = path.read_bytes()[:200] if content == "truncate" else content
    path.write_bytes(data)
    with pytest.raises(AttrbenchError, match=r"test_batch is not a readable CIFAR-10 batch .*truncated or corrupt"):
        load_dataset("cifar10", "test", root=cifar_batches["root"])


def test_label_out_of_range(cifar_batches: dict, batch_writer, images_maker) -> None:
    batch_writer(cifar_batches["folder"] / "test_batch", images_maker(2, 0), [3, 10])
    with pytest.raises(AttrbenchError, match=r"test_batch contains label 10, outside CIFAR-10's 0..9"):
        load_dataset("cifar10", "test", root=cifar_batches["root"])


def test_labels_and_images_disagree(cifar_batches: dict, batch_writer, images_maker) -> None:
    batch_writer(cifar_batches["folder"] / "test_batch", images_maker(2, 0), [3])
    with pytest.raises(AttrbenchError, match=r"has 2 images but 1 labels"):
        load_dataset("cifar10", "test", root=cifar_batches["root"])


@pytest.mark.parametrize(("obj", "message"), [
    ([1, 2, 3], "holds a list, not a CIFAR-10 batch dict"),
    ({"data": np.zeros((1, 3072), np.uint8)}, "lacks the 'data' or 'labels' entry"),
    ({"data": np.zeros((1, 100), np.uint8), "labels": [0]}, r"'data' must be a uint8 array \(N, 3072\)"),
    ({"data": np.zeros((1, 3072), np.float32), "labels": [0]}, r"'data' must be a uint8 array"),
    ({"data": np.zeros((1, 3072), np.uint8), "fine_labels": [0]}, "is a CIFAR-100 batch"),
])
def test_malformed_batch(cifar_batches: dict, obj: object, message: str) -> None:
    (cifar_batches["folder"] / "test_batch").write_bytes(pickle.dumps(obj))
    with pytest.raises(AttrbenchError, match=message):
        load_dataset("cifar10", "test", root=cifar_batches["root"])


def test_missing_train_batch_in_sequence(cifar_batches: dict, batch_writer, images_maker) -> None:
    batch_writer(cifar_batches["folder"] / "data_batch_4", images_maker(1, 0), [0])
    with pytest.raises(AttrbenchError, match=r"lacks data_batch_3"):
        load_dataset("cifar10", "train", root=cifar_batches["root"])


def test_wrong_meta_classes(cifar_batches: dict) -> None:
    meta = {b"label_names": [b"apple"] * 10}
    (cifar_batches["folder"] / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with pytest.raises(AttrbenchError, match=r"batches.meta lists classes .*not CIFAR-10's"):
        load_dataset("cifar10", "test", root=cifar_batches["root"])


def test_wrong_split_and_missing_folders(cifar_batches: dict, tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match=r"CIFAR-10 has splits 'train' and 'test', not 'val'"):
        load_dataset("cifar10", "val", root=cifar_batches["root"])
    with pytest.raises(AttrbenchError, match=r"Dataset folder .*nowhere does not exist"):
        load_dataset("cifar10", "test", root=tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AttrbenchError, match=r"No CIFAR-10 batch files .* pass --download"):
        load_dataset("cifar10", "test", root=empty)
    with pytest.raises(AttrbenchError, match=r"'cifar10' is read from disk; pass root"):
        load_dataset("cifar10", "test")


def test_download_only_when_asked(cifar_batches: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  batch_writer, images_maker) -> None:
    calls: list[tuple] = []

    def fake_download(url: str, download_root: str, filename: str, md5: str) -> None:
        calls.append((url, filename, md5))
        folder = Path(download_root) / "cifar-10-batches-py"
        folder.mkdir()
        batch_writer(folder / "test_batch", images_maker(2, 0), [1, 2])

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", fake_download)
    load_dataset("cifar10", "test", root=cifar_batches["root"])  # present: no download by default
    load_dataset("cifar10", "test", root=cifar_batches["root"], download=True)  # present: nothing to fetch
    assert calls == []
    ds = load_dataset("cifar10", "test", root=tmp_path / "new", download=True)
    assert len(calls) == 1 and calls[0][1] == "cifar-10-python.tar.gz" and len(ds) == 2
    with pytest.raises(AttrbenchError, match=r"Only 'cifar10' can be downloaded"):
        load_dataset("cifar10-mini", "test", download=True)


def test_read_batch_shapes(cifar_batches: dict) -> None:
    images, labels = read_batch(cifar_batches["folder"] / "data_batch_1")
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.flags.c_contiguous
