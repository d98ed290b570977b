"""Fidelity A: the area between the LIF and MIF perturbation curves, with a 95 % CI.

FPA paper (Brocki & Chung), Sec. 3 "Fidelity" and Tables 1, D.1, D.2; the authors' computation
(``perturb.ipynb``, ``papers/NOTES.md`` §1.7):

1. each curve is divided by its own step-0 logit (so an unchanged curve is 1 everywhere);
2. its area is the trapezoid rule over ``x = linspace(0, 100, S+1)`` (percent masked; a curve that
   stays at 1 has area 100);
3. ``A = mean(AUC_LIF) - mean(AUC_MIF)``;
4. the 95 % CI half-width is ``z * sqrt(var(AUC_MIF) + var(AUC_LIF)) / sqrt(N)`` with population
   variances (ddof = 0), i.e. MIF and LIF treated as independent. ``z`` is by default the exact
   normal quantile of the requested level, ``norm.ppf((1 + level) / 2)`` (1.959964 at 95 %), as
   the authors' code computes it (``scipy.stats.norm.interval``; it matches their stored CIs to
   1e-6). The paper prints no quantile; pass ``z=1.96`` for the rounded textbook value (it differs
   in the 5th significant digit).

Since MIF and LIF are measured on the same images they are positively correlated, so a *paired*
interval on the per-image difference ``AUC_LIF - AUC_MIF`` is usually tighter; it is offered as
``ci="paired"``. Its standard deviation also uses ddof = 0, so that the two intervals differ only in
what is assumed about the covariance (ddof = 1 would widen either by ``sqrt(N / (N - 1))``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats

from attrbench.errors import AttrbenchError

__all__ = ["FidelityResult", "auc", "fidelity", "normalise_curves"]

CI_KINDS: tuple[str, ...] = ("independent", "paired")
NONPOSITIVE_RULES: tuple[str, ...] = ("exclude", "error")

ArrayLike = torch.Tensor | np.ndarray


def _as_curves(curves: ArrayLike, name: str) -> torch.Tensor:
    t = torch.as_tensor(curves).detach().cpu()
    if t.dim() != 2 or t.shape[1] < 2:
        raise AttrbenchError(
            f"{name} must have shape (N, S+1) with S >= 1 steps; got {tuple(t.shape)}."
        )
    if t.shape[0] == 0:
        raise AttrbenchError(f"{name} holds no curves (N = 0); evaluate at least one image.")
    t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise AttrbenchError(f"{name} contains NaN or infinite logits; check the model and inputs.")
    return t


def normalise_curves(curves: ArrayLike) -> torch.Tensor:
    """Divide each curve by its own step-0 value (the unperturbed logit).

    Args:
        curves: ``(N, S+1)`` logits, step 0 unperturbed.

    Returns:
        ``(N, S+1)`` float64; column 0 is 1. Rows whose step-0 logit is <= 0 are meaningless here
        (sign flip or division by zero); :func:`fidelity` excludes them.
    """
    t = _as_curves(curves, "curves")
    return t / t[:, :1]


def auc(curves_normalised: ArrayLike, x: ArrayLike) -> torch.Tensor:
    """Trapezoid area under each curve.

    Args:
        curves_normalised: ``(N, S+1)`` normalised curves.
        x: ``(S+1,)`` x-axis, percent masked (the paper uses ``linspace(0, 100, S+1)``).

    Returns:
        ``(N,)`` float64 areas in "normalised logit x percent" units (100 = a flat curve at 1).
    """
    y = _as_curves(curves_normalised, "curves")
    xs = torch.as_tensor(x).detach().cpu().to(torch.float64).flatten()
    if xs.numel() != y.shape[1]:
        raise AttrbenchError(
            f"x has {xs.numel()} points but the curves have {y.shape[1]}; pass one x per step."
        )
    return torch.trapezoid(y, xs, dim=1)


@dataclass(frozen=True)
class FidelityResult:
    """Fidelity A of one (model, estimator) pair and its confidence interval.

    Attributes:
        a: ``mean(AUC_LIF) - mean(AUC_MIF)`` over the images used (percent units, 0..~100+).
        ci_half_width: half-width of the ``level`` confidence interval of ``a``.
        auc_mif_mean: mean normalised area under the MIF curves.
        auc_lif_mean: mean normalised area under the LIF curves.
        n_used: images used.
        n_excluded: images excluded because a step-0 logit was <= 0.
        excluded: indices (into the input rows) of the excluded images.
        ci: ``"independent"`` (the paper's) or ``"paired"``.
        level: confidence level, e.g. 0.95.
        z: normal quantile used for the half-width.
        auc_mif: ``(n_used,)`` float64 per-image MIF areas.
        auc_lif: ``(n_used,)`` float64 per-image LIF areas.
    """

    a: float
    ci_half_width: float
    auc_mif_mean: float
    auc_lif_mean: float
    n_used: int
    n_excluded: int
    excluded: tuple[int, ...]
    ci: str
    level: float
    z: float
    auc_mif: torch.Tensor = field(repr=False, compare=False)
    auc_lif: torch.Tensor = field(repr=False, compare=False)

    def format(self, digits: int = 2) -> str:
        """``"A ± CI"`` as in the paper's tables, e.g. ``"59.41 ± 13.41"``."""
        return f"{self.a:.{digits}f} ± {self.ci_half_width:.{digits}f}"


def fidelity(
    mif: ArrayLike,
    lif: ArrayLike,
    x: ArrayLike | None = None,
    *,
    ci: str = "independent",
    level: float = 0.95,
    nonpositive: str = "exclude",
    z: float | None = None,
) -> FidelityResult:
    """Fidelity A = mean area under LIF minus mean area under MIF (FPA paper, Sec. 3; NOTES §1.7).

    Each curve is normalised by its own step-0 logit before integration. Images whose step-0 logit
    is <= 0 (in either curve) cannot be normalised; the default rule (``nonpositive="exclude"``)
    drops them from A and its CI, counts them in ``n_excluded`` and lists them in ``excluded``;
    with ``nonpositive="error"`` they raise instead. (The authors' code divides regardless; their
    curves track the predicted class, whose logit is rarely <= 0.)

    Args:
        mif: ``(N, S+1)`` MIF logits, step 0 unperturbed.
        lif: ``(N, S+1)`` LIF logits of the same images in the same order.
        x: ``(S+1,)`` integration axis in percent; default ``linspace(0, 100, S+1)`` (the paper's).
        ci: ``"independent"`` = ``z * sqrt(var_MIF + var_LIF) / sqrt(N)`` (the paper's) or
            ``"paired"`` = ``z * std(AUC_LIF - AUC_MIF) / sqrt(N)``; ddof = 0 in both.
        level: two-sided confidence level in (0, 1); the default ``z`` is the exact quantile
            ``scipy.stats.norm.ppf((1 + level) / 2)`` (1.959964 at 95 %, 1.644854 at 90 %).
        nonpositive: ``"exclude"`` (default) or ``"error"``, see above.
        z: a fixed normal quantile instead, e.g. ``z=1.96``, the rounded textbook value. The exact
            default is what the authors' code uses (their stored CIs to 1e-6); the two differ in
            the 5th significant digit (CIFAR Rectangle IG_sum: 21.2749 exact, 21.2753 with 1.96).

    Returns:
        :class:`FidelityResult`.

    Raises:
        AttrbenchError: mismatched shapes, non-finite logits, bad options, no usable image, or a
            step-0 logit <= 0 with ``nonpositive="error"``.
    """
    if ci not in CI_KINDS:
        raise AttrbenchError(f"Unknown ci {ci!r}; use one of: {', '.join(CI_KINDS)}.")
    if nonpositive not in NONPOSITIVE_RULES:
        raise AttrbenchError(
            f"Unknown nonpositive rule {nonpositive!r}; use one of: {', '.join(NONPOSITIVE_RULES)}."
        )
    if not 0.0 < float(level) < 1.0:
        raise AttrbenchError(f"level must lie strictly between 0 and 1 (e.g. 0.95); got {level}.")
    m = _as_curves(mif, "mif")
    lf = _as_curves(lif, "lif")
    if m.shape != lf.shape:
        raise AttrbenchError(
            f"mif {tuple(m.shape)} and lif {tuple(lf.shape)} must have the same shape "
            "(same images, same steps)."
        )
    xs = torch.linspace(0.0, 100.0, m.shape[1], dtype=torch.float64) if x is None else x

    bad = (m[:, 0] <= 0) | (lf[:, 0] <= 0)
    excluded = tuple(bad.nonzero().flatten().tolist())
    if excluded and nonpositive == "error":
        raise AttrbenchError(
            f"{len(excluded)} images have a step-0 logit <= 0 (rows {list(excluded[:10])}) and "
            "cannot be normalised; use nonpositive='exclude' to drop them."
        )
    keep = ~bad
    n = int(keep.sum())
    if n == 0:
        raise AttrbenchError(
            "No image has a positive step-0 logit, so no curve can be normalised; track the "
            "predicted class (targets=None) or check the model."
        )
    a_mif = auc(normalise_curves(m[keep]), xs)
    a_lif = auc(normalise_curves(lf[keep]), xs)
    if z is None:
        z = float(stats.norm.ppf((1.0 + float(level)) / 2.0))  # exact, as the authors' code
    elif not float(z) > 0.0:
        raise AttrbenchError(f"z must be a positive normal quantile (e.g. 1.96); got {z}.")
    if ci == "independent":
        spread = math.sqrt(float(a_mif.var(correction=0) + a_lif.var(correction=0)))
    else:
        spread = float((a_lif - a_mif).std(correction=0))
    return FidelityResult(
        a=float(a_lif.mean() - a_mif.mean()),
        ci_half_width=z * spread / math.sqrt(n),
        auc_mif_mean=float(a_mif.mean()),
        auc_lif_mean=float(a_lif.mean()),
        n_used=n,
        n_excluded=len(excluded),
        excluded=excluded,
        ci=ci,
        level=float(level),
        z=float(z),
        auc_mif=a_mif,
        auc_lif=a_lif,
    )
