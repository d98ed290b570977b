"""A tiny synthetic results folder with known curves, so every reported number is known by hand.

Curves are linear in the step: for image i with step-0 logit ``l_i``,
``MIF_i(k) = l_i (1 - d_i k/S)`` and ``LIF_i(k) = l_i (1 + e_i k/S)``. After per-image
normalisation the trapezoid areas over ``linspace(0, 100, S+1)`` are exactly
``AUC_MIF = 100 - 50 d_i`` and ``AUC_LIF = 100 + 50 e_i``, so ``A = 50 (mean d + mean e)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attrbench.results.schema import CURVE_SCHEMA, CURVES
from attrbench.results.store import ResultStore

S = 20
N = 6
LOGIT0 = np.arange(1.0, N + 1.0)  # all positive

# (augmentation, variant) -> (d, e) per image; see the module docstring.
SPEC: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
for _aug in ("none", "fpa", "rectangle"):
    SPEC[(_aug, "Random")] = (np.array([0.1, -0.1] * 3), np.array([-0.1, 0.1] * 3))
SPEC[("none", "IG_sum")] = (np.full(N, 0.5), np.zeros(N))                  # A = 25
SPEC[("fpa", "IG_sum")] = (np.ones(N), np.zeros(N))                        # A = 50 exactly, CI 0
SPEC[("rectangle", "IG_sum")] = (np.linspace(0.2, 0.7, N), np.zeros(N))
SPEC[("none", "VG_abs")] = (np.linspace(0.2, 0.6, N), np.linspace(-0.1, 0.2, N))
SPEC[("fpa", "VG_abs")] = (np.linspace(0.3, 0.9, N), np.linspace(0.0, 0.3, N))
SPEC[("rectangle", "VG_abs")] = (np.linspace(0.2, 0.6, N), np.linspace(0.1, 0.0, N))
EXCLUDED = ("rectangle", "VG_abs")  # image 0 has a negative step-0 logit there

METHODS = {"Random": ("random", "sum"), "IG_sum": ("integrated_gradients", "sum"),
           "VG_abs": ("vanilla_gradient", "abs_sum")}
ACCURACY = {"none": 0.61, "fpa": 0.58, "rectangle": 0.6}


def curve_rows(d: np.ndarray, e: np.ndarray, logit0: np.ndarray = LOGIT0, *, model: str = "tiny",
               augmentation: str = "fpa", variant: str = "IG_sum", steps: int = S) -> pd.DataFrame:
    """Tidy rows (CURVE_SCHEMA columns) of the linear curves described in the module docstring."""
    k = np.arange(steps + 1) / steps
    mif = logit0[:, None] * (1.0 - d[:, None] * k)
    lif = logit0[:, None] * (1.0 + e[:, None] * k)
    method, post = METHODS.get(variant, ("custom", "sum"))
    frames = []
    for order, logits, score in (("MIF", mif, 1.0 - k), ("LIF", lif, -1.0 + 2.0 * k)):
        n = len(logit0)
        frames.append(pd.DataFrame({
            "run": "synthetic", "model": model, "augmentation": augmentation, "method": method,
            "postprocess": post, "variant": variant,
            "image_id": np.repeat(np.arange(n), steps + 1),
            "label": np.repeat(np.arange(n) % 3, steps + 1),
            "target": np.repeat(np.arange(n) % 3, steps + 1), "order": order,
            "step": np.tile(np.arange(steps + 1), n).astype(np.int32),
            "fraction": np.tile(k, n), "logit": logits.reshape(-1),
            "score": np.tile(np.where(np.arange(steps + 1) == 0, np.nan, score), n),
        }))
    return pd.concat(frames, ignore_index=True)[CURVE_SCHEMA.names]


def synthetic_curves() -> pd.DataFrame:
    """All groups of :data:`SPEC` as one frame."""
    frames = []
    for (aug, variant), (d, e) in SPEC.items():
        logit0 = LOGIT0.copy()
        if (aug, variant) == EXCLUDED:
            logit0[0] = -1.0
        frames.append(curve_rows(d, e, logit0, augmentation=aug, variant=variant))
    return pd.concat(frames, ignore_index=True)


def write_results_folder(root: Path, *, samples: bool = True) -> Path:
    """Write the synthetic folder (config.json, shards, accuracy.json, samples/) to ``root``."""
    store = ResultStore(root, {"dataset": "synthetic", "model": "tiny", "steps": S}, seed=0,
                        benchmark="fpa")
    curves = synthetic_curves()
    for (aug, variant), frame in curves.groupby(["augmentation", "variant"]):
        store.table(CURVES).write(f"{aug}-{variant}".replace("'", "p"), frame)
    store.write_json("accuracy.json", {a: {"test_accuracy": v, "model": "tiny"}
                                       for a, v in ACCURACY.items()})
    if samples:
        rng = np.random.default_rng(0)
        (root / "samples").mkdir(exist_ok=True)
        for aug in ACCURACY:
            np.savez(root / "samples" / f"{aug}.npz",
                     images=rng.random((3, 3, 8, 8), dtype=np.float32),
                     image_ids=np.arange(3), labels=np.array([0, 1, 2]),
                     **{"map__IG_sum": rng.standard_normal((3, 8, 8)).astype(np.float32),
                        "map__VG_abs": np.abs(rng.standard_normal((3, 8, 8))).astype(np.float32)})
    return root


@pytest.fixture
def results_root(tmp_path: Path) -> Path:
    """A complete synthetic results folder."""
    return write_results_folder(tmp_path / "results")


@pytest.fixture
def make_rows() -> Callable[..., pd.DataFrame]:
    """The :func:`curve_rows` builder."""
    return curve_rows


@pytest.fixture
def curves() -> pd.DataFrame:
    """All synthetic curve rows (no folder)."""
    return synthetic_curves()


@pytest.fixture
def spec() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(augmentation, variant) -> (d, e) of the synthetic curves."""
    return SPEC


@pytest.fixture
def excluded_group() -> tuple[str, str]:
    """The (augmentation, variant) whose image 0 has a step-0 logit <= 0."""
    return EXCLUDED


@pytest.fixture
def accuracy() -> dict[str, float]:
    """The test accuracies written to accuracy.json."""
    return ACCURACY


@pytest.fixture
def folder_writer() -> Callable[..., Path]:
    """The :func:`write_results_folder` builder (e.g. ``samples=False``)."""
    return write_results_folder
