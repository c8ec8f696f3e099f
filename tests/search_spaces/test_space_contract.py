"""Every registered space and the shipped example YAML honour the trainable's contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

import search_spaces
from search_spaces import Vocabulary

EXAMPLE = str(Path(search_spaces.__file__).parent / "examples" / "adam_vs_sgd.yaml")
SPACES = [*search_spaces.names(), EXAMPLE]
TRIALS = 50

# Restated from the brief rather than imported, so the package cannot drift from the trainable.
OPTIMIZERS = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
ACTIVATIONS = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout", "gelu", "silu"}
MOMENTUM_OPTIMIZERS = {"momentum", "nesterov"}
LOOP = {"optimizer", "lr", "gamma", "momentum", "weight_decay", "batch_size"}
MLP = {"hidden", "activation", "hidden_size", "num_layers"}  # the built-in mlp's parameters
NAMES = LOOP | MLP
# What the registered spaces may propose: the shipped spaces are for the built-in mlp.
VOCABULARY = Vocabulary.of("mlp")

optuna.logging.set_verbosity(optuna.logging.WARNING)


class CapturingTrial:
    """Stands in for Ray's suggest captor, which reads each name from ``args[0]``."""

    def __init__(self, trial: optuna.Trial) -> None:
        self._trial = trial
        self.captured: dict[str, Any] = {}

    def __getattr__(self, attr: str) -> Any:
        method = getattr(self._trial, attr)
        if not attr.startswith("suggest_"):
            return method

        def capture(*args: Any, **kwargs: Any) -> Any:
            assert args and "name" not in kwargs, "Ray's captor needs the name positionally"
            assert args[0] not in self.captured, f"{args[0]!r} suggested twice"
            self.captured[args[0]] = method(*args, **kwargs)
            return self.captured[args[0]]

        return capture


def sample(space_name: str, seed: int = 0) -> list[dict[str, Any]]:
    """The params of TRIALS random-sampler trials, asked and told like OptunaSearch does."""
    space = search_spaces.get(space_name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for index in range(TRIALS):
        trial = study.ask()
        captor = CapturingTrial(trial)
        assert space(captor) is None
        assert captor.captured == trial.params
        drawn.append(captor.captured)
        study.tell(trial, float(index))
    return drawn


@pytest.fixture(scope="module", params=SPACES, ids=lambda s: Path(s).name)
def drawn(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return sample(request.param)


def test_hyperparameters_are_the_loops_and_the_mlps() -> None:
    assert set(VOCABULARY.names) == NAMES
    assert len(VOCABULARY.names) == len(NAMES)
    assert all(VOCABULARY.knows(name) for name in NAMES)
    assert not VOCABULARY.knows("dropout")  # cnn's, not mlp's


def test_suggests_only_known_names(drawn: list[dict[str, Any]]) -> None:
    for params in drawn:
        assert set(params) <= NAMES
        assert all(VOCABULARY.knows(name) for name in params)
        assert {"optimizer", "lr", "gamma", "activation"} <= set(params)


def test_values_lie_in_the_trainables_domain(drawn: list[dict[str, Any]]) -> None:
    for params in drawn:
        assert params["optimizer"] in OPTIMIZERS
        assert params["activation"] in ACTIVATIONS
        assert params["lr"] > 0
        assert 0 < params["gamma"] <= 1
        assert 0 <= params.get("momentum", 0) < 1
        assert params.get("weight_decay", 0) >= 0
        for key in ("hidden_size", "num_layers"):
            assert isinstance(params.get(key, 1), int) and params.get(key, 1) >= 1


def test_momentum_only_and_always_for_momentum_optimizers(drawn: list[dict[str, Any]]) -> None:
    assert any("momentum" in params for params in drawn), "every shipped space searches momentum"
    for params in drawn:
        assert ("momentum" in params) == (params["optimizer"] in MOMENTUM_OPTIMIZERS), params


@pytest.mark.parametrize("space_name", SPACES, ids=lambda s: Path(s).name)
def test_same_seed_gives_same_sequence(space_name: str) -> None:
    assert sample(space_name, seed=7) == sample(space_name, seed=7)
    assert sample(space_name, seed=7) != sample(space_name, seed=8)
