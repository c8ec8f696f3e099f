"""Optimizers from plain mini-batch SGD to its adaptive descendants, and the ExponentialLR decay.

Seven are named here, SGD and its descendants (momentum and nesterov are SGD with those
options); any other ``torch.optim`` optimizer is taken by its lower-case class name
(``nadam``, ``radam``, ...).
"""

from __future__ import annotations

import functools
import inspect
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
# torch.optim classes the loop cannot drive: LBFGS steps with a closure, SparseAdam takes only
# sparse gradients, and Muon only 2-D parameters (every model here has biases).
UNSUITABLE = frozenset({"lbfgs", "sparseadam", "muon"})

# Devices where torch has a fused kernel for the optimizer: one update for all the parameters
# instead of several small ops per parameter, which dominate a small model's step on a CPU.
# torch has no fused RMSprop, and its fused Adagrad runs on the CPU only.
FUSED_DEVICES: dict[str, frozenset[str]] = {
    **dict.fromkeys(("sgd", "momentum", "nesterov", "adam", "adamw"), frozenset({"cpu", "cuda"})),
    "adagrad": frozenset({"cpu"}),
}


@functools.cache
def torch_optimizers() -> dict[str, type[torch.optim.Optimizer]]:
    """``torch.optim``'s optimizers the loop can drive, by lower-case class name."""
    found = {
        name.lower(): cls
        for name, cls in vars(torch.optim).items()
        if isinstance(cls, type)
        and issubclass(cls, torch.optim.Optimizer)
        and cls is not torch.optim.Optimizer
    }
    return {name: found[name] for name in sorted(found) if name not in UNSUITABLE}


def optimizer_names() -> tuple[str, ...]:
    """Every optimizer name a trial may use: the seven named here first, then torch's others."""
    return (*OPTIMIZERS, *(name for name in torch_optimizers() if name not in OPTIMIZERS))


def build_optimizer(
    name: str, params: Params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``momentum`` is read only by the momentum and nesterov optimizers."""
    if name not in OPTIMIZERS:
        return _other_optimizer(name, list(params), lr, weight_decay)
    params = list(params)
    fused = all(
        p.device.type in FUSED_DEVICES.get(name, ()) and p.is_floating_point() for p in params
    )
    options = {"fused": True} if fused else {}
    return OPTIMIZERS[name](params, lr, weight_decay, momentum, **options)


def build_scheduler(optimizer: torch.optim.Optimizer, gamma: float) -> ExponentialLR:
    """lr_k = lr_0 * gamma**k, stepped once per epoch."""
    return ExponentialLR(optimizer, gamma=gamma)


def _other_optimizer(
    name: str, params: list[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    classes = torch_optimizers()
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(optimizer_names())}")
    cls = classes[name]
    options: dict[str, float] = {"lr": lr}
    if weight_decay:
        if "weight_decay" not in inspect.signature(cls).parameters:
            raise ValueError(f"optimizer {name} takes no weight_decay")
        options["weight_decay"] = weight_decay
    return cls(params, **options)
