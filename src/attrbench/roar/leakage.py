"""The mask-leakage test of IteROAR (Palacio et al., Sec. 4.7) and the mask post-processing.

Masks can leak the class through their position, size or shape. The proxy test trains a
classifier on the masks alone (labels of the corresponding samples), ``runs`` times, and again with
the labels randomly permuted (train and test alike, so the class balance is kept); the classifier
should do no better than chance if the masks carry no class information. Leakage is flagged when
the true-label test accuracy is significantly higher than the shuffled-label one: a one-sided
Welch t-test over the runs (:func:`scipy.stats.ttest_ind`, ``alternative="greater"``) with
p < ``alpha``. Training uses :func:`attrbench.training.train` without flips or crops, which would
move the masks and hide a positional leak.

Post-processing proposed in Sec. 4.7 (applied before re-running the test): ``dilate`` and
``erode`` (square structuring element of side ``2·radius + 1``, via max-pooling; pixels outside
the image count as unmasked, so a mask touching the border erodes there, exactly as
:func:`scipy.ndimage.binary_erosion` / ``binary_dilation`` with their default ``border_value=0``),
``shift``
(each mask moved by a random integer offset in [-radius, radius]² with zero fill) and ``hull``
(each mask replaced by the pixels whose centres lie in the convex hull of its pixels, via
:class:`scipy.spatial.Delaunay`; one call per mask, vectorised over pixels).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import spatial, stats

from attrbench.data import DatasetSpec
from attrbench.errors import AttrbenchError
from attrbench.results import ResultStore, Table
from attrbench.roar.iterative import IteRoarConfig, chain_masks
from attrbench.roar.store import slug
from attrbench.roar.tensor_data import TensorImageDataset, train_on_tensors
from attrbench.runtime import make_generator
from attrbench.training import TrainConfig

MASK_OPS: tuple[str, ...] = ("dilate", "erode", "shift", "hull")


def _as_images(masks: torch.Tensor) -> torch.Tensor:
    """bool ``(N, H, W)`` or ``(N, C, H, W)`` -> float ``(N, C, H, W)`` in {0, 1}."""
    if masks.dtype != torch.bool or masks.dim() not in (3, 4):
        raise AttrbenchError(f"Masks must be bool (N, H, W) or (N, C, H, W), got {masks.dtype} "
                             f"{tuple(masks.shape)}.")
    return (masks.unsqueeze(1) if masks.dim() == 3 else masks).float()


def postprocess_masks(masks: torch.Tensor, op: str, radius: int = 1, *,
                      seed: int = 0) -> torch.Tensor:
    """Dilate, erode or randomly shift removal masks.

    Args:
        masks: bool ``(N, H, W)`` or ``(N, C, H, W)`` (channels are processed alike).
        op: ``"dilate"``, ``"erode"``, ``"shift"`` or ``"hull"``.
        radius: structuring-element half side / largest shift in pixels, >= 1 (unused by hull).
        seed: seeds the shifts (one offset per mask).

    Returns:
        bool tensor shaped like ``masks``.
    """
    if op not in MASK_OPS:
        raise AttrbenchError(f"Unknown mask operation {op!r}; use one of: {', '.join(MASK_OPS)}.")
    if radius < 1:
        raise AttrbenchError(f"radius must be >= 1 pixel, got {radius}.")
    x = _as_images(masks)
    n, c, h, w = x.shape
    if op == "dilate":
        out = F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius) > 0.5
    elif op == "erode":  # outside the image counts as unmasked, as scipy.ndimage.binary_erosion
        holes = F.pad(1.0 - x, (radius,) * 4, value=1.0)
        out = ~(F.max_pool2d(holes, 2 * radius + 1, stride=1) > 0.5)
    elif op == "hull":
        out = _convex_hulls(x.bool().reshape(n * c, h, w)).reshape(n, c, h, w)
    else:
        g = make_generator(seed)
        dy, dx = torch.randint(-radius, radius + 1, (2, n), generator=g)
        ys = torch.arange(h).view(1, h, 1) - dy.view(n, 1, 1)
        xs = torch.arange(w).view(1, 1, w) - dx.view(n, 1, 1)
        valid = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        rows = torch.arange(n).view(n, 1, 1)
        moved = x.bool().permute(0, 2, 3, 1)[rows, ys.clamp(0, h - 1), xs.clamp(0, w - 1)]
        out = (moved & valid.unsqueeze(-1)).permute(0, 3, 1, 2)
    return out.reshape(masks.shape)


def _convex_hulls(masks: torch.Tensor) -> torch.Tensor:
    """Fill each bool ``(H, W)`` mask of ``(M, H, W)`` to its convex hull (pixel centres inside).

    Masks with fewer than three pixels, or collinear ones, are kept as they are; the result always
    contains the mask.
    """
    m, h, w = masks.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
    out = masks.clone()
    for i in range(m):  # one Qhull call per mask; the inside test is vectorised over pixels
        points = masks[i].nonzero().numpy()
        if len(points) < 3 or np.linalg.matrix_rank(points - points[0]) < 2:
            continue
        inside = spatial.Delaunay(points).find_simplex(grid, tol=1e-9) >= 0
        out[i] |= torch.from_numpy(inside.reshape(h, w))
    return out


@dataclass(frozen=True)
class LeakageResult:
    """Outcome of :func:`mask_leakage_test`; accuracies are fractions, losses mean cross-entropy.

    Attributes:
        true_accuracy, shuffled_accuracy: test accuracy per run.
        true_loss, shuffled_loss: test cross-entropy (nats) per run.
        p_value: one-sided Welch t-test, true > shuffled accuracy.
        alpha: significance level.
        flagged: ``p_value < alpha``: the masks leak the label.
        chance: ``1 / num_classes``.
    """

    true_accuracy: tuple[float, ...]
    shuffled_accuracy: tuple[float, ...]
    true_loss: tuple[float, ...]
    shuffled_loss: tuple[float, ...]
    p_value: float
    alpha: float
    flagged: bool
    chance: float

    def summary(self) -> dict[str, float]:
        """Means and standard deviations (ddof 1) of accuracy and loss, p-value and flag."""
        out: dict[str, float] = {}
        for name in ("true_accuracy", "shuffled_accuracy", "true_loss", "shuffled_loss"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            out[f"{name}_mean"] = float(values.mean())
            out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.update(p_value=self.p_value, alpha=self.alpha, flagged=float(self.flagged),
                   chance=self.chance, runs=float(len(self.true_accuracy)))
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def one_sided_welch(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of "mean(a) > mean(b)" (Welch); zero-variance samples are decided by the means."""
    if a.std() == 0 and b.std() == 0:
        return 0.0 if a.mean() > b.mean() else 1.0
    with warnings.catch_warnings():  # one constant arm (e.g. all 1.0) is a valid, decisive sample
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def mask_leakage_test(train_masks: torch.Tensor, train_labels: torch.Tensor,
                      test_masks: torch.Tensor, test_labels: torch.Tensor, num_classes: int,
                      out_dir: str | Path, *, runs: int = 3, model: str = "small_cnn",
                      recipe: str = "quick", epochs: int = 5, batch_size: int | None = None,
                      lr: float | None = None, alpha: float = 0.01, seed: int = 0,
                      device: str = "auto", progress: bool = False) -> LeakageResult:
    """Train on masks with true and with shuffled labels; flag a significant difference.

    Args:
        train_masks, test_masks: bool ``(N, H, W)`` or ``(N, C, H, W)`` removal masks.
        train_labels, test_labels: int64 ``(N,)`` labels of the masked samples.
        num_classes: number of classes.
        out_dir: folder for the ``2 · runs`` training runs (resumable).
        runs: runs per arm, >= 3 (Sec. 4.7).
        model, recipe, epochs, batch_size, lr: the mask classifier and its training.
        alpha: significance level of the one-sided Welch t-test.
        seed: run ``q`` uses seed ``seed + q`` (weights) and a permutation seeded likewise.
        device: where to train.
        progress: training progress bars.

    Raises:
        AttrbenchError: fewer than 3 runs, alpha outside (0, 1), bad masks or labels.
    """
    if runs < 3:
        raise AttrbenchError(f"The leakage test needs at least 3 runs per arm, got {runs}.")
    if not 0.0 < alpha < 1.0:
        raise AttrbenchError(f"alpha must lie in (0, 1), got {alpha}.")
    xtr, xte = _as_images(train_masks), _as_images(test_masks)
    if xtr.shape[1:] != xte.shape[1:] or len(xtr) != len(train_labels) or \
            len(xte) != len(test_labels):
        raise AttrbenchError("Train and test masks must have one shape and one label per mask.")
    c = xtr.shape[1]
    spec = DatasetSpec("masks", tuple(str(i) for i in range(num_classes)),
                       (c, xtr.shape[2], xtr.shape[3]), (0.0,) * c, (1.0,) * c,
                       "removal masks as {0, 1} images")
    base = TrainConfig.from_recipe(recipe, dataset="masks", model=model, epochs=epochs,
                                   batch_size=batch_size, lr=lr, hflip=False, crop_padding=0,
                                   device=device)
    out_dir = Path(out_dir)
    # The data's identity goes into each run's key, so a folder is never resumed with other masks.
    digest = hashlib.sha256()
    for t in (xtr, xte, train_labels, test_labels):
        digest.update(np.ascontiguousarray(t.cpu().numpy()).tobytes())
    tag = digest.hexdigest()[:16]
    accuracy: dict[str, list[float]] = {"true": [], "shuffled": []}
    loss: dict[str, list[float]] = {"true": [], "shuffled": []}
    for q in range(runs):
        for arm in ("true", "shuffled"):
            ytr, yte = train_labels.long(), test_labels.long()
            if arm == "shuffled":
                g = make_generator(seed + q)
                ytr = ytr[torch.randperm(len(ytr), generator=g)]
                yte = yte[torch.randperm(len(yte), generator=g)]
            result = train_on_tensors(
                base, TensorImageDataset(spec, "train", xtr, ytr),
                TensorImageDataset(spec, "test", xte, yte), out_dir / f"{arm}_run{q}",
                key=f"leakage/{tag}/{arm}/{q}", seed=seed + q, progress=progress)
            with torch.no_grad():
                dev = next(result.model.parameters()).device
                logits = torch.cat([result.model(xte[s:s + 512].to(dev)).float().cpu()
                                    for s in range(0, len(xte), 512)])
            loss[arm].append(float(F.cross_entropy(logits, yte)))
            accuracy[arm].append(float(result.test_accuracy))
    p = one_sided_welch(np.asarray(accuracy["true"]), np.asarray(accuracy["shuffled"]))
    if math.isnan(p):
        p = 1.0
    return LeakageResult(tuple(accuracy["true"]), tuple(accuracy["shuffled"]),
                         tuple(loss["true"]), tuple(loss["shuffled"]), p, alpha, p < alpha,
                         1.0 / num_classes)


def operation_name(op: str | None, radius: int = 1) -> str:
    """The ``operation`` of a leakage row: ``"raw"`` or the post-processing and its radius."""
    return "raw" if op is None else f"{op}{radius}"


def leakage_key(variant: str, repeat: int, iteration: int, op: str | None = None,
                radius: int = 1) -> str:
    """The ``leakage`` table key of one test:
    ``<variant>_r<repeat>_i<iteration>_<raw|op radius>``."""
    return f"{slug(variant)}_r{repeat}_i{iteration}_{operation_name(op, radius)}"


def chain_leakage(cfg: IteRoarConfig, out: str | Path, variant: str, repeat: int, iteration: int,
                  *, op: str | None = None, radius: int = 1, runs: int = 3, epochs: int = 5,
                  alpha: float = 0.01, progress: bool = False) -> dict[str, object]:
    """Run :func:`mask_leakage_test` on one IteROAR iteration's masks and store the row.

    Args:
        cfg: the configuration the IteROAR folder ``out`` was run with.
        out: the IteROAR results folder.
        variant, repeat, iteration: which chain and which iteration's masks (0-based).
        op, radius: optional :func:`postprocess_masks` applied first (``None`` = raw masks).
        runs, epochs, alpha: see :func:`mask_leakage_test` (the classifier is ``cfg.model``).
        progress: training progress bars.

    Returns:
        The stored row: chain, operation and :meth:`LeakageResult.summary`. A row stored before
        is read back (its masks need not be on disk any more).
    """
    store = ResultStore(out, cfg.identity(), cfg.seed, benchmark="iteroar")
    key = leakage_key(variant, repeat, iteration, op, radius)
    table = store.table("leakage")
    if table.has(key):  # finished before: a resumed sweep skips it
        return pd.read_parquet(table.path(key)).iloc[0].to_dict()
    masks = chain_masks(out, variant, repeat, "train"), chain_masks(out, variant, repeat, "test")
    if not 0 <= iteration < len(masks[0]):
        raise AttrbenchError(f"Iteration {iteration} has no masks; use 0..{len(masks[0]) - 1}.")
    mtr, mte = masks[0][iteration], masks[1][iteration]
    if op is not None:
        mtr, mte = (postprocess_masks(m, op, radius, seed=cfg.seed + s)
                    for s, m in enumerate((mtr, mte)))
    ytr, yte = cfg.load_split("train").labels, cfg.load_split("test").labels
    result = mask_leakage_test(mtr, ytr, mte, yte, cfg.load_split("test").spec.num_classes,
                               store.root / "leakage" / key, runs=runs, model=cfg.model,
                               recipe=cfg.recipe, epochs=epochs, batch_size=cfg.batch_size,
                               alpha=alpha, seed=cfg.seed, device=cfg.device, progress=progress)
    row: dict[str, object] = {"variant": variant, "repeat": repeat, "iteration": iteration,
                              "operation": operation_name(op, radius), **result.summary()}
    table.write(key, [row])
    return row


@dataclass(frozen=True)
class ChainLeakage:
    """The leakage tests of each chain, run as soon as the chain is finished (``run_iteroar``'s
    ``after_chain`` hook), while its masks are still on disk.

    A run longer than one working session keeps only its tables (``scripts/ledger.py``), not
    its masks (tens of MB per chain); tested after all chains, the early chains' masks would be
    gone. With this hook a chain counts as finished only once its leakage rows exist too, and a
    chain whose rows exist but whose masks are lost is recomputed (its models are checked
    against their recorded SHA-256) to test it.

    Attributes:
        cfg, out: the IteROAR configuration and folder.
        iterations: the iterations whose masks are tested (0-based, each < ``cfg.iterations``).
        ops: ``None`` (raw masks) and/or :data:`MASK_OPS` names, each with ``radius``.
        repeats: the repeats whose chains are tested (the paper's test: one chain each, repeat 0).
        runs, epochs, radius: see :func:`chain_leakage`.
        log: called with one line per finished test.
    """

    cfg: IteRoarConfig
    out: Path
    iterations: tuple[int, ...]
    ops: tuple[str | None, ...] = (None,)
    repeats: tuple[int, ...] = (0,)
    runs: int = 3
    epochs: int = 5
    radius: int = 1
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        assert self.cfg.iterations is not None
        bad = [i for i in self.iterations if not 0 <= i < self.cfg.iterations]
        if bad or not self.iterations:
            raise AttrbenchError(
                f"Leakage iterations must lie in 0..{self.cfg.iterations - 1} (the iterations "
                f"that make masks), got {list(self.iterations)}.")
        for op in self.ops:
            if op is not None and op not in MASK_OPS:
                raise AttrbenchError(f"Unknown mask operation {op!r}; use one of: "
                                     f"{', '.join(MASK_OPS)}.")
        if self.runs < 3:
            raise AttrbenchError(f"The leakage test needs at least 3 runs per arm, got "
                                 f"{self.runs}.")

    def done(self, variant: str, repeat: int) -> bool:
        """True if chain (``variant``, ``repeat``) needs no test or has all its rows."""
        if repeat not in self.repeats:
            return True
        table = Table(self.out, "leakage")
        return all(table.has(leakage_key(variant, repeat, i, op, self.radius))
                   for i in self.iterations for op in self.ops)

    def __call__(self, variant: str, repeat: int) -> None:
        """Run the chain's missing tests (its masks must be on disk)."""
        if repeat not in self.repeats:
            return
        for it in self.iterations:
            for op in self.ops:
                row = chain_leakage(self.cfg, self.out, variant, repeat, it, op=op,
                                    radius=self.radius, runs=self.runs, epochs=self.epochs)
                if self.log is not None:
                    self.log(
                        f"leakage {variant} repeat {repeat} iteration {it} {row['operation']}: "
                        f"true {row['true_accuracy_mean']:.3f} ± {row['true_accuracy_std']:.3f} "
                        f"vs shuffled {row['shuffled_accuracy_mean']:.3f} ± "
                        f"{row['shuffled_accuracy_std']:.3f}, p = {row['p_value']:.3g}"
                        f"{' LEAK' if row['flagged'] else ''}")
