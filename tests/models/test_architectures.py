"""Architecture facts from the papers: He et al. 2016 CIFAR ResNets, the FPA CIFAR ResNet-18, small_cnn."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attrbench.errors import AttrbenchError
from attrbench.models import count_parameters, create_model
from attrbench.models.cifar_resnet import CifarResNet, ZeroPadShortcut


@pytest.mark.parametrize(("depth", "millions"), [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85)])
def test_he_et_al_parameter_counts(depth: int, millions: float) -> None:
    """He et al. 2016, Table 6: 0.27M / 0.46M / 0.66M / 0.85M parameters for 10 classes."""
    assert round(count_parameters(f"cifar_resnet{depth}") / 1e6, 2) == millions


@pytest.mark.parametrize("depth", [20, 32, 44, 56])
def test_he_et_al_depth_and_stage_layout(depth: int) -> None:
    """6n+2 weighted layers; 16/32/64 filters on 32/16/8-pixel maps; no parameters in shortcuts."""
    model = create_model(f"cifar_resnet{depth}").eval()
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == depth
    n = (depth - 2) // 6
    shapes = {}
    hooks = [getattr(model, f"layer{i}").register_forward_hook(
        lambda _m, _i, o, i=i: shapes.__setitem__(i, tuple(o.shape[1:]))) for i in (1, 2, 3)]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert shapes == {1: (16, 32, 32), 2: (32, 16, 16), 3: (64, 8, 8)}
    assert all(len(getattr(model, f"layer{i}")) == n for i in (1, 2, 3))
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(shortcuts) == 2 and all(not list(s.parameters()) for s in shortcuts)


def test_option_a_shortcut_subsamples_and_zero_pads() -> None:
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    out = ZeroPadShortcut(32, stride=2)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(out[:, 16:]) == 0


def test_cifar_resnet_kaiming_init() -> None:
    """He et al. 2015 init (fan-out): conv weights have std sqrt(2 / (k*k*C_out)); BN starts at 1, 0."""
    torch.manual_seed(0)
    model = create_model("cifar_resnet56")
    conv = model.layer3[-1].conv2
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 64)), rel=0.05)
    bn = model.layer3[-1].bn2
    assert torch.equal(bn.weight, torch.ones(64)) and torch.equal(bn.bias, torch.zeros(64))


def test_cifar_resnet_rejects_bad_depth() -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)


def test_cifar_resnet18_structure() -> None:
    """FPA authors' create_model (NOTES §1.3): 3x3 s1 p1 conv1 without bias, maxpool = Identity."""
    model = create_model("cifar_resnet18", num_classes=10)
    assert isinstance(model, torchvision.models.ResNet)
    c = model.conv1
    assert (c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) == (3, 64, (3, 3), (1, 1), (1, 1))
    assert c.bias is None
    assert isinstance(model.maxpool, nn.Identity)
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3, 4)] == [2, 2, 2, 2]
    assert (model.fc.in_features, model.fc.out_features) == (512, 10)
    # Stock torchvision ResNet-18 minus the 7x7 stem (9408) plus the 3x3 stem (1728), fc 512->10.
    assert count_parameters("cifar_resnet18") == 11_173_962
    one = create_model("cifar_resnet18", in_channels=1)
    assert one.conv1.in_channels == 1 and one.conv1.kernel_size == (3, 3)


def test_small_cnn_is_small_and_fast() -> None:
    model = create_model("small_cnn").eval()
    assert count_parameters("small_cnn") < 200_000
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert counter.get_total_flops() < 0.3e9  # ~0.06 GFLOP per 32x32 image


def test_pretrained_refused_without_explicit_download_consent() -> None:
    for name in ("resnet18", "resnet50"):
        with pytest.raises(AttrbenchError, match=r"pretrained=True would download ImageNet weights for "
                                                  rf"{name} .*pass allow_download=True"):
            create_model(name, pretrained=True)


def test_pretrained_other_channel_count_refused_before_download(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)
    with pytest.raises(AttrbenchError, match=r"expect 3 input channels, got in_channels=1"):
        create_model("resnet18", in_channels=1, pretrained=True, allow_download=True)


def test_nothing_downloaded_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = torchvision.models.resnet50

    def spy(*args: object, **kwargs: object) -> nn.Module:
        calls.append(kwargs.get("weights", "missing"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("tried to download")

    monkeypatch.setattr(torchvision.models, "resnet50", spy)
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    create_model("resnet50", num_classes=3, in_channels=2)
    assert calls == [None]


def _quadrant_task(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images (3, 16, 16) with a bright 8x8 quadrant; the label is which quadrant."""
    y = torch.randint(0, 4, (n,), generator=gen)
    x = 0.5 * torch.randn(n, 3, 16, 16, generator=gen)
    rows, cols = (y // 2) * 8, (y % 2) * 8
    grid = torch.arange(16)
    in_r = (grid.view(1, 16) >= rows.view(-1, 1)) & (grid.view(1, 16) < rows.view(-1, 1) + 8)
    in_c = (grid.view(1, 16) >= cols.view(-1, 1)) & (grid.view(1, 16) < cols.view(-1, 1) + 8)
    x = x + 1.5 * (in_r.view(n, 1, 16, 1) & in_c.view(n, 1, 1, 16)).float()
    return x, y


def test_small_cnn_learns_a_simple_task() -> None:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y = _quadrant_task(128, gen)
    x_test, y_test = _quadrant_task(128, gen)
    model = create_model("small_cnn", num_classes=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(30):
        idx = torch.arange(32) + 32 * (step % 4)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.9
