"""Bring your own method (issue 12 item 1): callables, Captum objects, Quantus-style functions,
precomputed maps, ``register_method``, one string = one name, and the attacks' differentiable
form carried by the method object."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from torch import nn
from torch.utils.data import TensorDataset

import attrbench
from attrbench.errors import AttrbenchError
from attrbench.fpa.runner import EvalConfig
from attrbench.methods import METHODS, create_method, register_method
from attrbench.variants import create_variant, resolve_variants

N = 6
STEPS = {"num_steps": 4, "tie_break": "reference", "progress": False}


@pytest.fixture(autouse=True)
def _restore_registry(monkeypatch):
    """User registrations of a test do not leak into the registry contract tests."""
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))


@pytest.fixture
def data() -> TensorDataset:
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(N, 3, 8, 8, generator=gen) * 2 - 1
    return TensorDataset(x, torch.arange(N) % 5)


def _a(curves) -> dict[str, float]:
    table = attrbench.fidelity_table(curves)
    return dict(zip(table["variant"], table["A"]))


def captum_saliency(model, x, target):
    """A user method: Captum's Saliency (|gradient|, per channel)."""
    return Saliency(model).attribute(x, target=target)


def vg_map(model, x, target):
    """A user method returning (B, H, W) maps: sum_c |dS/dx|, kept in the autograd graph."""
    logits = model(x)
    (g,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), x, create_graph=True)
    return g.abs().sum(1)


def quantus_explain(model, inputs, targets, **kwargs):
    """A Quantus-style explain_func: NumPy in, NumPy (B, 1, H, W) out."""
    assert isinstance(inputs, np.ndarray) and isinstance(targets, np.ndarray)
    assert kwargs == {"method": "Saliency"}
    x = torch.from_numpy(inputs).requires_grad_(True)
    t = torch.from_numpy(targets)
    (g,) = torch.autograd.grad(model(x).gather(1, t[:, None]).sum(), x)
    return g.abs().sum(1, keepdim=True).numpy()


def test_user_callable_with_captum_saliency_gives_the_a_of_vg_abs_sum(tiny_model, data):
    ref = attrbench.evaluate(tiny_model, data, ["vanilla_gradient|abs_sum"], **STEPS)
    own = attrbench.evaluate(tiny_model, data, [captum_saliency], **STEPS)
    assert set(own["variant"]) == {"captum_saliency|sum"}
    np.testing.assert_array_equal(own["logit"].to_numpy(), ref["logit"].to_numpy())
    assert _a(own)["captum_saliency|sum"] == _a(ref)["VG_abs"]


def test_captum_instance_and_class(tiny_model, data, images):
    ref = _a(attrbench.evaluate(tiny_model, data, ["vanilla_gradient|abs_sum"], **STEPS))
    own = _a(attrbench.evaluate(tiny_model, data, [Saliency(tiny_model)], **STEPS))
    assert own == {"captum_saliency|sum": ref["VG_abs"]}
    by_class = create_method(Saliency, tiny_model)(images)
    torch.testing.assert_close(by_class, create_method("vanilla_gradient", tiny_model)(images)
                               .abs(), rtol=0, atol=0)
    other = type(tiny_model)()
    with pytest.raises(AttrbenchError, match="bound to another model"):
        create_method(Saliency(other), tiny_model)(images)


def test_quantus_style_explain_func(tiny_model, data):
    register_method("q_saliency", quantus_explain, signed=False,
                    defaults={"method": "Saliency"})
    own = _a(attrbench.evaluate(tiny_model, data, ["q_saliency|sum"], **STEPS))
    ref = _a(attrbench.evaluate(tiny_model, data, ["VG_abs"], **STEPS))
    assert own["q_saliency|sum"] == ref["VG_abs"]
    assert not resolve_variants("q_saliency|sum")[0].signed


def test_precomputed_maps_equal_to_computed_give_the_same_a(tiny_model, data):
    x = data.tensors[0]
    maps = create_variant("vanilla_gradient|abs_sum", tiny_model)(x)  # (N, H, W)
    ref = _a(attrbench.evaluate(tiny_model, data, ["vanilla_gradient|abs_sum"], **STEPS))
    as_array = attrbench.evaluate(tiny_model, data, maps={"mine": maps.numpy()}, **STEPS)
    assert set(as_array["variant"]) == {"mine"}
    assert set(as_array["method"]) == {"precomputed:mine"}
    assert _a(as_array)["mine"] == ref["VG_abs"]
    by_id = {i: maps[i] for i in range(N)}
    both = _a(attrbench.evaluate(tiny_model, data, ["VG_abs"], maps={"mine": by_id}, **STEPS))
    assert both["mine"] == both["VG_abs"] == ref["VG_abs"]
    raw = create_method("vanilla_gradient", tiny_model)(x)  # (N, C, H, W), chain in the key
    chained = _a(attrbench.evaluate(tiny_model, data, maps={"raw|abs_sum": raw}, **STEPS))
    assert chained["raw"] == ref["VG_abs"]


def test_precomputed_maps_are_part_of_the_folder_identity(tiny_model, data, tmp_path):
    maps = torch.rand(N, 8, 8, generator=torch.Generator().manual_seed(1))
    attrbench.evaluate(tiny_model, data, maps={"m": maps}, out=tmp_path / "r", **STEPS)
    with pytest.raises(AttrbenchError):
        attrbench.evaluate(tiny_model, data, maps={"m": maps + 1}, out=tmp_path / "r", **STEPS)


@pytest.mark.parametrize(("maps", "message"), [
    ({"m": torch.zeros(N, 7, 8)}, r"has shape \(6, 7, 8\).*\(6, 8, 8\)"),
    ({"m": torch.zeros(N, 2, 8, 8)}, r"\(6, 3, 8, 8\)"),
    ({"m": torch.zeros(N - 1, 8, 8)}, "5 rows but 6 are needed for the 6 images"),
    ({"m": torch.zeros(N + 1, 8, 8)}, "the dataset has 6 images"),
    ({"m": {i: torch.zeros(8, 8) for i in range(N) if i != 4}}, r"no map for image ids \[4\]"),
    ({"m": torch.full((N, 8, 8), float("nan"))}, r"NaN or Inf for image ids \[0, 1"),
    ({"m|nope": torch.zeros(N, 8, 8)}, "nope"),
    ([torch.zeros(N, 8, 8)], "must be a dict"),
])
def test_bad_precomputed_maps(tiny_model, data, maps, message):
    with pytest.raises(AttrbenchError, match=message):
        attrbench.evaluate(tiny_model, data, maps=maps, **STEPS)


def wrong_shape(model, x, target):
    return torch.zeros(x.shape[0], 4, 4)


def gives_nan(model, x, target):
    out = torch.zeros(x.shape[0], 8, 8)
    out[1] = float("nan")
    return out


def gives_list(model, x, target):
    return [0.0]


@pytest.mark.parametrize(("fn", "message"), [
    (wrong_shape, r"'wrong_shape' returned shape \(3, 4, 4\) for images \(3, 3, 8, 8\)"),
    (gives_nan, r"'gives_nan' returned NaN or Inf for images \[1\]"),
    (gives_list, "returned a list"),
])
def test_bad_user_method_output(tiny_model, images, fn, message):
    with pytest.raises(AttrbenchError, match=message):
        create_method(fn, tiny_model)(images)


def test_bad_user_method_objects(tiny_model, images):
    with pytest.raises(AttrbenchError, match="lambda has no name"):
        create_method(lambda m, x, t: x, tiny_model)
    with pytest.raises(AttrbenchError, match="built-in method"):
        register_method("vanilla_gradient", captum_saliency)
    with pytest.raises(AttrbenchError, match="no '|'"):
        register_method("a|b", captum_saliency)
    with pytest.raises(AttrbenchError, match="only a plain callable"):
        register_method("sal", Saliency, differentiable=True)
    with pytest.raises(AttrbenchError, match="Cannot use a Tensor"):
        create_method(images, tiny_model)


def test_register_replaces_user_entry_and_names_work_everywhere(tiny_model, images):
    register_method("mine", captum_saliency)
    first = METHODS.get("mine")
    register_method("mine", vg_map, signed=False)  # a newer definition under the same name
    assert METHODS.get("mine") is not first and not METHODS.get("mine").signed
    maps = create_variant("mine|sum", tiny_model)(images)
    ref = create_variant("vanilla_gradient|abs_sum", tiny_model)(images)
    torch.testing.assert_close(maps, ref, rtol=0, atol=0)
    assert create_method(vg_map, tiny_model).name == "mine"  # the same object keeps its entry


def test_a_bare_string_is_one_name(tiny_model, data):
    assert [v.label for v in resolve_variants("IG_sum")] == ["IG_sum"]
    assert EvalConfig(variants="IG_sum").variants == ("IG_sum",)
    curves = attrbench.evaluate(tiny_model, data, "IG_sum", num_images=2,
                                method_params={"integrated_gradients": {"steps": 4}}, **STEPS)
    assert set(curves["variant"]) == {"IG_sum"}


def test_user_methods_in_roar_and_bam_names(tiny_model):
    from attrbench.roar.scores import check_variant, split_scores

    assert check_variant(captum_saliency, "spatial") == "captum_saliency|sum"
    assert check_variant(captum_saliency, "element") == "captum_saliency"
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    own = split_scores(tiny_model, x, "captum_saliency|sum", "spatial", batch_size=3)
    ref = split_scores(tiny_model, x, "vanilla_gradient|abs_sum", "spatial", batch_size=3)
    torch.testing.assert_close(own, ref, rtol=0, atol=0)


def _attack(method, model, x):
    from attrbench.robustness import InputSpace, attack_config, attribution_attack

    space = InputSpace((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    config = attack_config("topk", iterations=2, step=2 / 255, k=8, k_attack=8)
    return attribution_attack(create_method(method, model), x, config, space,
                              generator=torch.Generator().manual_seed(0))


def test_attacks_use_the_methods_differentiable_form(smooth_model, images):
    x = images.clamp(-1, 1)
    register_method("vg_abs_map", vg_map, signed=False, differentiable=True)
    own = _attack("vg_abs_map", smooth_model, x)
    assert bool(own.changed.any())
    ref = _attack("vanilla_gradient", smooth_model, x)  # map sum_c |e| is the same
    torch.testing.assert_close(own.x_adv, ref.x_adv, rtol=0, atol=0)
    torch.testing.assert_close(own.criterion, ref.criterion, rtol=0, atol=0)
    register_method("not_diff", captum_saliency)
    with pytest.raises(AttrbenchError, match="no differentiable form"):
        _attack("not_diff", smooth_model, x)
    register_method("graph_lost", captum_saliency, differentiable=True)
    with pytest.raises(AttrbenchError, match="not in the autograd graph"):
        _attack("graph_lost", smooth_model, x)


def test_builtin_vg_equals_captum_saliency_exactly(tiny_model, images):
    """VG's own gradient replaced Captum's Saliency adapter: the numbers are unchanged."""
    ours = create_method("vanilla_gradient", tiny_model, max_batch=2)(images)
    target = tiny_model.eval()(images).argmax(1)
    theirs = torch.cat([Saliency(tiny_model).attribute(images[i:i + 2].clone().requires_grad_(),
                                                       target=target[i:i + 2], abs=False)
                        for i in range(0, len(images), 2)])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_robustness_config_takes_method_objects_and_one_string():
    from attrbench.robustness import RobustnessConfig

    assert RobustnessConfig(methods="integrated_gradients").methods == ("integrated_gradients",)
    cfg = RobustnessConfig(methods=("vanilla_gradient", vg_map))
    assert cfg.methods == ("vanilla_gradient", "vg_map")
    assert list(cfg.to_dict()["methods"]) == ["vanilla_gradient", "vg_map"]


def test_readme_example_runs(capsys):  # ~3 s: in `make test`
    """The README's "Bring your own method" block runs as written, and saliency|sum == VG_abs."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("<!-- readme-byo -->\n```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    a = _a(namespace["curves"])
    assert set(a) == {"VG_abs", "saliency|sum", "signed_grad|abs_sum", "random_maps"}
    assert a["saliency|sum"] == a["VG_abs"] == a["signed_grad|abs_sum"]
    assert "random_maps" in capsys.readouterr().out


def test_bam_takes_a_registered_user_method_by_name():
    from attrbench.bam.evaluate import resolve_method

    register_method("mine", captum_saliency)
    assert resolve_method("mine", 0.0) == ("mine", {})


@pytest.mark.parametrize("name", ["IG_sum", "integrated_gradients|sum"])
def test_a_bare_string_is_one_variant_in_roar_and_iteroar(name):
    from attrbench.roar import RoarConfig
    from attrbench.roar.iterative import IteRoarConfig

    assert RoarConfig(variants=name).variants == ("integrated_gradients|sum",)
    assert IteRoarConfig(variants=name).variants == ("integrated_gradients|sum",)
    assert RoarConfig(variants="integrated_gradients", unit="element").variants == (
        "integrated_gradients",)
    assert RoarConfig(variants=captum_saliency).variants == ("captum_saliency|sum",)


def test_a_bare_string_is_one_method_in_bam_and_robustness():
    from attrbench.bam.evaluate import BamRunConfig
    from attrbench.robustness import RobustnessConfig

    assert BamRunConfig(methods="IG-SG").methods == ("IG-SG",)
    assert BamRunConfig(methods="integrated_gradients").methods == ("integrated_gradients",)
    assert BamRunConfig(methods=captum_saliency).methods == ("captum_saliency",)
    assert BamRunConfig(methods=["GC", Saliency]).methods == ("GC", "captum_saliency")
    assert RobustnessConfig(methods=vg_map).methods == ("vg_map",)
    with pytest.raises(AttrbenchError, match="Unknown BAM method 'IG_sum'"):
        BamRunConfig(methods="IG_sum")  # one unknown name, not 'I', 'G', ...
    with pytest.raises(AttrbenchError, match="distinct"):
        BamRunConfig(methods=("VG", "VG"))


def test_bam_resolves_method_objects_through_the_one_coercion(tiny_model, images):
    from attrbench.bam.attributions import bam_explainer
    from attrbench.bam.evaluate import resolve_method

    assert resolve_method(captum_saliency, 0.0) == ("captum_saliency", {})
    assert METHODS.get("captum_saliency").source is captum_saliency
    ref = bam_explainer("vanilla_gradient", tiny_model)(images).abs()
    own = bam_explainer("captum_saliency", tiny_model)(images)
    torch.testing.assert_close(own, ref, rtol=0, atol=0)


def test_explain_takes_names_variants_and_method_objects(tiny_model, images):
    ref = attrbench.explain(tiny_model, images, "vanilla_gradient|abs_sum")
    assert ref.named and ref.title == "VG_abs" and ref.maps.shape == (len(images), 8, 8)
    own = attrbench.explain(tiny_model, images, captum_saliency)
    assert not own.named and own.title == "captum_saliency (channel sum)"
    torch.testing.assert_close(own.maps, ref.maps, rtol=0, atol=0)
    torch.testing.assert_close(own.targets, ref.predictions, rtol=0, atol=0)
    by_class = attrbench.explain(tiny_model, images, Saliency)
    torch.testing.assert_close(by_class.maps, ref.maps, rtol=0, atol=0)
    one = attrbench.explain(tiny_model, images, "IG_sum", steps=4)  # one name, not 'I', 'G', ...
    assert one.variant.name == "integrated_gradients|sum" and one.config["steps"] == 4
    bare = attrbench.explain(tiny_model, images, "integrated_gradients", steps=4)
    assert not bare.named and bare.title == "integrated_gradients (channel sum)"
    torch.testing.assert_close(bare.maps, one.maps, rtol=0, atol=0)
    labels = torch.arange(len(images)) % 3
    by_label = attrbench.explain(tiny_model, images, "VG_abs", labels=labels, target="label")
    assert torch.equal(by_label.targets, labels)
    with pytest.raises(AttrbenchError, match="needs labels"):
        attrbench.explain(tiny_model, images, "VG_abs", target="label")
    with pytest.raises(AttrbenchError, match="Cannot use a Tensor"):
        attrbench.explain(tiny_model, images, images)
