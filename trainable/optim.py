"""Optimizers from plain mini-batch SGD to its adaptive descendants, and the ExponentialLR decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import ExponentialLR

Params = Iterable[torch.nn.Parameter]

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda p, lr, wd, m, **kw: torch.optim.SGD(p, lr=lr, weight_decay=wd, **kw),
    "momentum": lambda p, lr, wd, m, **kw: torch.optim.SGD(
        p, lr=lr, momentum=m, weight_decay=wd, **kw
    ),
    "nesterov": lambda p, lr, wd, m, **kw: torch.optim.SGD(
        p, lr=lr, momentum=m, nesterov=True, weight_decay=wd, **kw
    ),
    "adagrad": lambda p, lr, wd, m, **kw: torch.optim.Adagrad(p, lr=lr, weight_decay=wd, **kw),
    "rmsprop": lambda p, lr, wd, m, **kw: torch.optim.RMSprop(p, lr=lr, weight_decay=wd, **kw),
    "adam": lambda p, lr, wd, m, **kw: torch.optim.Adam(p, lr=lr, weight_decay=wd, **kw),
    "adamw": lambda p, lr, wd, m, **kw: torch.optim.AdamW(p, lr=lr, weight_decay=wd, **kw),
}

USES_MOMENTUM = frozenset({"momentum", "nesterov"})

# Devices where torch has a fused kernel for the optimizer: one update for all the parameters
# instead of several small ops per parameter (Adam's epoch on digits: 30 -> 22 ms on a CPU).
# torch has no fused RMSprop, and its fused Adagrad runs on the CPU only.
FUSED_DEVICES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("sgd", "momentum", "nesterov", "adam", "adamw"), frozenset({"cpu", "cuda"})),
    "adagrad": frozenset({"cpu"}),
}


def build_optimizer(
    name: str, params: Params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``momentum`` is read only by the momentum and nesterov optimizers."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    params = list(params)
    fused = all(
        p.device.type in FUSED_DEVICES.get(name, ()) and p.is_floating_point() for p in params
    )
    options = {"fused": True} if fused else {}
    return OPTIMIZERS[name](params, lr, weight_decay, momentum, **options)


def build_scheduler(optimizer: torch.optim.Optimizer, gamma: float) -> ExponentialLR:
    """lr_k = lr_0 * gamma**k, stepped once per epoch."""
    return ExponentialLR(optimizer, gamma=gamma)
