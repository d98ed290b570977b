"""Attacks on attributions: perturb the input inside an ℓ∞ ball, keep the label, change the map.

Ghorbani et al., "Interpretation of Neural Networks is Fragile" (AAAI 2019), iterative attacks as
used by Kamath et al., "Rethinking Robustness of Model Attributions" (AAAI 2024; code in
``papers/NOTES.md`` §5.3):

* ``random``: a random-sign walk, x <- Proj(x + α sign(N(0, I))) each iteration (the authors'
  ``random`` method);
* ``random_sign``: one random-sign perturbation of the full budget, x + ε sign(N(0, I)) (the
  "random-sign perturbation at ε = 8/255" of Kamath et al.'s ImageNet study): up to ``draws``
  sign patterns are drawn per image and the first that keeps the label is returned (a baseline,
  not an attack: no restarts, no search for the worst draw);
* ``topk``: minimise the (normalised, surrogate) saliency mass on the original top-k pixels O;
* ``mass_center``: maximise the squared distance of the map's centre of mass from the original's;
* ``lens_topk``: Kamath et al.'s LENS-aware variant, the topk loss on the dilated set N_w(O).

A gradient attack steps x <- Proj(x - α sign(∇_x loss)), the gradient taken on a softplus
surrogate of the network (:mod:`.surrogate`) through the method's own differentiable form
(:func:`differentiable_map`). Proj clamps to the ℓ∞ ball of radius ε around the original and to
the valid pixel range (:class:`attrbench.adversarial.InputSpace`; ε and α in pixel units of [0, 1]
images). After every ``eval_every`` iterations the *real* explainer is run on the *real* model,
and per image the iterate with the lowest criterion (e.g. top-k intersection or Kendall's tau)
among those whose predicted label equals the original prediction is kept; ``restarts`` repeats
the attack (restarts after the first start from a uniform random point of the ball) and the worst
case over all is returned.

Only perturbations that keep the prediction count (Ghorbani et al. and Kamath et al. evaluate
perturbations that keep the predicted label; NOTES §5.3). Per image the result says whether one was
found (``kept``) and where (``restart``, ``iteration``). An image for which no evaluated iterate
(no draw) keeps the label gets the last one tried, flagged ``kept = False`` with criterion NaN:
callers leave it out of every mean instead of scoring the clean image as "unchanged" (= 1.0),
which would bias the measures upwards exactly where attacks fail, at the largest budgets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from attrbench.adversarial import InputSpace, check_eps
from attrbench.adversarial.presets import preset_values
from attrbench.errors import AttrbenchError, unknown_name_error
from attrbench.methods import METHODS, Explainer
from attrbench.methods.guard import attribution_mode
from attrbench.metrics.functional.robustness import (
    attribution_map,
    kendall,
    lens_precision,
    lens_recall,
    spearman,
    topk_intersection,
)
from attrbench.metrics.functional.topk import check_k, check_w, default_k, dilate, topk_mask
from attrbench.robustness.surrogate import SURROGATES, smooth_relu

ATTACKS: tuple[str, ...] = ("random", "random_sign", "topk", "mass_center", "lens_topk")
#: Attacks that need no gradient of the attribution (work with any method).
RANDOM_ATTACKS: tuple[str, ...] = ("random", "random_sign")
CRITERIA: tuple[str, ...] = (
    "topk_intersection", "spearman", "kendall",
    *(f"lens_{kind}_w{w}" for w in (1, 2, 3) for kind in ("recall", "precision")),
)


def differentiable_methods() -> tuple[str, ...]:
    """Registered methods the gradient attacks can differentiate through: those whose
    ``MethodSpec.differentiable`` is set (VG, G x I, IG, and user methods registered with
    ``differentiable=True``)."""
    return tuple(n for n in METHODS if METHODS.get(n).differentiable is not None)


def check_differentiable(explainer: Explainer) -> None:
    """Raise AttrbenchError unless the gradient attacks can differentiate ``explainer``'s map."""
    if explainer.spec.differentiable is None:
        raise AttrbenchError(
            f"Method {explainer.name!r} has no differentiable form for the gradient attacks; use "
            f"one of {', '.join(differentiable_methods())} (or register yours with "
            "differentiable=True), or a random attack (random, random_sign), which works with any "
            "method."
        )


def differentiable_map(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, explainer: Explainer
) -> torch.Tensor:
    """The map a gradient attack differentiates: sum_c |e| of the explainer's own method, kept in
    the autograd graph of ``x`` (``MethodSpec.differentiable``, with the explainer's resolved
    ``params``: IG's steps, baseline and quadrature), normalised to sum 1 per image.

    Unlike Ghorbani's code, which takes the sign of an IG-path-weighted sum of loss gradients at
    each counterfactual, this differentiates the IG map itself (exact gradient of the surrogate
    loss).

    Args:
        model: the (surrogate-wrapped) classifier, eval mode, parameters frozen.
        x: ``(B, C, H, W)`` input requiring grad.
        target: ``(B,)`` int64 classes.
        explainer: the method under attack.

    Returns:
        ``(B, H, W)`` float, each map summing to 1 (Ghorbani et al. normalise the saliency map so
        that the attack cannot simply scale it down).
    """
    check_differentiable(explainer)
    e = explainer.spec.differentiable(model, x, target, explainer.params)  # type: ignore[misc]
    s = e.abs().sum(dim=1)
    return s / s.flatten(1).sum(dim=1).clamp_min(1e-12).view(-1, 1, 1)


@dataclass(frozen=True)
class AttackConfig:
    """One attack setting (budgets in pixel units of images scaled to [0, 1]).

    Attributes:
        kind: one of :data:`ATTACKS`.
        eps: ℓ∞ radius in [0, 1] (MNIST 0.3; 0-255 images 8/255).
        step: step size α in (0, 1] (unused by ``random_sign``).
        iterations: steps per restart (>= 1; unused by ``random_sign``).
        restarts: independent runs; the worst label-preserving result is kept (>= 1; unused by
            ``random_sign``).
        draws: ``random_sign`` only: sign patterns drawn per image at most, the first that keeps
            the label is returned (>= 1).
        k_attack: size of the top-k set the topk / lens_topk loss targets (None = default k).
        k: k of the selection criterion (None = default k for the image size).
        criterion: measure minimised when choosing the returned iterate, one of :data:`CRITERIA`.
        lens_w: radius of N_w(O) for ``lens_topk`` (the authors use 1).
        surrogate: ReLU replacement for the attack gradient (``softplus``, ``mixed``, ``none``).
        beta: softplus sharpness.
        quantize: round iterates to 8-bit pixel values (the Flower code casts to int).
        eval_every: evaluate the real map and label every this many iterations (and at the end).
    """

    kind: str = "topk"
    eps: float = 8 / 255
    step: float = 1 / 255
    iterations: int = 100
    restarts: int = 1
    k_attack: int | None = None
    k: int | None = None
    criterion: str = "topk_intersection"
    lens_w: int = 1
    surrogate: str = "softplus"
    beta: float = 1.0
    quantize: bool = False
    eval_every: int = 1
    draws: int = 10

    def validate(self) -> AttackConfig:
        """Check every field; return ``self``. Raises AttrbenchError saying what to change."""
        if self.kind not in ATTACKS:
            raise unknown_name_error("attack", self.kind, ATTACKS)
        check_eps(self.eps)
        number = isinstance(self.step, (int, float)) and not isinstance(self.step, bool)
        if not number or not 0 < self.step <= 1:
            raise AttrbenchError(f"step must be in (0, 1] pixel units, got {self.step!r}.")
        for name in ("iterations", "restarts", "eval_every", "draws"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AttrbenchError(f"{name} must be an integer >= 1, got {value!r}.")
        if self.criterion not in CRITERIA:
            raise unknown_name_error("criterion", self.criterion, CRITERIA)
        if self.surrogate not in SURROGATES:
            raise unknown_name_error("surrogate", self.surrogate, SURROGATES)
        check_w(self.lens_w)
        return self

    def with_eps(self, eps: float) -> AttackConfig:
        """A copy with radius ``eps`` (validated)."""
        return dataclasses.replace(self, eps=eps).validate()


#: Parameters of NOTES §5.3. MNIST: ε 0.3, α 0.01, 100 iterations, 3 restarts, k_top 200,
#: eval k 100.
#: Flower-17 (0-255): ε 8, α 1, 100 iterations, 3 restarts, k 1000, integer pixels, the RAR
#: ResNet's 0.1x + 0.9 softplus. Ghorbani ImageNet: ε 8, α 0.5, 300 iterations, k 1000.
ATTACK_PRESETS: dict[str, dict[str, object]] = {
    "mnist": dict(eps=0.3, step=0.01, iterations=100, restarts=3, k_attack=200, k=100,
                  criterion="kendall", surrogate="softplus"),
    "flower": dict(eps=8 / 255, step=1 / 255, iterations=100, restarts=3, k_attack=1000, k=1000,
                   criterion="kendall", surrogate="mixed", quantize=True),
    "imagenet": dict(eps=8 / 255, step=0.5 / 255, iterations=300, restarts=1, k_attack=1000,
                     k=1000, criterion="kendall", surrogate="softplus"),
}


def attack_config(
    kind: str = "topk", preset: str | None = None, **overrides: object
) -> AttackConfig:
    """Build and validate an :class:`AttackConfig` from a preset of :data:`ATTACK_PRESETS`.

    Raises:
        AttrbenchError: unknown preset or field, or an invalid value.
    """
    values = preset_values("attack", AttackConfig, ATTACK_PRESETS, preset, overrides)
    return AttackConfig(kind=kind, **values).validate()  # type: ignore[arg-type]


@dataclass
class AttackResult:
    """Output of :func:`attribution_attack`.

    Attributes:
        x_adv: ``(B, C, H, W)`` returned examples, inside the ball and range: the label-preserving
            iterate with the lowest criterion, or, where none kept the label, the last one tried.
        target: ``(B,)`` int64 class the attack must keep (the prediction on the original).
        criterion: ``(B,)`` float64 criterion of x_adv's map vs the original map (1 = unchanged);
            NaN where ``kept`` is False.
        changed: ``(B,)`` bool, x_adv differs from the original.
        kept: ``(B,)`` bool, x_adv is predicted as ``target`` (a label-preserving perturbation
            was found; at ε = 0 the original itself).
        restart: ``(B,)`` int64, 1-based restart that produced x_adv (0 at ε = 0; always 1 for
            ``random_sign``).
        iteration: ``(B,)`` int64, 1-based iteration within that restart that produced x_adv;
            for ``random_sign`` the number of sign patterns drawn up to and including x_adv
            (0 at ε = 0). Where ``kept`` is False, restart and iteration are the last ones tried.
    """

    x_adv: torch.Tensor
    target: torch.Tensor
    criterion: torch.Tensor
    changed: torch.Tensor
    kept: torch.Tensor
    restart: torch.Tensor
    iteration: torch.Tensor


def criterion_fn(name: str, k: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(original maps, perturbed maps) -> (B,)`` for a name of :data:`CRITERIA`."""
    if name == "topk_intersection":
        return lambda a, b: topk_intersection(a, b, k)
    if name == "spearman":
        return spearman
    if name == "kendall":
        return kendall
    kind, w = name.rsplit("_w", 1)
    fn = lens_recall if kind == "lens_recall" else lens_precision
    return lambda a, b: fn(a, b, k, int(w))


def _centre(maps: torch.Tensor) -> torch.Tensor:
    """Centre of mass (row, col) of maps ``(B, H, W)`` summing to 1, ``(B, 2)``."""
    h, w = maps.shape[1:]
    rows = torch.arange(h, dtype=maps.dtype, device=maps.device)
    cols = torch.arange(w, dtype=maps.dtype, device=maps.device)
    return torch.stack([(maps.sum(2) * rows).sum(1), (maps.sum(1) * cols).sum(1)], dim=1)


def _check_images(x: torch.Tensor, space: InputSpace) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise AttrbenchError(
            "Attack inputs must be a float image batch (B, C, H, W) in the model's input space."
        )
    lo, hi = space.bounds(x)
    tol = 1e-4 * (hi - lo)
    if bool(((x < lo - tol) | (x > hi + tol)).any()):
        raise AttrbenchError(
            "Some images lie outside the valid range of the input space "
            f"(mean {space.mean}, std {space.std}); pass the normalisation the images were made "
            "with."
        )


def attribution_attack(
    explainer: Explainer,
    x: torch.Tensor,
    config: AttackConfig,
    space: InputSpace,
    *,
    generator: torch.Generator | None = None,
    target: torch.Tensor | None = None,
) -> AttackResult:
    """Run one attack on a batch (see the module docstring for the algorithm).

    Args:
        explainer: the attribution method under attack, bound to the model.
        x: ``(B, C, H, W)`` images in the model's input space, inside the valid range.
        config: the attack (validated here).
        space: the model's input normalisation (turns pixel budgets into input units).
        generator: randomness of the random walk and of random restarts (seed 0 if None).
        target: ``(B,)`` classes the attack must keep; None = the model's prediction on ``x``. An
            example counts as kept (label preserved) when the model predicts it as ``target``.

    Returns:
        :class:`AttackResult`.

    Raises:
        AttrbenchError: invalid config, images or k, or a gradient attack on a method without a
            differentiable form (e.g. occlusion, random).
    """
    config.validate()
    if config.kind not in RANDOM_ATTACKS:
        check_differentiable(explainer)
    _check_images(x, space)
    model = explainer.model
    b, _, h, w = x.shape
    k = check_k(config.k, h, w) if config.k is not None else default_k(h, w)
    k_attack = check_k(config.k_attack, h, w) if config.k_attack is not None else default_k(h, w)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    measure = criterion_fn(config.criterion, k)
    x = x.detach()
    with attribution_mode(model), torch.no_grad():
        pred = model(x).argmax(dim=1)
    target = pred if target is None else target.to(x.device)
    original = attribution_map(explainer(x, target))
    best_x, same = x.clone(), measure(original, original)
    nan = torch.full_like(same, float("nan"))
    restart_at = torch.zeros(b, dtype=torch.int64, device=x.device)
    iteration_at = torch.zeros(b, dtype=torch.int64, device=x.device)
    if config.eps == 0:
        kept = pred == target
        unchanged = torch.zeros(b, dtype=torch.bool, device=x.device)
        return AttackResult(best_x, target, torch.where(kept, same, nan), unchanged, kept,
                            restart_at, iteration_at)
    step = space.budget(config.step, x)
    radius = config.lens_w if config.kind == "lens_topk" else 0
    region = dilate(topk_mask(original, k_attack), radius)

    def random_sign() -> torch.Tensor:
        noise = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype)
        return torch.sign(noise).to(x.device)

    def keeps(x_t: torch.Tensor) -> torch.Tensor:
        with attribution_mode(model), torch.no_grad():
            return model(x_t).argmax(dim=1) == target

    def finish(best_crit: torch.Tensor, found: torch.Tensor) -> AttackResult:
        changed = (best_x != x).flatten(1).any(dim=1)
        return AttackResult(best_x, target, torch.where(found, best_crit, nan), changed, found,
                            restart_at, iteration_at)

    found = torch.zeros(b, dtype=torch.bool, device=x.device)
    if config.kind == "random_sign":
        # Draw d (d = 1, 2, ...) is sign(randn(x.shape)) for the whole batch; each image keeps
        # its first draw that keeps the label; none kept after ``draws``: the last draw, flagged.
        full = space.budget(config.eps, x)
        for d in range(1, config.draws + 1):
            x_t = space.project(x + full * random_sign(), x, config.eps)
            if config.quantize:
                x_t = space.project(space.quantize(x_t), x, config.eps)
            new = keeps(x_t) & ~found
            best_x[new], iteration_at[new] = x_t[new], d
            found |= new
            if bool(found.all()):
                break
        best_x[~found], iteration_at[~found] = x_t[~found], d
        restart_at[:] = 1
        return finish(measure(original, attribution_map(explainer(best_x, target))), found)

    # Images are independent (eval mode), so the surrogate gradient is taken a chunk of images at
    # a time, with at most ``explainer.max_batch`` model inputs (images x IG points) per pass.
    ig = explainer.name == "integrated_gradients"
    per_pass = max(1, explainer.max_batch // (int(explainer.params["steps"]) if ig else 1))
    chunks = [torch.arange(i, min(b, i + per_pass), device=x.device) for i in range(0, b, per_pass)]

    def surrogate_maps(x_t: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_var = x_t[rows].detach().requires_grad_(True)
        return x_var, differentiable_map(model, x_var, target[rows], explainer)

    def direction(x_t: torch.Tensor, centre0: torch.Tensor | None) -> torch.Tensor:
        if config.kind == "random":
            return random_sign()
        grad = torch.empty_like(x_t)
        with attribution_mode(model), smooth_relu(config.surrogate, config.beta):
            for rows in chunks:
                x_var, s = surrogate_maps(x_t, rows)
                if config.kind == "mass_center":
                    loss = -(_centre(s) - centre0[rows]).square().sum()
                else:
                    loss = (s * region[rows]).sum()
                (grad[rows],) = torch.autograd.grad(loss, x_var)
        # A zero gradient gives no direction: the mass-centre loss -|c - c0|^2 is stationary at
        # its start (shift 0). Such images take a random-sign step instead.
        stuck = (grad == 0).flatten(1).all(dim=1).view(-1, 1, 1, 1)
        return torch.where(stuck, random_sign(), -torch.sign(grad))

    centre0 = None
    if config.kind == "mass_center":
        with attribution_mode(model), smooth_relu(config.surrogate, config.beta):
            centre0 = torch.cat([_centre(surrogate_maps(x, rows)[1]).detach() for rows in chunks])
    best_crit = same.clone()
    iterations = config.iterations
    for restart in range(config.restarts):
        x_t = x
        if restart > 0 and config.kind != "random":
            u = torch.rand(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
            x_t = space.project(x + (2 * u - 1) * space.budget(config.eps, x), x, config.eps)
        for it in range(iterations):
            x_t = space.project(x_t + step * direction(x_t, centre0), x, config.eps)
            if config.quantize:
                x_t = space.project(space.quantize(x_t), x, config.eps)
            x_t = x_t.detach()
            if (it + 1) % config.eval_every and it + 1 != iterations:
                continue
            kept = keeps(x_t)
            crit = measure(original, attribution_map(explainer(x_t, target)))
            # the first label-preserving iterate is taken whatever its criterion (even 1.0)
            better = kept & (~found | (crit < best_crit))
            best_x[better] = x_t[better]
            best_crit = torch.where(better, crit, best_crit)
            restart_at[better], iteration_at[better] = restart + 1, it + 1
            found |= kept
    best_x[~found] = x_t[~found]  # the last iterate tried, flagged as not kept
    restart_at[~found], iteration_at[~found] = config.restarts, iterations
    return finish(best_crit, found)
