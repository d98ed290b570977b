"""Variants: the paper's aliases, the fpa-table preset, composed names and their explainers."""

from __future__ import annotations

import pytest
import torch

from attrbench.errors import AttrbenchError
from attrbench.methods import create_method
from attrbench.variants import (
    ALIASES,
    PARITY_OVERRIDES,
    parity_method_params,
    PRESETS,
    Variant,
    create_variant,
    parse_variant,
    resolve_variants,
)

FPA_COLUMNS = [
    "Random", "IG_sum", "IG_abs", "VG_abs", "VG'_sum", "VG'_abs", "SG_abs", "SG'_sum", "SG'_abs",
    "SQ-SG_sum",
]


def test_fpa_table_is_the_papers_ten_columns_in_order() -> None:
    variants = resolve_variants("fpa-table")
    assert [v.label for v in variants] == FPA_COLUMNS
    assert [v.name for v in variants] == [
        "random|sum", "integrated_gradients|sum", "integrated_gradients|abs_sum",
        "vanilla_gradient|abs_sum", "vanilla_gradient|input_sum", "vanilla_gradient|input_abs_sum",
        "smoothgrad|abs_sum", "smoothgrad|input_sum", "smoothgrad|input_abs_sum",
        "smoothgrad_sq|sum",
    ]
    # The paper's signed estimators (Sec. 4.3) are exactly IG_sum, VG'_sum and SG'_sum.
    assert [v.label for v in variants if v.signed] == ["IG_sum", "VG'_sum", "SG'_sum"]


def test_aliases_round_trip() -> None:
    for alias, name in ALIASES.items():
        v = parse_variant(alias)
        assert v.name == name and v.alias == alias and parse_variant(name) == v
    assert parse_variant("VG\u2032_sum").alias == "VG'_sum"  # typographic prime accepted


def test_composed_names_without_alias() -> None:
    v = parse_variant("grad_cam|positive_sum|minmax_p99")
    assert v == Variant("grad_cam", ("positive_sum", "minmax_p99"))
    assert v.alias is None and v.label == v.name and not v.signed


def test_resolve_dedups_and_splits_commas() -> None:
    got = resolve_variants(["IG_sum, integrated_gradients|sum", "fpa-signed", "vargrad|sum"])
    assert [v.label for v in got] == ["IG_sum", "Random", "VG'_sum", "SG'_sum", "vargrad|sum"]
    for preset in PRESETS:
        assert resolve_variants(preset)


def test_the_runner_computes_each_method_once_per_chunk(tiny_model, monkeypatch) -> None:
    """fpa-table's ten variants need five raw attributions; the runner makes each once."""
    import attrbench.fpa.runner as runner

    calls: list[str] = []
    real = runner.create_method

    def counting(name, model, **kw):
        calls.append(name)
        return real(name, model, **kw)

    monkeypatch.setattr(runner, "create_method", counting)
    x = torch.randn(2, 3, 8, 8)
    cfg = runner.EvalConfig(variants=("fpa-table",),
                            method_params={"integrated_gradients": {"steps": 2},
                                           "smoothgrad": {"n_samples": 2},
                                           "smoothgrad_sq": {"n_samples": 2}})
    entry = runner.ModelEntry(tiny_model, "tiny")
    variants = resolve_variants("fpa-table")
    out = list(runner._variant_maps(entry, variants, cfg, x, torch.zeros(2, dtype=torch.long)))
    assert [v.label for v, _ in out] == [v.label for v in variants]
    assert sorted(calls) == sorted(
        ["random", "integrated_gradients", "vanilla_gradient", "smoothgrad", "smoothgrad_sq"])


def test_parity_overrides_are_valid(tiny_model) -> None:
    for parity in PARITY_OVERRIDES:
        for method, params in parity_method_params(parity, (0.5,) * 3, (0.5,) * 3).items():
            create_method(method, tiny_model, **params)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("IG-sum", r"Unknown variant 'IG-sum'\. Did you mean 'IG_sum'"),
        ("fpa_table", r"Did you mean 'fpa-table'"),
        ("integrated_gradient|sum",
         r"Unknown method 'integrated_gradient'\. Did you mean 'integrated_gradients'"),
        ("smoothgrad", r"Variant 'smoothgrad' needs a post-processing: e\.g\. 'smoothgrad\|sum'"),
        ("smoothgrad|minmax_p99", r"must start with exactly one channel reduction"),
    ],
)
def test_bad_names(name: str, message: str) -> None:
    with pytest.raises(AttrbenchError, match=message):
        resolve_variants(name)


def test_empty_list() -> None:
    with pytest.raises(AttrbenchError, match=r"No variants given"):
        resolve_variants([" , "])


def test_variant_explainer_maps(tiny_model, images) -> None:
    explainer = create_variant("VG'_sum", tiny_model)
    maps = explainer(images)
    assert maps.shape == (3, 8, 8)
    raw = create_method("vanilla_gradient", tiny_model)(images)
    torch.testing.assert_close(maps, (images * raw).sum(1))
    assert explainer.describe() == {
        "variant": "vanilla_gradient|input_sum", "alias": "VG'_sum", "method": "vanilla_gradient"
    }
    sg = create_variant("SG_abs", tiny_model, n_samples=3, max_batch=4)
    assert sg.params["n_samples"] == 3 and sg(images).min() >= 0
