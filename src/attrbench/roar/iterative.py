"""IteROAR: retrain, re-explain and occlude the top (100 - τ) % again, I times (Palacio et al.).

The loop of the paper's Fig. 1, per variant and repeat ``r``: train ``f_i`` on ``D_i``; compute the
map ``e_{i,j} = ξ(z_{i,j}, f_i)`` of every train and test sample (for the class ``f_i`` predicts,
by default, as the ROAR code; or for its label ``y_j``, as ``z = (x, y)`` in Sec. 3); remove the
pixels above the τ-th percentile
(:func:`~attrbench.metrics.functional.overlap.top_fraction_masks`, exactly ``k`` per map);
``D_{i+1} = D_i`` with those pixels filled (zeros = ``x ⊙ m``, or the per-image per-channel mean of
the removed values; NOTES §6 row 21). ``I = ρ / (1 - τ/100)`` (10 for τ = 95, ρ = 0.5), so ``I``
masks cover at most ``ρA``. Recorded: the test accuracy of every ``f_i`` (i = 0..I), every
iteration's masks for every sample (bit-packed ``.npz``), and the overlap metrics MMO, MAMO and CMA
of the test masks (Eqs. 1, 2, 4) per sample and summarised with their random-mask references.

Departure from the paper's ``z = (x, y)``: masks built from maps of the true label put label
information into the test inputs, the leakage Sec. 4.7 worries about, so the default target is the
prediction; ``target="label"`` is kept and warns (:class:`LabelTargetWarning`).

Repeat ``r`` is an independent chain; ``f_0`` (unmodified data) is shared by the variants of a
repeat. Chains run repeat-major (every variant of repeat 0, in the configured order, before
repeat 1), so an interrupted run has one chain of each estimator first. Resumable per (variant,
iteration, repeat): finished models and masks are reused. A finished chain (all its accuracy rows
and its overlap row) needs nothing else on disk, so a folder reduced to ``config.json`` and
``tables/`` (``scripts/ledger.py``) resumes at the first unfinished chain. An unfinished chain
goes on from its last iteration whose masks survive (a new checkout restores them from a
session-end ledger save): rows past it, which could not be continued, are discarded with their
files, and so are the overlap rows; with no masks at all the chain is computed again from
``f_0``. So one iteration is never computed twice into one chain (retraining need not give the
same weights on another machine), while a chain may span sessions, the masks carrying it. Mixing guard: every accuracy row records the SHA-256 of its model; a
retrained ``f_0`` that differs from the recorded one (other CPU, library versions, thread count
or code) is refused, so the chains of one repeat always start from one model (the ledger keeps
``train/original_r<r>_i0/`` for that).

Sharded (``run_iteroar(shard=(K, N))``, ``attrbench iteroar --shard K/N``): chain ``c`` (0-based in
the repeat-major order) belongs to shard ``c % N``; shard 0 first trains (or loads) the ``f_0``
of every repeat that has an unfinished chain, and the other shards wait for the ``f_0`` of their
chain's repeat (its row and finished training folder), so no two shards ever train one folder.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch

from attrbench.errors import AttrbenchError
from attrbench.metrics.functional.overlap import (
    accumulated_overlap,
    check_budget,
    consecutive_overlap,
    iteration_count,
    overlap_summary,
    top_fraction_masks,
)
from attrbench.results import ResultStore
from attrbench.results.shards import check_shard, in_shard
from attrbench.roar.config import RetrainConfig
from attrbench.roar.removal import channel_means, check_choice, fill_removed
from attrbench.roar.scores import split_scores
from attrbench.results.identity import state_dict_sha256
from attrbench.roar.store import (check_recorded, mask_path, read_masks, slug, wait_for_model,
                                  write_masks)
from attrbench.roar.tensor_data import TensorImageDataset, dataset_tensors, train_on_tensors
from attrbench.runtime import resolve_device
from attrbench.training import TrainResult
from attrbench.training.loop import training_finished
from attrbench.training.user_model import ModelSource, fresh_copies

TARGETS: tuple[str, ...] = ("predicted", "label")


class ChainHook(Protocol):
    """Work on a chain's masks while they are on disk (e.g.
    :class:`attrbench.roar.leakage.ChainLeakage`), called by :func:`run_iteroar`."""

    def done(self, variant: str, repeat: int) -> bool:
        """True if the chain needs nothing more from this hook."""

    def __call__(self, variant: str, repeat: int) -> None:
        """Run on the finished chain (its masks are all on disk)."""


class LabelTargetWarning(UserWarning):
    """IteROAR explains the true label: its masks can leak the label (Palacio et al. Sec. 4.7)."""


@dataclass(frozen=True)
class IteRoarConfig(RetrainConfig):
    """IteROAR settings (shared fields: :class:`RetrainConfig`).

    Attributes:
        tau: percentile threshold per map, in (0, 100); 95 removes the top 5 % (Sec. 4.1).
        rho: largest fraction of the area masked after all iterations, in (0, 1) (Sec. 3).
        iterations: ``I``; None = ``floor(ρ / (1 - τ/100))``. Refused if ``I · k > ρA``.
        target: class explained, ``"predicted"`` (default, as the ROAR code) or ``"label"`` (the
            paper's ``z = (x, y)``; warns with :class:`LabelTargetWarning`, since masks from
            label maps carry the label into the test inputs).
        fill: ``"zero"`` (default, paper's ``x ⊙ m``), ``"removed_mean"`` or ``"mean"``.
    """

    fill: str = "zero"
    tau: float = 95.0
    rho: float = 0.5
    iterations: int | None = None
    target: str = "predicted"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("target", self.target, TARGETS)
        if self.target == "label":
            warnings.warn(
                "IteROAR target='label' explains the true label, so the masks put label "
                "information into the test inputs (the leakage of Palacio et al. Sec. 4.7); "
                "use target='predicted' (the default) unless you reproduce that setting.",
                LabelTargetWarning, stacklevel=3)
        default = iteration_count(self.tau, self.rho)  # validates tau and rho
        if self.iterations is None:
            object.__setattr__(self, "iterations", default)

    def masks_per_iteration(self, sample_shape: tuple[int, ...]) -> int:
        """``k`` for samples of ``sample_shape`` ((C, H, W)); checks the ρA budget."""
        c, h, w = sample_shape
        area = h * w if self.unit == "spatial" else c * h * w
        assert self.iterations is not None
        return check_budget(self.iterations, self.tau, self.rho, area)


def _dataset(ds: Any, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor) -> TensorImageDataset:
    return TensorImageDataset(ds.spec, ds.split, x, y, ids)


def _sample_rows(variant: str, r: int, ids: torch.Tensor, masks: torch.Tensor) -> pd.DataFrame:
    """Per-sample, per-iteration test-mask metrics (counts) of one chain."""
    steps, n = masks.shape[:2]
    flat = masks.reshape(steps, n, -1)
    mmo = torch.cat([torch.full((1, n), -1), consecutive_overlap(masks)])
    mamo = torch.cat([torch.full((1, n), -1), accumulated_overlap(masks)])
    union = torch.cummax(flat.to(torch.uint8), 0).values.sum(-1)
    return pd.DataFrame({
        "variant": variant, "repeat": r,
        "iteration": torch.arange(steps).repeat_interleave(n).numpy(),
        "image_id": ids.repeat(steps).numpy(),
        "masked": flat.sum(-1).flatten().numpy(),
        "overlap_previous": mmo.flatten().numpy(),      # Eq. (1) term; -1 at iteration 0
        "overlap_accumulated": mamo.flatten().numpy(),  # Eq. (2) term; -1 at iteration 0
        "cumulative_area": union.flatten().numpy(),     # Eq. (4) after iteration i
    })


def _masks(cfg: IteRoarConfig, model: torch.nn.Module, variant: str, x: torch.Tensor,
           y: torch.Tensor, *, seed: int, device: torch.device) -> torch.Tensor:
    """Removal masks (top ``100 - τ`` % of each map of ``model``) of one split ``x``."""
    scores = split_scores(model, x, variant, cfg.unit,
                          targets=y if cfg.target == "label" else None, seed=seed,
                          batch_size=cfg.batch_maps, device=device,
                          params=cfg.params_of(variant))
    return top_fraction_masks(scores, cfg.tau, sample_dims=scores.dim() - 1)


def _finished(store: ResultStore, chain_key: str, r: int, iterations: int) -> bool:
    """True if chain ``chain_key`` (repeat ``r``) has every accuracy row and its overlap row."""
    accuracy = store.table("accuracy")
    rows = [f"original_r{r}_i0", *(f"{chain_key}_i{i}" for i in range(1, iterations + 1))]
    return (all(accuracy.has(k) for k in rows)
            and (iterations < 2 or store.table("overlap").has(chain_key)))


def _continuable(store: ResultStore, chain_key: str, iterations: int) -> int:
    """The last iteration ``p`` chain ``chain_key`` can go on from (0: from ``f_0``).

    Rows ``1..p`` and masks ``0..p-1`` exist, and ``f_p``'s masks exist too or its finished
    training folder does (they are made from it), so ``D_{p+1}`` can be rebuilt exactly.
    """
    accuracy = store.table("accuracy")
    p = 0
    while (p < iterations and mask_path(store, f"{chain_key}_i{p}").exists()
           and accuracy.has(f"{chain_key}_i{p + 1}")):
        p += 1
    if (0 < p < iterations and not mask_path(store, f"{chain_key}_i{p}").exists()
            and not training_finished(store.path("train", f"{chain_key}_i{p}"))):
        p -= 1  # f_p must be retrained to make its masks: its row goes too
    return p


def _cut_to_continuable(store: ResultStore, chain_key: str, iterations: int,
                        say: Callable[[str], None]) -> None:
    """Delete what chain ``chain_key`` holds beyond the point it can go on from.

    A new checkout has the rows (and, after a session-end save, the masks) of an unfinished
    chain; rows past the last iteration whose masks survive cannot be continued, since
    retraining need not give the same weights on another machine. Those rows, their masks and
    training folders, the chain's overlap rows and the leakage rows of deleted masks go, so the
    chain is computed on from :func:`_continuable`'s iteration (from ``f_0`` if no masks
    survive), never mixing two computations of one iteration.
    """
    p = _continuable(store, chain_key, iterations)
    accuracy = store.table("accuracy")
    beyond = [i for i in range(p + 1, iterations + 1) if accuracy.has(f"{chain_key}_i{i}")]
    complete = p == iterations
    if not beyond and (complete or not store.table("overlap").has(chain_key)):
        return
    say(f"iteroar {chain_key}: the masks of its iterations after {p} are gone, so its "
        f"{len(beyond)} rows after {p} cannot be continued; discarding them to compute the "
        f"chain on from {'f_0' if p == 0 else f'iteration {p}'}")
    for i in beyond:
        accuracy.delete(f"{chain_key}_i{i}")
    for name in ("overlap", "overlap_samples"):
        store.table(name).delete(chain_key)
    leakage = store.table("leakage")
    for j in range(p + 1, iterations):  # made by the deleted models f_j (f_p's stay)
        mask_path(store, f"{chain_key}_i{j}").unlink(missing_ok=True)
        for key in leakage.keys():
            if key.startswith(f"{chain_key}_i{j}_"):
                leakage.delete(key)
    for i in range(p + 1, iterations + 1):
        shutil.rmtree(store.path("train", f"{chain_key}_i{i}"), ignore_errors=True)


def run_iteroar(cfg: IteRoarConfig, out: str | Path, *, progress: bool = False,
                 log: Callable[[str], None] | None = None,
                 model: ModelSource | None = None,
                 maps: object = None,
                 after_chain: ChainHook | None = None, shard: tuple[int, int] | None = None,
                 poll_s: float = 30.0) -> dict[str, pd.DataFrame]:
    """Run (or resume) IteROAR for every variant and repeat.

    Args:
        cfg: settings.
        out: results folder (refused if it holds another configuration).
        progress: training progress bars.
        log: called with one line per finished model.
        model: train this instead of ``cfg.model`` at every iteration: a builder or an
            ``nn.Module`` template, as :func:`~attrbench.roar.benchmark.run_roar`.
        maps: refused: every iteration re-explains the model retrained on that iteration's
            data, so fixed precomputed maps cannot stand in for a method (they can in ROAR /
            KAR, ``run_roar(maps=)``). Give the method as a variant instead: a callable
            ``(model, x, target) -> (B, C, H, W)``, a Captum attribution or a Quantus-style
            function (:mod:`attrbench.methods.custom`).
        after_chain: called with ``(variant, repeat)`` when a chain is finished, while its masks
            are on disk (the leakage test, :class:`~attrbench.roar.leakage.ChainLeakage`); a
            chain counts as finished only once ``after_chain.done`` says so too, and one whose
            rows exist but whose masks are gone is recomputed for it (models checked against
            their recorded SHA-256).
        shard: ``(K, N)``: run only the chains of shard K (module docstring); ``None``: all.
        poll_s: seconds between checks while a shard waits for shard 0's ``f_0``.

    Returns:
        Tables ``accuracy`` (variant, repeat, iteration, test/train accuracy, fractions masked),
        ``overlap`` (one row per variant and repeat: :func:`overlap_summary` of the test masks)
        and ``overlap_samples`` (per test sample and iteration, counts), with what is on disk,
        other shards' chains included; ``accuracy.attrs["missing_chains"]`` counts the chains
        not finished yet.

    Raises:
        AttrbenchError: τ/ρ out of range, an iteration count beyond the ρA budget, or maps.
    """
    if maps is not None:
        raise AttrbenchError(
            "IteROAR cannot take precomputed maps: each iteration re-explains the model retrained "
            "on that iteration's data, which fixed maps cannot do. Pass the method that made "
            "them as a variant instead (a callable (model, x, target) -> (B, C, H, W), a Captum "
            "attribution or a Quantus-style explain_func), or use run_roar(maps=) for ROAR/KAR.")
    train_ds, test_ds = cfg.load_split("train"), cfg.load_split("test")
    k = cfg.masks_per_iteration(tuple(train_ds.spec.image_shape))
    store = ResultStore(out, cfg.identity(model), cfg.seed, benchmark="iteroar")
    accuracy = store.table("accuracy")
    say = log or (lambda _msg: None)
    build = None if model is None else fresh_copies(model)
    base = cfg.train_config()
    device = resolve_device(cfg.device)
    x0tr, ytr, idtr = dataset_tensors(train_ds)
    x0te, yte, idte = dataset_tensors(test_ds)
    mean = channel_means(x0tr)
    iterations = cfg.iterations
    assert iterations is not None
    part = None if shard is None else check_shard(*shard)
    chains = [(r, variant) for r in range(cfg.repeats) for variant in cfg.variants]

    def finished(r: int, variant: str) -> bool:
        return _finished(store, f"{slug(variant)}_r{r}", r, iterations) and (
            after_chain is None or after_chain.done(variant, r))

    def fit(key: str, i: int, r: int, variant: str, xtr: torch.Tensor,
            xte: torch.Tensor) -> TrainResult:
        """Train (or load, if finished) model ``key`` on ``D_i``; write its row once."""
        t0 = time.perf_counter()
        result = train_on_tensors(
            base, _dataset(train_ds, xtr, ytr, idtr), _dataset(test_ds, xte, yte, idte),
            store.path("train", key), key=f"iteroar/{key}",
            seed=cfg.seed + 1000 * r + i, progress=progress, model=build)
        sha = state_dict_sha256(result.model)
        check_recorded(store, "accuracy", key, "model_sha256", sha,
                       f"The retrained model {key}",
                       f"restore {store.path('train', key)} or start a new folder.")
        if not accuracy.has(key):
            removed = float((xte != x0te).any(1).double().mean()) if i else 0.0
            accuracy.write(key, [{
                "benchmark": "iteroar", "variant": variant if i else "none",
                "repeat": r, "iteration": i, "seed": cfg.seed + 1000 * r + i,
                "test_accuracy": float(result.test_accuracy),
                "train_accuracy": float(result.history[-1]["train_accuracy"]),
                "changed_fraction": removed, "seconds": time.perf_counter() - t0,
                "model_sha256": sha}])
            say(f"iteroar {variant} repeat {r} iteration {i}: "
                f"test accuracy {result.test_accuracy:.3f}")
        return result

    if part is not None and part[0] == 0:  # every shard's f_0 first, so none waits long
        for r in sorted({r for r, variant in chains if not finished(r, variant)}):
            fit(f"original_r{r}_i0", 0, r, "none", x0tr, x0te)
    for c, (r, variant) in enumerate(chains):  # repeat-major: every chain of repeat 0 first
        if part is not None and not in_shard(c, part):
            continue
        chain_key = f"{slug(variant)}_r{r}"
        if finished(r, variant):
            continue  # its rows are all there; its models and masks are not needed
        _cut_to_continuable(store, chain_key, iterations, say)
        xtr, xte = x0tr, x0te
        test_masks: list[torch.Tensor] = []
        for i in range(iterations + 1):
            key = f"original_r{r}_i0" if i == 0 else f"{chain_key}_i{i}"
            mkey = f"{chain_key}_i{i}"
            need_masks = i < iterations and not mask_path(store, mkey).exists()
            if not accuracy.has(key) or need_masks:
                if i == 0 and part is not None and part[0] != 0:
                    wait_for_model(store, key, f"shard 0 of {part[1]} to train {key} (f_0 of "
                                   f"repeat {r})", say, poll_s)
                result = fit(key, i, r, variant, xtr, xte)
            if i == iterations:
                break
            if need_masks:
                write_masks(store, mkey, **{
                    name: _masks(cfg, result.model, variant, x, y, seed=2 * (
                        cfg.seed + 1000 * r + i) + (name == "test"), device=device)
                    for name, x, y in (("train", xtr, ytr), ("test", xte, yte))})
            masks = read_masks(mask_path(store, mkey))
            if int(masks["test"][0].sum()) != k:
                raise AttrbenchError(f"Stored masks {mkey} do not hold {k} pixels each; "
                                     "delete the results folder and rerun.")
            test_masks.append(masks["test"])
            xtr = fill_removed(xtr, masks["train"], cfg.fill, dataset_mean=mean)
            xte = fill_removed(xte, masks["test"], cfg.fill, dataset_mean=mean)
        if not store.table("overlap").has(chain_key) and len(test_masks) >= 2:
            seq = torch.stack(test_masks)
            summary = overlap_summary(seq, rho=cfg.rho)
            store.table("overlap_samples").write(chain_key, _sample_rows(variant, r, idte, seq))
            store.table("overlap").write(chain_key, [{"variant": variant, "repeat": r,
                                                "tau": cfg.tau, "rho": cfg.rho, **summary}])
        if after_chain is not None:
            after_chain(variant, r)
    tables = {name: store.table(name).read()
              for name in ("accuracy", "overlap", "overlap_samples")}
    tables["accuracy"].attrs["missing_chains"] = sum(not finished(r, v) for r, v in chains)
    return tables


def chain_masks(out: str | Path, variant: str, repeat: int, split: str = "test") -> torch.Tensor:
    """The stored masks of one chain as bool ``(I, N, *S)`` (for plots and the leakage test)."""
    store_root = Path(out)
    files = sorted((store_root / "masks").glob(f"{slug(variant)}_r{repeat}_i*.npz"),
                   key=lambda p: int(p.stem.rsplit("_i", 1)[1]))
    if not files:
        raise AttrbenchError(f"No masks of {variant!r} repeat {repeat} in {store_root}; run "
                             "attrbench iteroar first.")
    return torch.stack([read_masks(f)[split] for f in files])


__all__ = ["TARGETS", "ChainHook", "IteRoarConfig", "LabelTargetWarning", "chain_masks",
           "run_iteroar"]
