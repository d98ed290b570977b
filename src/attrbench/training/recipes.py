"""Named training recipes: the optimiser, schedule and light augmentation of each paper setting.

A recipe fills the optimisation fields of a :class:`~attrbench.training.config.TrainConfig`; explicit
user overrides win over the recipe. Sources: FPA paper App. A and the authors' code (NOTES §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attrbench.registry import Registry


@dataclass(frozen=True)
class Recipe:
    """Optimisation settings of one training setting.

    Attributes:
        name: registry key.
        description: where the numbers come from.
        epochs: number of passes over the training split.
        batch_size: images per SGD step.
        lr: initial learning rate.
        momentum: SGD momentum.
        weight_decay: L2 coefficient (SGD ``weight_decay``).
        schedule: ``"step"`` (multiply by ``gamma`` at each milestone epoch), ``"cosine"`` (to 0 over
            ``epochs``) or ``"constant"``.
        milestones: epochs at which a step schedule decays.
        gamma: step-schedule decay factor.
        hflip: random horizontal flips with probability 0.5.
        crop_padding: random crop after padding by this many pixels (0 = no crop).
        crop_fill: what the crop padding holds: ``black`` (pixel value 0 before normalisation, as
            the FPA authors' torchvision ``RandomCrop`` does), ``reflect``, or ``mean`` (0 after
            normalisation, i.e. the value FPA masks with; only for comparison with older runs).
        label_smoothing: cross-entropy label smoothing.
    """

    name: str
    description: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"
    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1
    hflip: bool = True
    crop_padding: int = 0
    crop_fill: str = "black"
    label_smoothing: float = 0.0


RECIPES: Registry[Recipe] = Registry("recipe")

for _recipe in (
    Recipe("paper-cifar", "FPA paper App. A: 40 epochs, lr 0.01 divided by 10 at epoch 30, flips.",
           epochs=40, batch_size=64, lr=0.01, milestones=(30,)),
    Recipe("reference-cifar", "FPA authors' code (train_cifar.py): 90 epochs, lr 0.01 /10 at 30 and 60, "
           "random crop (pad 4) + flip.", epochs=90, batch_size=64, lr=0.01, milestones=(30, 60),
           crop_padding=4),
    Recipe("paper-imagenet", "FPA code (train_imagenet.py): ResNet-50, 90 epochs, lr 0.1 /10 every 30, "
           "wd 1e-4, global batch 256.", epochs=90, batch_size=256, lr=0.1, weight_decay=1e-4,
           milestones=(30, 60)),
    Recipe("paper-food101", "FPA code (train_food101.py): ResNet-50, 68 epochs cosine to 0, lr 0.1, "
           "wd 5e-4, global batch 256.", epochs=68, batch_size=256, lr=0.1, schedule="cosine"),
    Recipe("quick", "CPU demo: 8 epochs, cosine from lr 0.05, batch 128, crop (pad 2) + flip; "
           "sized for the small CNN on the embedded CIFAR subset.", epochs=8, batch_size=128,
           lr=0.05, schedule="cosine", crop_padding=2),
    Recipe("cifar-resnet20", "ResNet-20 on the full CIFAR-10 training set on a CPU budget: 30 epochs, "
           "cosine from lr 0.1, batch 128, wd 5e-4, black-padded crop (pad 4) + flip (He et al.'s "
           "augmentation; their 164-epoch step schedule shortened).", epochs=30, batch_size=128,
           lr=0.1, schedule="cosine", crop_padding=4),
    Recipe("roar-cifar", "ROAR / KAR / IteROAR retrains of ResNet-20 on full CIFAR-10 on a CPU: "
           "cifar-resnet20 cut to 10 epochs (cosine from lr 0.1 to 0, batch 128, wd 5e-4, "
           "black-padded crop (pad 4) + flip); the cheapest length found to reach >= 80 % on the "
           "unmodified test set (5 epochs: 75.4 %).", epochs=10, batch_size=128, lr=0.1,
           schedule="cosine", crop_padding=4),
    Recipe("finetune", "Fine-tune an existing model (--init): 3 epochs, cosine from lr 0.01, batch "
           "128, wd 5e-4, black-padded crop (pad 4) + flip.", epochs=3, batch_size=128, lr=0.01,
           schedule="cosine", crop_padding=4),
):
    RECIPES.register(_recipe.name, _recipe)


def list_recipes(pattern: str = "*") -> list[str]:
    """Names of the registered recipes matching ``pattern``."""
    return RECIPES.names(pattern)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (unknown names list the valid ones)."""
    return RECIPES.get(name)
