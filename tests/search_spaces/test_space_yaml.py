"""Compiling YAML search spaces: accepted specs and one-line errors for every bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution

import search_spaces
from search_spaces import SpaceError, compile_space

OPT = {"type": "categorical", "choices": ["sgd", "momentum", "adam"]}
LR = {"type": "float", "low": 1e-4, "high": 0.1, "log": True}
MOMENTUM = {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["momentum"]}}


def params(**entries: Any) -> dict[str, Any]:
    return {"params": entries}


def run(space: Any, trials: int = 30) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: space(trial) or 0.0, n_trials=trials)
    return study.trials


BAD_SPECS = {
    "not a mapping": ([1, 2], ["mapping", "list"]),
    "missing params": ({}, ["'params'"]),
    "top-level typo": ({"param": {"lr": LR}}, ["'param'", "did you mean 'params'"]),
    "empty params": (params(), ["non-empty"]),
    "unknown name": (params(optimiser=OPT), ["'optimiser'", "did you mean 'optimizer'"]),
    "spec not mapping": (params(lr=0.1), ["'lr'", "mapping"]),
    "missing type": (params(lr={"low": 0.1, "high": 1}), ["'lr'", "type None", "valid:"]),
    "type typo": (params(lr={**LR, "type": "flot"}), ["did you mean 'float'"]),
    "type not a string": (params(lr={**LR, "type": ["float"]}), ["type ['float']"]),
    "wrong type for name": (params(hidden_size={**LR, "type": "float"}), ["must have type int"]),
    "unknown key": (params(lr={**LR, "steps": 0.1}), ["'steps'", "did you mean 'step'"]),
    "key of other type": (params(lr={**LR, "choices": [1]}), ["'choices'", "type float"]),
    "no choices": (params(optimizer={"type": "categorical"}), ["choices", "valid: sgd"]),
    "empty choices": (params(optimizer={**OPT, "choices": []}), ["non-empty"]),
    "unknown choice": (params(optimizer={**OPT, "choices": ["adamm"]}), ["did you mean 'adam'"]),
    "repeated choice": (params(optimizer={**OPT, "choices": ["sgd", "sgd"]}), ["repeat"]),
    "missing high": (params(lr={"type": "float", "low": 0.1}), ["missing 'high'"]),
    "float low == high": (params(lr={**LR, "low": 0.1}), ["low must be < high"]),
    "int low > high": (params(num_layers={"type": "int", "low": 3, "high": 1}), ["<= high"]),
    "log needs low > 0": (
        params(weight_decay={"type": "float", "low": 0, "high": 1, "log": True}),
        ["'weight_decay'", "> 0 when log"],
    ),
    "log not bool": (params(lr={**LR, "log": "true"}), ["log must be true or false"]),
    "step with log": (params(lr={**LR, "step": 0.01}), ["step and log"]),
    "step not positive": (params(gamma={"type": "float", "low": 0.5, "high": 1, "step": 0}),
                          ["step must be > 0"]),
    "low not a number": (params(lr={**LR, "low": "tiny"}), ["low must be a number", "'tiny'"]),
    "high infinite": (params(weight_decay={"type": "float", "low": 0, "high": float("inf")}),
                      ["finite"]),
    "int not whole": (params(num_layers={"type": "int", "low": 1.5, "high": 3}), ["whole"]),
    "out of bounds": (params(gamma={"type": "float", "low": 0.5, "high": 1.5}), ["(0, 1]"]),
    "when unknown name": (
        params(optimizer=OPT, momentum={**MOMENTUM, "when": {"optimzer": ["momentum"]}}),
        ["'optimzer'", "did you mean 'optimizer'"],
    ),
    "when later param": (
        params(activation={"type": "categorical", "choices": ["relu"],
                           "when": {"optimizer": ["sgd"]}}, optimizer=OPT),
        ["'optimizer'", "not defined above"],
    ),
    "when non-categorical": (
        params(optimizer=OPT, lr=LR, activation={"type": "categorical", "choices": ["relu"],
                                                 "when": {"lr": [0.1]}}),
        ["categorical", "'lr' is float"],
    ),
    "when value not a choice": (
        params(optimizer=OPT, momentum={**MOMENTUM, "when": {"optimizer": ["momentun"]}}),
        ["'momentun'", "did you mean 'momentum'"],
    ),
    "when not a mapping": (params(optimizer=OPT, momentum={**MOMENTUM, "when": "momentum"}),
                           ["when must be a mapping"]),
    "when empty values": (params(optimizer=OPT, momentum={**MOMENTUM, "when": {"optimizer": []}}),
                          ["non-empty list"]),
    "momentum for sgd": (params(optimizer=OPT, momentum={**MOMENTUM, "when": None}),
                         ["momentum applies only", "sgd, adam"]),
    "momentum without optimizer": (params(momentum={**MOMENTUM, "when": None}),
                                   ["needs an 'optimizer'"]),
}  # fmt: skip


@pytest.mark.parametrize(("spec", "fragments"), BAD_SPECS.values(), ids=list(BAD_SPECS))
def test_bad_spec_is_a_one_line_space_error(spec: Any, fragments: list[str]) -> None:
    with pytest.raises(SpaceError) as err:
        compile_space(spec, source="bad.yaml")
    message = str(err.value)
    assert message.startswith("bad.yaml: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("# a comment\nparams:\n  lr: {type: float, low: 0.1\n  gamma: 1\n")
    with pytest.raises(SpaceError) as err:
        search_spaces.get(str(path))
    message = str(err.value)
    assert f"{path}:4:" in message and "invalid YAML" in message and "\n" not in message


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("params:\n  lr: {type: float, low: 1e-4, high: 0.1, logg: true}\n")
    with pytest.raises(SpaceError, match=r"typo\.yaml: param 'lr': unknown key 'logg'"):
        search_spaces.get(str(path))


def test_numeric_strings_from_yaml_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("params:\n  lr: {type: float, low: 1e-4, high: 1e-1, log: true}\n")
    (trial, *_) = run(search_spaces.get(str(path)), trials=1)
    assert trial.distributions["lr"] == FloatDistribution(1e-4, 0.1, log=True)


def test_steps_and_int_ranges_reach_optuna() -> None:
    space = compile_space(params(
        gamma={"type": "float", "low": 0.9, "high": 1.0, "step": 0.05},
        num_layers={"type": "int", "low": "1", "high": 4, "step": 3},
        hidden_size={"type": "int", "low": 64, "high": 64},
    ))  # fmt: skip
    (trial, *_) = run(space, trials=1)
    assert trial.distributions["gamma"] == FloatDistribution(0.9, 1.0, step=0.05)
    assert trial.distributions["num_layers"] == IntDistribution(1, 4, step=3)
    assert trial.params["hidden_size"] == 64


def test_when_follows_yaml_order_and_skipped_params() -> None:
    space = compile_space(params(
        optimizer={"type": "categorical", "choices": ["adam", "momentum"]},
        activation={"type": "categorical", "choices": ["relu", "tanh"],
                    "when": {"optimizer": ["adam"]}},
        momentum={**MOMENTUM, "when": {"optimizer": ["momentum"], "activation": ["relu"]}},
    ))  # fmt: skip
    trials = run(space)
    # activation exists only under adam, so momentum's second condition can never hold.
    assert all("momentum" not in trial.params for trial in trials)
    assert {"activation" in t.params for t in trials} == {True, False}
    for trial in trials:
        assert ("activation" in trial.params) == (trial.params["optimizer"] == "adam")
