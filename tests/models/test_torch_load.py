"""Users' .pt/.pth files: weights only, unsafe pickles refused, Lightning ``model.`` prefix stripped."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from attrbench.errors import AttrbenchError
from attrbench.models import (
    apply_state_dict,
    create_model,
    load_state_dict_file,
    load_weights_file,
    safe_torch_load,
    strip_state_dict_prefix,
)


class _Exploit:
    """Pickles to ``os.system(command)``: what a malicious checkpoint would contain."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


_REFUSED = r"^Refusing to load .*evil.pt': its pickle calls (posix|os|nt)\.system, which a weights-only load never runs"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize(
    ("writer", "match"),
    [
        ("torch.save", _REFUSED),
        (2, _REFUSED),
        # Protocol 5 framing is itself outside what the weights-only unpickler reads: refused earlier.
        (5, r"^Cannot read .*evil.pt' as a plain weights file \(Unsupported operand"),
    ],
)
def test_unsafe_pickle_is_refused_and_never_runs(tmp_path: Path, writer: str | int, match: str) -> None:
    marker = tmp_path / "pwned"
    payload: dict[str, object] = {"evil": _Exploit(f"touch {marker}")}
    path = tmp_path / "evil.pt"
    if writer == "torch.save":
        torch.save({"conv1.weight": torch.zeros(1), **payload}, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(writer)))
    assert not marker.exists()
    with pytest.raises(AttrbenchError, match=match) as info:
        load_state_dict_file(path)
    assert "\n" not in str(info.value), "one-line message"
    assert not marker.exists(), "the pickle's os.system call must not have run"
    # Control: the exploit really would have run under an unrestricted unpickler.
    if writer == "torch.save":
        return
    pickle.loads(path.read_bytes())
    assert marker.exists()


def _fpa_style_checkpoint(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """Like the FPA authors' weights/cifar/*.pt: torch.save(lightning_module.state_dict())."""
    torch.manual_seed(0)
    source = create_model("cifar_resnet18")
    sd = OrderedDict((f"model.{k}", v) for k, v in source.state_dict().items())
    path = tmp_path / "rand.pt"
    torch.save(sd, path)
    return path, source


def test_lightning_prefix_auto_detected(tmp_path: Path) -> None:
    path, source = _fpa_style_checkpoint(tmp_path)
    sd = load_state_dict_file(path)
    assert "conv1.weight" in sd and not any(k.startswith("model.") for k in sd)
    target = create_model("cifar_resnet18")
    apply_state_dict(target, sd, source=str(path))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))


def test_load_weights_file_into_registry_model(tmp_path: Path) -> None:
    path, source = _fpa_style_checkpoint(tmp_path)
    model = load_weights_file(create_model("cifar_resnet18"), path)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), source.eval()(x))
    with pytest.raises(AttrbenchError, match=r"Weights in .*rand.pt' do not fit cifar_resnet20"):
        load_weights_file(create_model("cifar_resnet20"), path)


def test_lightning_prefix_explicit_and_kept(tmp_path: Path) -> None:
    path, _ = _fpa_style_checkpoint(tmp_path)
    assert "conv1.weight" in load_state_dict_file(path, strip_prefix="model.")
    kept = load_state_dict_file(path, strip_prefix=None)
    assert "model.conv1.weight" in kept
    with pytest.raises(AttrbenchError, match=r"do not fit cifar_resnet18: .*missing.*unexpected key\(s\) e.g. "
                                              r"'model.conv1.weight'.*strip a key prefix"):
        apply_state_dict(create_model("cifar_resnet18"), kept)
    with pytest.raises(AttrbenchError, match=r"Cannot strip prefix 'module.': \d+ key\(s\) lack it"):
        load_state_dict_file(path, strip_prefix="module.")


def test_strip_prefix_auto_rules() -> None:
    t = torch.zeros(1)
    assert set(strip_state_dict_prefix({"module.model.a": t, "module.model.b": t})) == {"a", "b"}
    mixed = {"model.a": t, "b": t}
    assert strip_state_dict_prefix(mixed) == mixed, "only stripped when every key has the prefix"
    assert strip_state_dict_prefix({"model.a": t}, "") == {"model.a": t}


def test_nested_lightning_ckpt_and_safetensors(tmp_path: Path) -> None:
    model = create_model("small_cnn")
    sd = model.state_dict()
    ckpt = tmp_path / "last.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"model.{k}": v for k, v in sd.items()}}, ckpt)
    assert load_state_dict_file(ckpt).keys() == sd.keys()
    st = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st))
    got = load_state_dict_file(st)
    assert all(torch.equal(got[k], sd[k]) for k in sd)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(AttrbenchError, match=r"Weights file .*missing.pt' does not exist"):
        load_state_dict_file(tmp_path / "missing.pt")
    with pytest.raises(AttrbenchError, match=r"Weights file .*missing.safetensors' does not exist"):
        load_state_dict_file(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(AttrbenchError, match=r"Cannot read .*junk.pth' as a torch.save file \(.*\); give a "):
        load_state_dict_file(junk)
    not_sd = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_sd)
    with pytest.raises(AttrbenchError, match=r"does not hold a state dict \(name -> tensor\)"):
        load_state_dict_file(not_sd)
    mixed = tmp_path / "mixed.pt"
    torch.save({"a": torch.zeros(1), "lr": 0.1}, mixed)
    with pytest.raises(AttrbenchError, match=r"entries \['lr'\] are not name -> tensor"):
        load_state_dict_file(mixed)
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    with pytest.raises(AttrbenchError, match=r"Cannot read .*bad.safetensors' as safetensors"):
        load_state_dict_file(bad_st)


def test_safe_torch_load_plain_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.pt"
    torch.save({"x": torch.arange(3), "n": 2, "names": ["a"]}, path)
    obj = safe_torch_load(path)
    assert torch.equal(obj["x"], torch.arange(3)) and obj["n"] == 2 and obj["names"] == ["a"]
