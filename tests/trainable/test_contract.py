"""The contract every registry entry keeps: each built-in model on each built-in dataset it takes,
with each activation, gives one logit per class, passes gradients to every parameter and trains
an epoch; each optimizer trains an epoch; a model refuses a dataset it cannot take in one line."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainable import data, factory, sources
from trainable.activations import ACTIVATIONS
from trainable.models import MODELS
from trainable.optim import optimizer_names
from trainable.run import TrainingRun
from trainable.user_code import UserCodeError

# The built-in datasets each built-in model takes: a new model or dataset must be listed here.
ACCEPTS = {"mlp": ("digits", "digit_images", "synthetic"), "cnn": ("digit_images",)}
CASES = [
    (model, dataset, activation)
    for model, datasets in ACCEPTS.items()
    for dataset in datasets
    for activation in ACTIVATIONS
]
REFUSED = [(m, d) for m in MODELS for d in sources.BUILTIN if d not in ACCEPTS.get(m, ())]


def test_every_model_and_dataset_is_in_the_contract() -> None:
    assert set(ACCEPTS) == set(MODELS)
    assert {d for datasets in ACCEPTS.values() for d in datasets} == set(sources.BUILTIN)


@pytest.mark.parametrize("model, dataset, activation", CASES)
def test_a_built_in_model_gives_one_logit_per_class_and_gradients_everywhere(
    model: str, dataset: str, activation: str
) -> None:
    split = data.load(dataset, seed=0)
    torch.manual_seed(0)
    net = factory.build(model, searched={"activation": activation}, fixed={}, facts=split.facts)
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in net.modules())
    assert any(isinstance(m, type(ACTIVATIONS[activation]())) for m in net.modules())
    x, y = split.sample(16)
    scores = net(x)
    assert scores.shape == (16, split.facts.num_classes)
    assert torch.isfinite(scores).all()
    assert not torch.allclose(scores.detach().sum(dim=1), torch.ones(16), atol=1e-3)
    nn.functional.cross_entropy(scores, y).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("model, dataset, activation", CASES)
def test_a_built_in_model_trains_an_epoch(model: str, dataset: str, activation: str) -> None:
    config = {
        "model": model, "dataset": dataset, "activation": activation, "batch_size": 128,
        "max_epochs": 1, "lr": 0.01,
    }  # fmt: skip
    run = TrainingRun(config)
    metrics = run.step()
    assert metrics["epoch"] == 1 and run.finished
    assert not metrics["diverged"]
    assert math.isfinite(metrics["val_loss"]) and 0.0 <= metrics["val_acc"] <= 1.0
    assert metrics["best_epoch"] == 1


@pytest.mark.parametrize("model, dataset", REFUSED)
def test_a_built_in_model_refuses_a_dataset_it_cannot_take_in_one_line(
    model: str, dataset: str
) -> None:
    facts = data.load(dataset, seed=0).facts
    with pytest.raises(UserCodeError) as info:
        factory.build(model, searched={}, fixed={}, facts=facts)
    assert f"the data gives {facts.input_shape} per sample" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("optimizer", optimizer_names())
def test_every_optimizer_trains_an_epoch(optimizer: str) -> None:
    config = {
        "optimizer": optimizer, "lr": 0.01, "model_args": {"hidden": [16]}, "batch_size": 128,
        "max_epochs": 2,
    }  # fmt: skip
    run = TrainingRun(config)
    first, second = run.step(), run.step()
    assert not (first["diverged"] or second["diverged"])
    assert second["train_loss"] < first["train_loss"]
