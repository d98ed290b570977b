"""BamRunConfig validates every field on construction, naming what to do (issue 12 item 2)."""

from __future__ import annotations

import pytest

from attrbench.bam.evaluate import BamRunConfig
from attrbench.errors import AttrbenchError


def test_defaults_are_valid() -> None:
    cfg = BamRunConfig()
    assert cfg.split == "test" and cfg.n_trials == 10 and cfg.num_images is None


@pytest.mark.parametrize("changes, message", [
    ({"split": "val"}, r"split must be 'train' or 'test'"),
    ({"num_images": 0}, r"num_images must be an integer >= 1, got 0 \(None uses all images\)"),
    ({"n_trials": 0}, r"n_trials must be an integer >= 1, got 0\."),
    ({"trial_size": -3}, r"trial_size must be an integer >= 1"),
    ({"delta_steps": 0}, r"delta_steps must be an integer >= 1"),
    ({"max_batch": 0}, r"max_batch must be an integer >= 1"),
    ({"n_trials": 2.5}, r"n_trials must be an integer >= 1, got 2\.5"),
    ({"n_trials": True}, r"n_trials must be an integer >= 1"),
    ({"tcav_random": 0}, r"tcav_random must be an integer >= 1"),
    ({"tcav_random": 1}, r"tcav_random must be >= 2 for TCAV's t-test.*--no-tcav"),
    ({"iir_threshold": 0.0}, r"iir_threshold must lie in \(0, 1\)"),
    ({"iir_threshold": 1.5}, r"iir_threshold must lie in \(0, 1\)"),
    ({"delta_tolerance": 0.0}, r"delta_tolerance must lie in \(0, 1\)"),
    ({"delta_tolerance": 1.0}, r"delta_tolerance must lie in \(0, 1\)"),
    ({"delta_step_size": 0.0}, r"delta_step_size must be > 0"),
    ({"eta1": -0.01}, r"eta1 must be > 0"),
    ({"eta2": float("nan")}, r"eta2 must be > 0"),
    ({"methods": ()}, r"Give at least one BAM method"),
])
def test_bad_values_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        BamRunConfig(**changes)


def test_tcav_off_allows_one_random_set() -> None:
    assert BamRunConfig(tcav=False, tcav_random=1).tcav_random == 1
