"""Optimizers from plain mini-batch SGD to its adaptive descendants, and the ExponentialLR decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch.optim.lr_scheduler import ExponentialLR

Params = Iterable[torch.nn.Parameter]

OPTIMIZERS: dict[str, Callable[[Params, float, float, float], torch.optim.Optimizer]] = {
    "sgd": lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd),
    "momentum": lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, momentum=m, weight_decay=wd),
    "nesterov": lambda p, lr, wd, m: torch.optim.SGD(
        p, lr=lr, momentum=m, nesterov=True, weight_decay=wd
    ),
    "adagrad": lambda p, lr, wd, m: torch.optim.Adagrad(p, lr=lr, weight_decay=wd),
    "rmsprop": lambda p, lr, wd, m: torch.optim.RMSprop(p, lr=lr, weight_decay=wd),
    "adam": lambda p, lr, wd, m: torch.optim.Adam(p, lr=lr, weight_decay=wd),
    "adamw": lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
}

USES_MOMENTUM = frozenset({"momentum", "nesterov"})


def build_optimizer(
    name: str, params: Params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``momentum`` is read only by the momentum and nesterov optimizers."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay, momentum)


def build_scheduler(optimizer: torch.optim.Optimizer, gamma: float) -> ExponentialLR:
    """lr_k = lr_0 * gamma**k, stepped once per epoch."""
    return ExponentialLR(optimizer, gamma=gamma)
