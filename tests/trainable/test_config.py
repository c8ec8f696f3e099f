"""Tests for trainable.config: TrialConfig validation messages and the model's hyperparameters."""

from __future__ import annotations

import pytest

from trainable.activations import ACTIVATIONS
from trainable.config import CHOICES, TrialConfig, TrialConfigError
from trainable.optim import OPTIMIZERS, optimizer_names


def test_defaults_parse() -> None:
    cfg = TrialConfig.parse({})
    assert cfg.optimizer == "adam"
    assert cfg.lr == 1e-3
    assert (cfg.model, cfg.model_args, cfg.dataset) == ("mlp", {}, "digits")
    assert cfg.model_hyperparameters == {}


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
    valid = message.removeprefix("optimizer: unknown optimizer 'lbfgs'; valid: ").split(", ")
    assert valid == list(optimizer_names())
    assert valid[: len(OPTIMIZERS)] == list(OPTIMIZERS)


@pytest.mark.parametrize("name", ["nadam", "radam", "rprop", "adadelta"])
def test_any_torch_optimizer_is_accepted_by_its_lower_case_name(name: str) -> None:
    assert TrialConfig.parse({"optimizer": name}).optimizer == name


def test_unknown_activation_names_choices() -> None:
    with pytest.raises(TrialConfigError) as info:
        TrialConfig.parse({"activation": "swish"})
    message = str(info.value)
    assert message.startswith("activation: unknown activation 'swish'; valid: ")
    assert message.split("valid: ")[1].split(", ") == list(ACTIVATIONS)


def test_the_config_names_exactly_what_the_registries_build() -> None:
    """The config spells the names out (no torch import); the order is the error message's."""
    assert {"optimizer": tuple(OPTIMIZERS), "activation": tuple(ACTIVATIONS)} == CHOICES


def test_a_key_beyond_the_fields_is_a_model_hyperparameter() -> None:
    searched = {"dropout": 0.25, "width": 64, "norm": "batch", "bias": True}
    cfg = TrialConfig.parse(searched)
    assert cfg.model_hyperparameters == searched
    assert "lr" not in cfg.model_hyperparameters


@pytest.mark.parametrize("value", [[64, 32], (8,), {"a": 1}, object()])
def test_a_hyperparameter_that_is_not_a_json_scalar_is_rejected(value: object) -> None:
    with pytest.raises(TrialConfigError) as info:
        TrialConfig.parse({"hidden": value})
    assert str(info.value) == (
        f"hidden: a hyperparameter must be a number, string, bool or null, got {value!r}"
    )


def test_a_hyperparameter_name_that_is_not_an_identifier_is_rejected() -> None:
    message = r"^learning-rate: a hyperparameter's name must be an identifier"
    with pytest.raises(TrialConfigError, match=message):
        TrialConfig.parse({"learning-rate": 0.1})


def test_sequences_are_model_args_not_hyperparameters() -> None:
    cfg = TrialConfig.parse({"model": "cnn", "model_args": {"channels": [8, 16], "hidden": []}})
    assert cfg.model_args == {"channels": [8, 16], "hidden": []}
    assert cfg.model_hyperparameters == {}


def test_error_is_one_line_value_error() -> None:
    with pytest.raises(ValueError) as info:
        TrialConfig.parse({"lr": -1, "gamma": 5, "bogus": [1]})
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
        ({"model_args": [64]}, "model_args"),
    ],
)
def test_out_of_range_settings_name_their_field(overrides: dict, field: str) -> None:
    with pytest.raises(TrialConfigError, match=rf"^{field}: "):
        TrialConfig.parse(overrides)


@pytest.mark.parametrize("value", [3, True, None])
def test_an_activation_that_is_not_a_name_is_rejected(value: object) -> None:
    """Rather than failing in every trial as "'int' object is not callable"."""
    with pytest.raises(TrialConfigError) as info:
        TrialConfig.parse({"activation": value})
    assert str(info.value) == (
        f"activation: unknown activation {value!r}; valid: {', '.join(CHOICES['activation'])}"
    )


def test_config_is_frozen() -> None:
    cfg = TrialConfig.parse({})
    with pytest.raises(ValueError):
        cfg.lr = 0.5  # type: ignore[misc]


def test_model_dump_round_trips() -> None:
    cfg = TrialConfig.parse(
        {"optimizer": "nesterov", "model_args": {"hidden": [64, 32]}, "dropout": 0.1, "seed": 7}
    )
    assert cfg.model_args == {"hidden": [64, 32]}
    dumped = cfg.model_dump()
    assert dumped["dropout"] == 0.1
    assert TrialConfig.parse(dumped) == cfg
    assert TrialConfig.parse(dumped).model_hyperparameters == {"dropout": 0.1}
