"""Precomputed importance maps for ROAR / KAR: the user's maps of the train and test images.

``run_roar(cfg, out, maps={key: {"train": values, "test": values}})`` ranks and removes by maps
the user already has, beside (or instead of) the configured variants. ``key`` is ``"label"`` or
``"label|chain"`` and ``values`` are raw attributions read as
:class:`~attrbench.precomputed.PrecomputedMaps` reads them (the convention of
``evaluate(maps=)`` and BAM's ``run_bam_metrics(maps=)``):

- an array (tensor or NumPy) whose row i is the map of image i of the split as
  ``load_dataset(cfg.dataset, split)`` gives it *without* ``train_limit`` / ``test_limit``; the
  images a limited run uses take their rows by position (the first N, or the stratified draw); or
- a mapping ``{image_id: map}`` with a map for every image the run uses.

Per image (H, W), (1, H, W) or (C, H, W). Spatial ranking post-processes them with the chain
(``"label"`` = the channel sum, a (H, W) map unchanged; ``"label|abs_sum"``), exactly as a
method's raw output; per-element ranking squares them (the ROAR code's rule) and needs
(C, H, W) maps and no chain. The accuracy table names them ``"precomputed:<label>|<chain>"``
(spatial) or ``"precomputed:<label>"`` (element).

ROAR's maps come from the model trained on the *unmodified* data, for the class it predicts
(Hooker et al.; :func:`~attrbench.roar.benchmark.run_roar` explains its repeat-0 ``t = 0``
model). Given maps must have been computed the same way, on such a model (the same architecture
and recipe trained on the unmodified train split, e.g. the run's own
``train/none_t0_r0`` model); the benchmark cannot check where they came from. The SHA-256 of both
splits' maps is part of the folder's identity, so a folder is never resumed with other maps.

IteROAR re-explains each iteration's retrained model, so fixed maps cannot stand in for a method
there; give the method itself as a variant (a callable, Captum attribution or Quantus-style
function, :mod:`attrbench.methods.custom`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attrbench.data import ImageDataset, load_dataset
from attrbench.errors import AttrbenchError
from attrbench.precomputed import PrecomputedMaps
from attrbench.results.keys import check_key
from attrbench.roar.removal import element_scores
from attrbench.roar.store import slug

#: The splits every entry of ``maps=`` gives, in the order the benchmark uses them.
SPLITS = ("train", "test")


@dataclass(frozen=True)
class GivenMaps:
    """One entry of ``run_roar(maps=)``, checked and turned into ranking scores.

    Attributes:
        variant: the name the accuracy table gives it (``"precomputed:<label>|<chain>"``).
        scores: float64 CPU scores of the train and test images, in the order of the run's
            splits: (N, H, W) (spatial) or (N, C, H, W) (element), higher = more important.
        record: what the folder's identity keeps: per split the chain, shape and SHA-256 of the
            maps as given (:meth:`PrecomputedMaps.describe`).
    """

    variant: str
    scores: tuple[torch.Tensor, torch.Tensor]
    record: dict[str, Any]


def _positions(cfg: Any, split: str, ds: ImageDataset) -> tuple[np.ndarray | None, int]:
    """Positions of ``ds``'s images in the unlimited split and that split's size."""
    limit = cfg.train_limit if split == "train" else cfg.test_limit
    if limit is None:
        return None, len(ds)
    full = load_dataset(cfg.dataset, split, root=cfg.data_root, image_size=cfg.image_size)
    full_ids = full.ids.numpy()
    order = np.argsort(full_ids, kind="stable")
    ids = ds.ids.numpy()
    found = np.searchsorted(full_ids[order], ids).clip(0, len(order) - 1)
    positions = order[found]
    if not np.array_equal(full_ids[positions], ids):  # never for a subset of the same split
        raise AttrbenchError(f"Cannot place the {split} images in the unlimited split by their "
                             "ids; give maps= as {image_id: map} instead of an array.")
    return positions, len(full)


def _scores(given: PrecomputedMaps, images: torch.Tensor, unit: str,
            batch: int = 512) -> torch.Tensor:
    """Ranking scores of a split's maps, as :func:`~attrbench.roar.scores.split_scores` makes
    them from a method's raw output (post-processing chain, or the squared element)."""
    if unit == "element":
        return element_scores(given.table)
    return torch.cat([given.variant.apply(given.table[lo:lo + batch],
                                          images[lo:lo + batch].double())
                      for lo in range(0, len(images), batch)])


def given_maps(cfg: Any, maps: Mapping[str, Any] | None,
               splits: tuple[ImageDataset, ImageDataset],
               images: tuple[torch.Tensor, torch.Tensor]) -> dict[str, GivenMaps]:
    """Check ``run_roar(maps=)`` against the run's splits; ``{variant name: GivenMaps}``.

    Args:
        cfg: the run's :class:`~attrbench.roar.benchmark.RoarConfig` (``unit``, ``variants``,
            dataset and limits).
        maps: ``{key: {"train": values, "test": values}}`` (module docstring) or None.
        splits: the run's train and test datasets (limited as configured).
        images: their images (N, C, H, W) in the model's input space (for ``input_*`` chains).

    Returns:
        One entry per key, in the order given; {} for None.

    Raises:
        AttrbenchError: not a mapping, an entry without exactly ``train`` and ``test``, a label
            that is not key-safe or clashes with a variant, a chain with per-element ranking,
            (H, W) or (1, H, W) maps with per-element ranking, or any error of
            :class:`PrecomputedMaps` (shapes, too few rows, missing ids, NaN / Inf).
    """
    if maps is None:
        return {}
    if not isinstance(maps, Mapping) or not maps:
        raise AttrbenchError("ROAR maps= must be a non-empty dict {'label': {'train': values, "
                             f"'test': values}}, got {maps!r:.80}.")
    out: dict[str, GivenMaps] = {}
    for key, sets in maps.items():
        keys = set(sets) if isinstance(sets, Mapping) else set()
        if keys != set(SPLITS):
            raise AttrbenchError(
                f"ROAR maps[{key!r}] must be a dict with the keys 'train' and 'test' (the maps "
                f"of both splits: ROAR removes from both), got {sorted(map(str, keys))}.")
        if cfg.unit == "element" and isinstance(key, str) and "|" in key:
            raise AttrbenchError(
                f"ROAR maps key {key!r} has a post-processing chain, but per-element ranking "
                "squares the raw (C, H, W) attributions; give the key without '|...'.")
        made = []
        for split, ds, x in zip(SPLITS, splits, images):
            positions, size = _positions(cfg, split, ds)
            pm = PrecomputedMaps(key, sets[split], ds.ids.numpy(), tuple(ds.spec.image_shape),
                                 size, positions=positions)
            if cfg.unit == "element" and pm.table.shape[1] != x.shape[1]:
                raise AttrbenchError(
                    f"ROAR maps[{key!r}][{split!r}] has one channel per image, but per-element "
                    f"ranking removes each of the {x.shape[1]} channels by its own score; give "
                    f"(C, H, W) = {tuple(x.shape[1:])} maps or rank spatially (unit='spatial').")
            made.append((pm, _scores(pm, x, cfg.unit)))
        variant = made[0][0].variant.method if cfg.unit == "element" \
            else made[0][0].variant.name
        try:
            check_key(slug(variant))
        except ValueError:
            raise AttrbenchError(f"ROAR maps label {made[0][0].variant.label!r} names files; use "
                                 "letters, digits and _.-' only.") from None
        if variant in cfg.variants or variant in out:
            raise AttrbenchError(f"ROAR maps key {key!r} gives the variant {variant!r} twice; "
                                 "rename it.")
        out[variant] = GivenMaps(variant, (made[0][1], made[1][1]),
                                 {split: pm.describe() for split, (pm, _) in zip(SPLITS, made)})
    return out
