"""TCAV scores for BAM's MCS (App. F) through Captum's concept module.

The CF concept (e.g. "dog") is learned from X_{o,s} images that contain the CF object against
X_{empty,s} images (scene only), once per random negative set; random CAVs (two disjoint random
scene-only sets) give the null distribution. Per layer, a two-sided t-test (``scipy.stats``)
compares the concept's TCAV sign-count scores with the random ones; layers with p > 0.01 are
dropped and the TCAV score is the mean over the remaining layers (NaN if none pass). TCAV-MCS =
TCAV(f_o) - TCAV(f_s) (Sec. 5.1).

Captum's default CAV classifier needs scikit-learn, which attrbench does not depend on, so the
CAVs here are fitted by :class:`TorchLinearClassifier` (an L2-regularised logistic regression in
torch, LBFGS), with a seeded train/test split.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from captum.concept import TCAV, Concept
from captum.concept._utils.classifier import Classifier
from captum.concept._utils.common import concepts_to_str
from scipy import stats
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from attrbench.errors import AttrbenchError


class TorchLinearClassifier(Classifier):
    """Binary logistic regression on flattened activations, for Captum's CAVs.

    Args:
        alpha: L2 weight (Captum's default SGD classifier uses 0.01).
        test_fraction: held-out fraction for the reported accuracy.
        seed: seeds the split.
    """

    def __init__(self, alpha: float = 0.01, test_fraction: float = 0.33, seed: int = 0) -> None:
        self.alpha, self.test_fraction, self.seed = alpha, test_fraction, seed
        self._w: torch.Tensor | None = None
        self._classes: list[int] = []

    def train_and_eval(self, dataloader: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        xs, ys = zip(*[(x, y) for x, y in dataloader])
        x, y = torch.cat(xs).float().flatten(1), torch.cat(ys)
        self._classes = sorted(int(c) for c in y.unique())
        if len(self._classes) != 2:
            raise AttrbenchError(f"A CAV needs exactly two concepts, got {self._classes}.")
        target = (y == self._classes[1]).float()
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(x), generator=gen)
        n_test = max(1, int(len(x) * self.test_fraction))
        test, train = order[:n_test], order[n_test:]
        mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
        z = (x - mean) / std
        w = torch.zeros(x.shape[1] + 1, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = z[train] @ w[:-1] + w[-1]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, target[train])
            loss = loss + self.alpha * w[:-1].pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            acc = (((z[test] @ w[:-1] + w[-1]) > 0).float() == target[test]).float().mean()
            self._w = (w[:-1] / std).detach()  # direction in activation space
        return {"accs": acc}

    def weights(self) -> torch.Tensor:
        """(2, F): one row per class, as Captum expects for two concepts."""
        assert self._w is not None, "train_and_eval first"
        return torch.stack([-self._w, self._w])

    def classes(self) -> list[int]:
        """The two concept ids, in the order of :meth:`weights`."""
        return self._classes


def tcav_layers(model: nn.Module) -> list[str]:
    """TCAV layers of a registered model: every block layer plus the logit layer (BAM App. F).

    BAM tests ``block_layer1`` ... ``block_layer4`` and the logits of its ResNet-50 (NOTES §2.5).
    Here the blocks are the children of the CAM layer's parent that have the CAM layer's type, up
    to and including it (``layer1`` ... ``layer4`` for ResNets, ``features.block1`` ...
    ``block5`` for ``small_cnn``), and the logit layer is the final linear layer (its output is
    the logits).

    Args:
        model: a model built by :func:`attrbench.models.create_model` (or loaded from one of its
            checkpoints), possibly inside input-normalisation wrappers.

    Returns:
        Dotted module names, valid on ``model`` itself, shallowest first.

    Raises:
        AttrbenchError: a model that is not registered or has no CAM or final linear layer.
    """
    from attrbench.models import model_spec_of
    from attrbench.models.normalization import unwrap_model

    spec = model_spec_of(model)
    if spec is None or not spec.cam_layer or not spec.fc_layer:
        raise AttrbenchError(f"TCAV needs a registered model with a CAM layer and a final linear "
                             f"layer, got {type(model).__name__}; pass --no-tcav for other "
                             "models.")
    bare = unwrap_model(model)
    prefix = "" if bare is model else next(
        n for n, m in model.named_modules() if m is bare) + "."
    parent_name, _, leaf = spec.cam_layer.rpartition(".")
    parent = bare.get_submodule(parent_name) if parent_name else bare
    cam = parent.get_submodule(leaf)
    blocks: list[str] = []
    for name, child in parent.named_children():
        if type(child) is type(cam):
            blocks.append(f"{parent_name}.{name}" if parent_name else name)
        if child is cam:
            break
    return [prefix + name for name in (*blocks, spec.fc_layer)]


def _concept(cid: int, name: str, images: torch.Tensor) -> Concept:
    return Concept(cid, name, DataLoader(TensorDataset(images), batch_size=64,
                                         collate_fn=lambda b: torch.stack([t[0] for t in b])))


def tcav_score(model: nn.Module, layers: Sequence[str], inputs: torch.Tensor,
               target: torch.Tensor, concept_images: torch.Tensor, random_images: torch.Tensor,
               *, n_random: int = 5, set_size: int | None = None, p_value: float = 0.01,
               seed: int = 0) -> dict[str, Any]:
    """TCAV score of a concept for ``model`` on ``inputs`` (BAM App. F).

    Args:
        model: classifier (eval mode).
        layers: module names to test (e.g. ``["features.block3", "features.block5", "fc"]``).
        inputs: (N, C, H, W) images explained.
        target: (N,) classes whose logit is differentiated.
        concept_images: (M, C, H, W) images with the concept (X_{o,s} with the CF object).
        random_images: (R, C, H, W) images without it (X_{empty,s}); split into random sets.
        n_random: number of random sets (at least 2; the t-test needs several).
        set_size: images per random set [default: as many concept images, capped by the pool].
        p_value: layers with a larger two-sided t-test p-value are dropped (paper 0.01).
        seed: seeds the random sets and the classifier splits.

    Returns:
        ``{"score": mean over passing layers (NaN if none), "layers": {layer: {"concept": mean
        score, "random": mean random score, "p": p-value, "passed": bool}}}``.
    """
    if n_random < 2:
        raise AttrbenchError(f"TCAV needs n_random >= 2 random sets for its t-test, got "
                             f"{n_random}.")
    size = set_size or len(concept_images)
    gen = torch.Generator().manual_seed(seed)
    if len(random_images) < 2 * size:
        size = len(random_images) // 2
    if size < 2:
        raise AttrbenchError("TCAV needs at least 4 scene-only images for its random sets.")
    def draw(cid: int) -> Concept:
        pick = torch.randperm(len(random_images), generator=gen)[:size]
        return _concept(cid, f"random{cid}", random_images[pick])

    concept = _concept(0, "concept", concept_images)
    # concept vs n independent random sets; null: n pairs of independent random sets
    ours_sets = [[concept, draw(1 + i)] for i in range(n_random)]
    null_sets = [[draw(1 + n_random + 2 * i), draw(2 + n_random + 2 * i)] for i in range(n_random)]
    with tempfile.TemporaryDirectory() as tmp:  # Captum caches CAVs on disk; never reuse them
        tcav = TCAV(model, list(layers), classifier=TorchLinearClassifier(seed=seed),
                    save_path=tmp + "/")
        scores = tcav.interpret(inputs, ours_sets + null_sets, target=target)
    ours_keys = [concepts_to_str(c) for c in ours_sets]
    null_keys = [concepts_to_str(c) for c in null_sets]
    per_layer: dict[str, dict[str, Any]] = {}
    for layer in layers:
        ours = np.array([float(scores[k][layer]["sign_count"][0]) for k in ours_keys])
        null = np.array([float(scores[k][layer]["sign_count"][0]) for k in null_keys])
        if np.std(ours) + np.std(null) > 0:
            with warnings.catch_warnings():  # scipy warns when one sample is constant
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(stats.ttest_ind(ours, null).pvalue)
        else:
            p = 0.0 if ours.mean() != null.mean() else 1.0
        per_layer[layer] = {"concept": float(ours.mean()), "random": float(null.mean()), "p": p,
                            "passed": bool(p <= p_value)}
    passed = [v["concept"] for v in per_layer.values() if v["passed"]]
    return {"score": float(np.mean(passed)) if passed else float("nan"), "layers": per_layer}
