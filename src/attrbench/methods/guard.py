"""Context managers that leave the model exactly as they found it.

Every explainer runs inside :func:`attribution_mode`: the model is put in eval mode (so batch norm
uses its running statistics and one image's attribution never depends on the other images in the
batch), parameters stop requiring gradients (we only ever differentiate with respect to the *input*,
which saves the activation memory that weight gradients would need), and on exit the per-module
train/eval mode, every ``requires_grad`` flag and every ``.grad`` tensor are put back and any hook
that was added meanwhile is removed (Zennit's habit: hooks are owned by a context, never by the
caller's memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Per-module hook dictionaries of ``torch.nn.Module`` (PyTorch >= 2.0), keyed by handle id.
HOOK_DICTS: tuple[str, ...] = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def hook_snapshot(model: nn.Module) -> dict[tuple[str, str], frozenset[int]]:
    """Handle ids of every hook registered on every submodule of ``model``.

    Returns:
        ``{(module name, hook dict name): ids}`` for the dicts in :data:`HOOK_DICTS` that exist.
    """
    snap: dict[tuple[str, str], frozenset[int]] = {}
    for name, module in model.named_modules():
        for attr in HOOK_DICTS:
            hooks = getattr(module, attr, None)
            if hooks is not None:
                snap[(name, attr)] = frozenset(hooks.keys())
    return snap


def _remove_new_hooks(model: nn.Module, before: dict[tuple[str, str], frozenset[int]]) -> None:
    """Delete every hook whose id was not in ``before`` (a leak from a failed attribution)."""
    for name, module in model.named_modules():
        for attr in HOOK_DICTS:
            hooks = getattr(module, attr, None)
            if hooks is None:
                continue
            for key in list(hooks.keys()):
                if key not in before.get((name, attr), frozenset()):
                    del hooks[key]


@contextmanager
def attribution_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run attributions on ``model`` and restore its state afterwards, even on error.

    Inside the block: eval mode, parameters frozen, gradients enabled and inference mode off (so an
    explainer works when the caller is inside ``torch.no_grad()`` or ``torch.inference_mode()``).

    Args:
        model: the classifier; mutated only inside the block.

    Yields:
        The same ``model``.
    """
    modes = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    hooks = hook_snapshot(model)
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        with torch.inference_mode(False), torch.enable_grad():
            yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad
        _remove_new_hooks(model, hooks)


@contextmanager
def capture_output(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record the output of ``module`` on each forward pass while the block runs.

    Yields:
        A list that receives one tensor per forward call (the graph is kept, so the captured
        activation can be differentiated).
    """
    store: list[torch.Tensor] = []

    def hook(_mod: nn.Module, _inp: object, out: object) -> None:
        store.append(out)  # type: ignore[arg-type]

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()
