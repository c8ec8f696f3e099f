"""Tests for trainable.config: TrialConfig validation messages and the hidden-layer override."""

from __future__ import annotations

import pytest

from trainable.config import CHOICES, TrialConfig, TrialConfigError
from trainable.models import ACTIVATIONS
from trainable.optim import OPTIMIZERS


def test_defaults_parse() -> None:
    cfg = TrialConfig.parse({})
    assert cfg.optimizer == "adam"
    assert cfg.lr == 1e-3
    assert cfg.hidden_layers == (128, 128)


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_non_positive_lr_is_rejected(lr: float) -> None:
    with pytest.raises(TrialConfigError, match=r"^lr: .*greater than 0"):
        TrialConfig.parse({"lr": lr})


@pytest.mark.parametrize("gamma", [0.0, -0.5])
def test_non_positive_gamma_is_rejected(gamma: float) -> None:
    with pytest.raises(TrialConfigError, match=r"^gamma: .*greater than 0"):
        TrialConfig.parse({"gamma": gamma})


def test_gamma_above_one_is_rejected() -> None:
    with pytest.raises(TrialConfigError, match=r"^gamma: .*less than or equal to 1"):
        TrialConfig.parse({"gamma": 1.01})


def test_gamma_of_exactly_one_is_accepted() -> None:
    assert TrialConfig.parse({"gamma": 1.0}).gamma == 1.0


def test_unknown_optimizer_names_field_and_choices() -> None:
    with pytest.raises(TrialConfigError) as info:
        TrialConfig.parse({"optimizer": "lbfgs"})
    message = str(info.value)
    assert message.startswith("optimizer: unknown optimizer 'lbfgs'; valid: ")
    assert message.removeprefix("optimizer: unknown optimizer 'lbfgs'; valid: ").split(
        ", "
    ) == list(OPTIMIZERS)


def test_unknown_activation_names_field_and_choices() -> None:
    with pytest.raises(TrialConfigError) as info:
        TrialConfig.parse({"activation": "swish"})
    message = str(info.value)
    assert message.startswith("activation: unknown activation 'swish'; valid: ")
    assert message.split("valid: ")[1].split(", ") == list(ACTIVATIONS)


def test_the_config_names_exactly_what_the_registries_build() -> None:
    """The config spells the names out (no torch import); the order is the error message's."""
    assert {"optimizer": tuple(OPTIMIZERS), "activation": tuple(ACTIVATIONS)} == CHOICES


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(TrialConfigError, match=r"^learning_rate: Extra inputs are not permitted"):
        TrialConfig.parse({"learning_rate": 0.1})


def test_error_is_one_line_value_error() -> None:
    with pytest.raises(ValueError) as info:
        TrialConfig.parse({"lr": -1, "gamma": 5, "bogus": 1})
    assert isinstance(info.value, TrialConfigError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"trial_index": -1}, "trial_index"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_layers": 0}, "num_layers"),
    ],
)
def test_out_of_range_settings_name_their_field(overrides: dict, field: str) -> None:
    with pytest.raises(TrialConfigError, match=rf"^{field}: "):
        TrialConfig.parse(overrides)


def test_config_is_frozen() -> None:
    cfg = TrialConfig.parse({})
    with pytest.raises(ValueError):
        cfg.lr = 0.5  # type: ignore[misc]


def test_model_dump_round_trips() -> None:
    cfg = TrialConfig.parse({"optimizer": "nesterov", "hidden": [64, 32], "seed": 7})
    assert cfg.hidden == (64, 32)
    assert TrialConfig.parse(cfg.model_dump()) == cfg


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, (128, 128)),
        ({"hidden": (64, 32, 16)}, (64, 32, 16)),
        ({"hidden": (64, 32), "hidden_size": 16}, (16, 16)),
        ({"hidden": (64, 32, 16), "hidden_size": 8}, (8, 8, 8)),
        ({"hidden": (64, 32), "num_layers": 3}, (64, 64, 64)),
        ({"hidden": (64, 32), "hidden_size": 16, "num_layers": 1}, (16,)),
        ({"hidden": (), "num_layers": 2}, (128, 128)),
        ({"hidden_size": 8, "num_layers": 4}, (8, 8, 8, 8)),
    ],
)
def test_hidden_layers_override(config: dict, expected: tuple[int, ...]) -> None:
    assert TrialConfig.parse(config).hidden_layers == expected
