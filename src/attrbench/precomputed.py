"""Precomputed attribution maps: scores the user already has, aligned with a dataset's image ids.

Metrics that only read a map per image (the perturbation curves of :func:`attrbench.evaluate`)
need no explainer: ``maps={"name": values}`` gives one map per image, and the curves are computed
exactly as for a method whose post-processed maps equal them; BAM's MCS and IDR read the maps
of given images too (``run_bam_metrics(maps=)``, :func:`attrbench.bam.evaluate.given_maps`), and
ROAR / KAR rank by the maps of both splits (``run_roar(maps=)``, :mod:`attrbench.roar.precomputed`).
Metrics that re-explain perturbed or retrained inputs (robustness, BAM's IIR and X^k series,
IteROAR) need a method, not maps.

``values`` is either

- an array (tensor or NumPy) with one row per dataset position: row i belongs to ``dataset[i]``,
  whose image id is ``dataset.ids[i]`` (or i), shape (N, H, W), (N, 1, H, W) or (N, C, H, W);
  N may exceed the images evaluated (the first ones are used) but not the dataset; or
- a mapping ``{image_id: map}`` with maps (H, W), (1, H, W) or (C, H, W); every evaluated id must
  be present.

The key is the label shown in results, optionally followed by a post-processing chain:
``"my_maps"`` (the channel sum, a (H, W) map unchanged) or ``"my_maps|abs_sum"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attrbench.errors import AttrbenchError
from attrbench.postprocess import keeps_sign, parse_steps
from attrbench.variants import Variant

#: ``method`` column of precomputed maps: ``"precomputed:<label>"``.
PREFIX = "precomputed:"


@dataclass(frozen=True)
class PrecomputedVariant(Variant):
    """A variant whose raw scores come from :class:`PrecomputedMaps`, not from an explainer.

    ``method`` is ``"precomputed:<label>"``; ``label`` is the key the user gave (without chain).
    """

    @property
    def label(self) -> str:
        return self.method[len(PREFIX):]

    @property
    def alias(self) -> str | None:
        return None

    @property
    def signed(self) -> bool:
        return keeps_sign(self.steps)

    def create(self, model: Any, **overrides: Any) -> Any:
        raise AttrbenchError(f"{self.label!r} is a set of precomputed maps, not a method; it can "
                             "only be scored where no re-explaining is needed (evaluate).")


def _as_tensor(values: object, what: str) -> torch.Tensor:
    if isinstance(values, np.ndarray):
        values = torch.from_numpy(np.ascontiguousarray(values))
    if not isinstance(values, torch.Tensor):
        raise AttrbenchError(f"{what} must be a tensor or NumPy array, got "
                             f"{type(values).__name__}.")
    if values.is_complex() or values.dtype == torch.bool:
        raise AttrbenchError(f"{what} must hold real scores, got dtype {values.dtype}.")
    return values.detach().to("cpu", torch.float64)


def _check_shape(t: torch.Tensor, image_shape: tuple[int, int, int], what: str,
                 lead: tuple[int, ...]) -> torch.Tensor:
    c, h, w = image_shape
    if tuple(t.shape) == (*lead, h, w):
        t = t.unsqueeze(len(lead))
    if t.dim() != len(lead) + 3 or tuple(t.shape[len(lead) + 1:]) != (h, w) \
            or t.shape[len(lead)] not in (1, c):
        want = ", ".join(f"{d}" for d in lead)
        want = f"{want}, " if want else ""
        raise AttrbenchError(
            f"{what} has shape {tuple(t.shape)}; the images are (C, H, W) = {image_shape}, so give "
            f"({want}{h}, {w}), ({want}1, {h}, {w}) or ({want}{c}, {h}, {w}).")
    return t


class PrecomputedMaps:
    """One set of user maps for the first ``len(ids)`` images of a dataset.

    Args:
        key: ``"label"`` or ``"label|chain"`` (see the module docstring).
        values: an array aligned with dataset positions or a ``{image_id: map}`` mapping.
        ids: (n,) image ids of the images evaluated, in dataset order.
        image_shape: (C, H, W) of the images.
        dataset_size: number of images in the dataset (an array may not have more rows).
        positions: (n,) dataset positions of ``ids`` (an array's rows taken); None = the first
            ``n`` positions.

    Attributes:
        variant: the :class:`PrecomputedVariant` results are labelled with.
        table: float64 (n, C', H, W) scores, row i for ``ids[i]`` (C' = 1 or C).
        sha256: digest of ``table`` (part of a results folder's identity).

    Raises:
        AttrbenchError: a bad key, wrong shapes, too few rows, missing ids, NaN / Inf.
    """

    def __init__(self, key: str, values: object, ids: np.ndarray,
                 image_shape: tuple[int, int, int], dataset_size: int,
                 positions: np.ndarray | None = None) -> None:
        if not isinstance(key, str) or not key.partition("|")[0].strip():
            raise AttrbenchError(f"Keys of maps= name the maps, e.g. 'my_maps' or "
                                 f"'my_maps|abs_sum'; got {key!r}.")
        label, _, chain = key.partition("|")
        label = label.strip()
        self.variant = PrecomputedVariant(f"{PREFIX}{label}", parse_steps(chain or "sum"))
        n = len(ids)
        what = f"maps[{key!r}]"
        if isinstance(values, Mapping):
            missing = [int(i) for i in ids if int(i) not in values]
            if missing:
                raise AttrbenchError(
                    f"{what} has no map for image ids {missing[:10]}"
                    f"{f' and {len(missing) - 10} more' if len(missing) > 10 else ''}; give one "
                    "map per evaluated image (the dataset's ids), or fewer images (num_images).")
            rows = [_check_shape(_as_tensor(values[int(i)], f"{what}[{int(i)}]"), image_shape,
                                 f"{what}[{int(i)}]", ()) for i in ids]
            if len({tuple(r.shape) for r in rows}) > 1:
                raise AttrbenchError(f"{what}: the maps do not all have the same shape.")
            table = torch.stack(rows)
        else:
            table = _check_shape(_as_tensor(values, what), image_shape, what, (len(values),)
                                 if hasattr(values, "__len__") else ())
            if table.shape[0] > dataset_size:
                raise AttrbenchError(
                    f"{what} has {table.shape[0]} rows but the dataset has {dataset_size} images; "
                    "row i must be the map of dataset[i].")
            need = n if positions is None else int(np.max(positions, initial=-1)) + 1
            if table.shape[0] < need:
                raise AttrbenchError(
                    f"{what} has {table.shape[0]} rows but {need} are needed for the {n} images "
                    "evaluated; give one row per dataset image (row i = dataset[i]) or fewer "
                    "images (num_images).")
            table = table[:n] if positions is None else table[torch.as_tensor(
                np.asarray(positions, dtype=np.int64))]
        bad = ~torch.isfinite(table.flatten(1)).all(1)
        if bool(bad.any()):
            raise AttrbenchError(f"{what} holds NaN or Inf for image ids "
                                 f"{np.asarray(ids)[bad.numpy()].tolist()[:10]}.")
        self.table = table.contiguous()
        self.sha256 = hashlib.sha256(self.table.numpy().tobytes()).hexdigest()

    def rows(self, lo: int, hi: int, like: torch.Tensor) -> torch.Tensor:
        """Raw scores of images ``lo:hi`` (B, C', H, W) in ``like``'s dtype and device."""
        return self.table[lo:hi].to(device=like.device, dtype=like.dtype)

    def describe(self) -> dict[str, Any]:
        """What a results folder's identity records about these maps."""
        return {"postprocess": "|".join(self.variant.steps), "sha256": self.sha256,
                "shape": list(self.table.shape[1:])}


def precomputed_maps(maps: Mapping[str, object] | None, ids: np.ndarray,
                     image_shape: tuple[int, int, int],
                     dataset_size: int) -> list[PrecomputedMaps]:
    """Check ``maps={key: values}`` for the evaluated images; [] for None.

    Raises:
        AttrbenchError: not a mapping, duplicate labels, or any error of :class:`PrecomputedMaps`.
    """
    if maps is None:
        return []
    if not isinstance(maps, Mapping):
        raise AttrbenchError("maps= must be a dict {'label': array (N, H, W) or {image_id: map}}, "
                             f"got {type(maps).__name__}.")
    out = [PrecomputedMaps(k, v, ids, image_shape, dataset_size) for k, v in maps.items()]
    labels = [m.variant.label for m in out]
    if len(set(labels)) != len(labels):
        raise AttrbenchError(f"maps= labels must be distinct; got {labels}.")
    return out
