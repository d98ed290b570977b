"""Tiny settings shared by the ROAR / IteROAR loop tests (CIFAR-mini subset, 1 epoch)."""

from __future__ import annotations

from typing import Any

import pytest

TINY: dict[str, Any] = {"epochs": 1, "train_limit": 48, "test_limit": 24, "batch_size": 24,
                        "device": "cpu", "batch_maps": 64}


@pytest.fixture
def tiny() -> dict[str, Any]:
    """Keyword arguments of a retrain config that trains in well under a second."""
    return dict(TINY)


@pytest.fixture(scope="module")
def tiny_module() -> dict[str, Any]:
    """:func:`tiny` for module-scoped fixtures (one run shared by a module's tests)."""
    return dict(TINY)
