"""Tests for trainable.optim: every optimizer builds, descends, and carries the right flags; any
other torch.optim optimizer is taken by its lower-case name."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from trainable.optim import (
    OPTIMIZERS,
    UNSUITABLE,
    USES_MOMENTUM,
    build_optimizer,
    build_scheduler,
    optimizer_names,
    torch_optimizers,
)

EXPECTED_CLASS = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
ALL_OPTIMIZERS = sorted(OPTIMIZERS)


def _problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=g)
    y = x @ torch.tensor([[2.0], [-1.0], [0.5]]) + 3.0
    return model, x, y


def test_expected_table_covers_every_optimizer() -> None:
    assert set(EXPECTED_CLASS) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_optimizer_has_expected_class_and_hyperparameters(name: str) -> None:
    model = nn.Linear(3, 1)
    opt = build_optimizer(name, model.parameters(), lr=0.02, weight_decay=0.001, momentum=0.8)
    assert type(opt) is EXPECTED_CLASS[name]
    group = opt.param_groups[0]
    assert group["lr"] == 0.02
    assert group["weight_decay"] == 0.001
    assert len(group["params"]) == 2


@pytest.mark.parametrize("name", optimizer_names())
def test_one_step_reduces_a_simple_loss(name: str) -> None:
    model, x, y = _problem()
    opt = build_optimizer(name, model.parameters(), lr=0.01)
    before = nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = nn.functional.mse_loss(model(x), y)
    assert after.item() < before.item()


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_optimizer_is_fused_where_torch_has_a_kernel_for_the_device(name: str) -> None:
    opt = build_optimizer(name, nn.Linear(2, 1).parameters(), lr=0.1)
    assert bool(opt.defaults.get("fused")) == (name != "rmsprop")  # torch has no fused RMSprop


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_optimizer_on_a_device_without_a_fused_kernel_is_not_fused(name: str) -> None:
    opt = build_optimizer(name, nn.Linear(2, 1, device="meta").parameters(), lr=0.1)
    assert not opt.defaults.get("fused")


def test_sgd_has_no_momentum_or_nesterov() -> None:
    opt = build_optimizer("sgd", nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.8)
    assert opt.param_groups[0]["momentum"] == 0
    assert opt.param_groups[0]["nesterov"] is False


def test_momentum_uses_momentum_without_nesterov() -> None:
    opt = build_optimizer("momentum", nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.8)
    assert opt.param_groups[0]["momentum"] == 0.8
    assert opt.param_groups[0]["nesterov"] is False


def test_nesterov_uses_momentum_with_nesterov() -> None:
    opt = build_optimizer("nesterov", nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.7)
    assert opt.param_groups[0]["momentum"] == 0.7
    assert opt.param_groups[0]["nesterov"] is True


def test_default_momentum_is_point_nine() -> None:
    opt = build_optimizer("momentum", nn.Linear(2, 1).parameters(), lr=0.1)
    assert opt.param_groups[0]["momentum"] == 0.9


def test_uses_momentum_names_exactly_the_sgd_momentum_variants() -> None:
    assert {"momentum", "nesterov"} == USES_MOMENTUM
    assert set(OPTIMIZERS) >= USES_MOMENTUM


def test_exponential_lr_multiplies_lr_by_gamma_each_step() -> None:
    opt = build_optimizer("sgd", nn.Linear(2, 1).parameters(), lr=0.5)
    scheduler = build_scheduler(opt, gamma=0.8)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs == pytest.approx([0.5, 0.4, 0.32, 0.256], rel=1e-12)


def test_gamma_one_keeps_lr_constant() -> None:
    opt = build_optimizer("adam", nn.Linear(2, 1).parameters(), lr=0.003)
    scheduler = build_scheduler(opt, gamma=1.0)
    for _ in range(3):
        opt.step()
        scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.003


def test_unknown_optimizer_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'") as info:
        build_optimizer("lbfgs", nn.Linear(2, 1).parameters(), lr=0.1)
    assert str(info.value).split("valid: ")[1].split(", ") == list(optimizer_names())


def test_optimizer_names_are_the_lectures_then_every_other_drivable_torch_optimizer() -> None:
    names = optimizer_names()
    assert names[: len(OPTIMIZERS)] == tuple(OPTIMIZERS)
    assert len(set(names)) == len(names)
    every = {
        name.lower()
        for name, cls in vars(torch.optim).items()
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
    } - {"optimizer"}
    assert set(names) == (every - UNSUITABLE) | set(OPTIMIZERS)
    assert {"nadam", "radam", "rprop"} <= set(names)
    assert not UNSUITABLE & set(names)


OTHERS = [name for name in optimizer_names() if name not in OPTIMIZERS]


@pytest.mark.parametrize("name", OTHERS)
def test_another_torch_optimizer_is_its_class_with_the_lr(name: str) -> None:
    opt = build_optimizer(name, nn.Linear(3, 1).parameters(), lr=0.02, momentum=0.5)
    assert type(opt) is torch_optimizers()[name]
    assert opt.param_groups[0]["lr"] == 0.02
    assert len(opt.param_groups[0]["params"]) == 2


@pytest.mark.parametrize(
    "name",
    [n for n in OTHERS if "weight_decay" in inspect.signature(torch_optimizers()[n]).parameters],
)
def test_another_torch_optimizer_takes_weight_decay_where_its_class_does(name: str) -> None:
    opt = build_optimizer(name, nn.Linear(3, 1).parameters(), lr=0.02, weight_decay=0.001)
    assert opt.param_groups[0]["weight_decay"] == 0.001


def test_weight_decay_for_an_optimizer_without_it_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^optimizer rprop takes no weight_decay$"):
        build_optimizer("rprop", nn.Linear(3, 1).parameters(), lr=0.01, weight_decay=0.1)
    # No weight decay asked for: nothing to refuse.
    opt = build_optimizer("rprop", nn.Linear(3, 1).parameters(), lr=0.01, weight_decay=0.0)
    assert type(opt) is torch.optim.Rprop
