"""Lookup by name or path, and the exact distributions of the registered spaces."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution as Cat
from optuna.distributions import FloatDistribution as Float
from optuna.distributions import IntDistribution as Int

import search_spaces
from search_spaces import SpaceError

EXAMPLE = Path(search_spaces.__file__).parent / "examples" / "adam_vs_sgd.yaml"
ALL_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
ALL_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout", "gelu", "silu")
DEFAULT = {
    "optimizer": Cat(ALL_OPTIMIZERS),
    "lr": Float(1e-4, 0.3, log=True),
    "gamma": Float(0.85, 1.0),
    "activation": Cat(ALL_ACTIVATIONS),
    "momentum": Float(0.5, 0.99),
}
EXPECTED = {
    "default": DEFAULT,
    "small": {
        "optimizer": Cat(("sgd", "momentum", "adam")),
        "lr": Float(1e-3, 0.3, log=True),
        "gamma": Float(0.9, 1.0),
        "activation": Cat(("relu", "tanh")),
        "momentum": Float(0.5, 0.99),
    },
    "architecture": {
        **DEFAULT,
        "hidden_size": Int(32, 256, log=True),
        "num_layers": Int(1, 3),
        "weight_decay": Float(1e-6, 1e-2, log=True),
    },
}


def distributions(space_name: str, trials: int = 50) -> dict[str, object]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: search_spaces.get(space_name)(trial) or 0.0, n_trials=trials)
    return {k: v for trial in study.trials for k, v in trial.distributions.items()}


def test_names_are_sorted_registered_spaces() -> None:
    assert search_spaces.names() == ["architecture", "default", "small"]


@pytest.mark.parametrize("space_name", sorted(EXPECTED))
def test_registered_space_distributions(space_name: str) -> None:
    assert distributions(space_name) == EXPECTED[space_name]


def test_get_accepts_yaml_and_yml_paths(tmp_path: Path) -> None:
    yml = tmp_path / "copy.yml"
    shutil.copy(EXAMPLE, yml)
    for source in (str(EXAMPLE), EXAMPLE, str(yml)):
        assert callable(search_spaces.get(source))


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(SpaceError) as err:
        search_spaces.get("defualt")
    assert str(err.value) == (
        "unknown search space 'defualt'; did you mean 'default'? "
        "valid: default, small, architecture, a path to a .yaml file, or a define-by-run "
        "function: package.module:attr or path/to/file.py:attr"
    )


def test_unknown_name_without_close_match_lists_valid() -> None:
    with pytest.raises(SpaceError, match=r"unknown search space 'zzz'; valid: default"):
        search_spaces.get("zzz")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpaceError, match="not found") as err:
        search_spaces.get(str(missing))
    assert str(missing) in str(err.value)


def test_unreadable_path_is_a_space_error(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(SpaceError, match="cannot read"):
        search_spaces.get(str(tmp_path / "dir.yaml"))


def test_non_string_is_a_space_error() -> None:
    with pytest.raises(SpaceError, match="got int"):
        search_spaces.get(3)  # type: ignore[arg-type]
