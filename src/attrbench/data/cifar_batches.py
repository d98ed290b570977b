"""CIFAR-10 (Krizhevsky 2009) from torchvision's ``cifar-10-batches-py`` layout on disk.

The folder holds ``data_batch_1`` .. ``data_batch_5`` (train, 10,000 images each), ``test_batch``
and ``batches.meta``; each batch is a pickled dict with ``data`` (uint8 ``(N, 3072)``, channel-major
``3 x 32 x 32`` rows) and ``labels`` (N ints in 0..9). Batches are read with the restricted
unpickler of :mod:`attrbench.data.safe_pickle`. Image ids are positions in the concatenated split
(``data_batch_1`` then ``_2`` ...), i.e. the official index. The FPA paper averages its CIFAR-10
curves over all 10,000 test images (Brocki & Chung, Sec. 4.2); its code release ships curves for
the first 10 test images in this order.

Nothing is downloaded unless ``download=True`` (CLI ``--download``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attrbench.data.base import ArrayImageDataset
from attrbench.data.safe_pickle import load_array_pickle
from attrbench.data.spec import DatasetSpec, Normalization, resolve_normalization
from attrbench.errors import AttrbenchError

#: Official CIFAR-10 class order (label 0..9).
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
BATCHES_DIR = "cifar-10-batches-py"
SPLITS = ("train", "test")
_IMAGE_BYTES = 3 * 32 * 32


def cifar10_spec(normalization: Normalization = "paper", source: str = "") -> DatasetSpec:
    """The :class:`DatasetSpec` of CIFAR-10: 10 classes, ``(3, 32, 32)``."""
    mean, std = resolve_normalization(normalization, 3)
    return DatasetSpec(
        name="cifar10", classes=CIFAR10_CLASSES, image_shape=(3, 32, 32), mean=mean, std=std,
        description="cifar-10-batches-py folder (50,000 train / 10,000 test, 32x32 RGB)",
        source=source or "torchvision cifar-10-batches-py layout (Krizhevsky 2009)",
    )


def find_batches_dir(root: Path) -> Path | None:
    """``root`` or ``root/cifar-10-batches-py`` when it holds CIFAR-10 batch files, else None."""
    for cand in (root, root / BATCHES_DIR):
        if (cand / "data_batch_1").is_file() or (cand / "test_batch").is_file():
            return cand
    return None


def download_cifar10(root: Path) -> None:
    """Download and extract the official archive into ``root/cifar-10-batches-py`` (md5-checked).

    Uses torchvision's URL, checksum and downloader; the batches are then parsed by our own safe
    reader (torchvision's ``CIFAR10`` class would ``pickle.load`` them unrestricted).
    """
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    if find_batches_dir(root) is not None:
        return
    root.mkdir(parents=True, exist_ok=True)
    try:
        download_and_extract_archive(
            CIFAR10.url, str(root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
        )
    except OSError as exc:  # URLError is an OSError
        raise AttrbenchError(
            f"Downloading CIFAR-10 into {root} failed ({exc}); download "
            "cifar-10-python.tar.gz by hand and extract it there."
        ) from None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file.

    Args:
        path: e.g. ``cifar-10-batches-py/data_batch_1``.

    Returns:
        ``(images, labels)``: uint8 ``(N, 32, 32, 3)`` RGB channels-last, int64 ``(N,)`` in 0..9.

    Raises:
        AttrbenchError: unsafe or corrupt pickle, missing keys, wrong shapes, labels out of range.
    """
    obj = load_array_pickle(path)
    if not isinstance(obj, dict):
        raise AttrbenchError(
            f"{path} holds a {type(obj).__name__}, not a CIFAR-10 batch dict; re-extract it."
        )
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "fine_labels" in batch and "labels" not in batch:
        raise AttrbenchError(
            f"{path} is a CIFAR-100 batch (fine_labels); attrbench reads CIFAR-10 here."
        )
    if "data" not in batch or "labels" not in batch:
        raise AttrbenchError(
            f"{path} lacks the 'data' or 'labels' entry of a CIFAR-10 batch; re-extract it."
        )
    data = batch["data"]
    is_array = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
    if not is_array or data.shape[1] != _IMAGE_BYTES:
        shape = getattr(data, "shape", None)
        raise AttrbenchError(
            f"{path}: 'data' must be a uint8 array (N, 3072), got {type(data).__name__} {shape}; "
            "re-extract it."
        )
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise AttrbenchError(
            f"{path}: 'labels' is not a list of integers; re-extract it."
        ) from None
    if len(labels) != len(data):
        raise AttrbenchError(
            f"{path} has {len(data)} images but {len(labels)} labels; re-extract it."
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise AttrbenchError(
            f"{path} contains label {bad}, outside CIFAR-10's 0..9; the file is not CIFAR-10."
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _split_files(batches: Path, split: str) -> list[Path]:
    """The batch files of ``split`` in official order; all train batches must be consecutive."""
    if split == "test":
        files = [batches / "test_batch"]
    else:
        present = sorted(
            (int(p.name[11:]), p) for p in batches.glob("data_batch_*") if p.name[11:].isdigit()
        )
        numbers = [n for n, _ in present]
        if numbers and numbers != list(range(1, len(numbers) + 1)):
            missing = min(set(range(1, max(numbers) + 1)) - set(numbers))
            raise AttrbenchError(
                f"{batches} lacks data_batch_{missing}; re-extract cifar-10-python.tar.gz."
            )
        files = [p for _, p in present]
    if not files or not files[0].is_file():
        want = "test_batch" if split == "test" else "data_batch_1"
        raise AttrbenchError(
            f"{batches} has no {want} for split {split!r}; re-extract cifar-10-python.tar.gz."
        )
    return files


def _check_meta(meta: Path) -> None:
    """If ``batches.meta`` exists, its ``label_names`` must be CIFAR-10's, in official order."""
    if not meta.is_file():
        return
    obj = load_array_pickle(meta)
    names = obj.get("label_names", obj.get(b"label_names")) if isinstance(obj, dict) else None
    if names is None:
        raise AttrbenchError(f"{meta} has no 'label_names'; re-extract cifar-10-python.tar.gz.")
    decoded = tuple(n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names)
    if decoded != CIFAR10_CLASSES:
        raise AttrbenchError(
            f"{meta} lists classes {list(decoded)}, not CIFAR-10's; this folder is not CIFAR-10."
        )


def load_cifar10_batches(
    root: Path, split: str, *, normalization: Normalization = "paper", download: bool = False,
) -> ArrayImageDataset:
    """CIFAR-10 ``split`` from ``root`` (the ``cifar-10-batches-py`` folder or its parent).

    Args:
        root: folder holding the batch files, or its parent.
        split: ``"train"`` or ``"test"``.
        normalization: preset name or ``(mean, std)``; default the paper's [-1, 1] scaling.
        download: fetch the official archive into ``root`` first if no batches are there.

    Returns:
        In-memory dataset: images uint8 ``(N, 32, 32, 3)``, ids = official indices ``0..N-1``.

    Raises:
        AttrbenchError: missing folder, wrong split, unsafe/corrupt/malformed batch files.
    """
    if split not in SPLITS:
        raise AttrbenchError(f"CIFAR-10 has splits 'train' and 'test', not {split!r}.")
    if download:
        download_cifar10(root)
    if not root.is_dir():
        raise AttrbenchError(
            f"CIFAR-10 folder {root} does not exist; give the right --root or pass --download."
        )
    batches = find_batches_dir(root)
    if batches is None:
        raise AttrbenchError(
            f"No CIFAR-10 batch files (data_batch_1..5, test_batch) in {root} or "
            f"{root / BATCHES_DIR}; "
            "extract cifar-10-python.tar.gz there or pass --download."
        )
    parts = [read_batch(p) for p in _split_files(batches, split)]
    images = np.concatenate([im for im, _ in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([lb for _, lb in parts]) if len(parts) > 1 else parts[0][1]
    _check_meta(batches / "batches.meta")
    spec = cifar10_spec(normalization, source=str(batches))
    return ArrayImageDataset(spec, split, images, labels, np.arange(len(labels), dtype=np.int64))
