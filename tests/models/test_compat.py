"""check_input_compatible: channel count and minimum size, checked before any forward pass."""

from __future__ import annotations

import pytest
from torch import nn

from attrbench.errors import AttrbenchError
from attrbench.models import check_input_compatible, create_model, first_conv_in_channels, get_model_spec


def test_compatible_inputs_pass() -> None:
    check_input_compatible(create_model("small_cnn"), (3, 32, 32))
    check_input_compatible(create_model("cifar_resnet20", in_channels=1), (1, 28, 28))
    check_input_compatible(create_model("small_cnn", input_normalization="imagenet"), (3, 4, 4))
    check_input_compatible("resnet50", (3, 224, 224))
    check_input_compatible(get_model_spec("resnet50"), (1, 32, 32))  # channels unknown for a spec alone


def test_channel_mismatch_from_the_first_conv() -> None:
    with pytest.raises(AttrbenchError, match=r"Images have 1 channel\(s\) but model cifar_resnet18 takes 3; "
                                              r"convert the images to RGB or build the model with in_channels=1"):
        check_input_compatible(create_model("cifar_resnet18"), (1, 28, 28))
    with pytest.raises(AttrbenchError, match=r"Images have 3 channel\(s\) but model small_cnn takes 1; "
                                              r"build the model with in_channels=3"):
        check_input_compatible(create_model("small_cnn", in_channels=1), (3, 32, 32))
    foreign = nn.Sequential(nn.Conv2d(4, 2, 3), nn.Flatten())
    assert first_conv_in_channels(foreign) == 4
    with pytest.raises(AttrbenchError, match=r"Images have 3 channel\(s\) but model Sequential takes 4"):
        check_input_compatible(foreign, (3, 8, 8))
    with pytest.raises(AttrbenchError, match=r"but model resnet18 takes 1"):
        check_input_compatible("resnet18", (3, 64, 64), in_channels=1)


def test_too_small_images() -> None:
    with pytest.raises(AttrbenchError, match=r"Images of 16x16 pixels are smaller than the 32x32 minimum of model "
                                              r"resnet50; resize them or choose a model for small images"):
        check_input_compatible(create_model("resnet50"), (3, 16, 16))
    with pytest.raises(AttrbenchError, match=r"Images of 64x4 pixels are smaller than the 8x8 minimum"):
        check_input_compatible("cifar_resnet18", (3, 64, 4))


@pytest.mark.parametrize("shape", [(32, 32), (1, 3, 32, 32), (3, 0, 32)])
def test_bad_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(AttrbenchError, match=r"Image shape must be \(C, H, W\) with positive sizes"):
        check_input_compatible("small_cnn", shape)


def test_unknown_name() -> None:
    with pytest.raises(AttrbenchError, match=r"Unknown model 'smallcnn'\. Did you mean 'small_cnn'"):
        check_input_compatible("smallcnn", (3, 32, 32))
