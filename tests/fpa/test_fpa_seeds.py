"""reproduce fpa --seeds K: one folder per training seed, a summary across seeds, resumable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from attrbench.errors import AttrbenchError
from attrbench.fpa.reproduction import FPAReproductionConfig
from attrbench.fpa.seeds import reproduce_fpa_seeds, summarise_seeds

TINY = dict(epochs=1, train_limit=32, num_images=4, variants=("Random", "IG_sum", "VG_abs"),
            augmentations=("none", "fpa"), method_params={"integrated_gradients": {"steps": 4}},
            device="cpu", num_samples=2)


@pytest.mark.extended
def test_two_seeds_give_two_folders_and_a_summary(tmp_path: Path) -> None:
    paths = reproduce_fpa_seeds(FPAReproductionConfig(**TINY), tmp_path, 2, progress=False)
    assert (tmp_path / "seed-0" / "fidelity.md").is_file()
    assert (tmp_path / "seed-1" / "fidelity.md").is_file()
    table = pd.read_csv(paths["seeds_csv"])
    assert set(table["augmentation"]) == {"none", "fpa"} and set(table["seeds"]) == {2}
    # the summary's A is the mean of the two seeds' A (fidelity_long.csv of each seed)
    per_seed = [pd.read_csv(tmp_path / f"seed-{s}" / "fidelity_long.csv") for s in (0, 1)]
    both = per_seed[0].merge(per_seed[1], on=["augmentation", "variant"], suffixes=("0", "1"))
    merged = table.merge(both, on=["augmentation", "variant"])
    assert ((merged["A0"] + merged["A1"]) / 2 - merged["A"]).abs().max() < 1e-6
    ranking = pd.read_csv(paths["seed_ranking_csv"])
    assert set(ranking["augmentation"]) == {"none", "fpa"}
    assert "Kendall" in paths["seeds_md"].read_text()
    # a third seed that never ran is "not finished", the summary still comes out
    summarise_seeds(tmp_path, [0, 1, 2])
    assert "not finished: 2" in (tmp_path / "seeds.md").read_text()


def test_bad_seed_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match="--seeds must be >= 2"):
        reproduce_fpa_seeds(FPAReproductionConfig(**TINY), tmp_path, 1)
    with pytest.raises(AttrbenchError, match="not enough data: 0 finished"):
        summarise_seeds(tmp_path, [0, 1])
