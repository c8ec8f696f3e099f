"""The built-in search spaces, and lookup of a space by name, YAML path or import path.

Each space is an Optuna define-by-run function for Ray Tune's ``OptunaSearch(space=fn)``: it
only calls ``trial.suggest_*`` and branches, and returns None because Ray captures the values
from the suggest calls. Names are always passed positionally, because Ray's capturing wrapper
reads the name from ``args[0]``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import optuna

from search_spaces.errors import SpaceError, suggest
from search_spaces.hyperparameters import ACTIVATIONS, MOMENTUM_OPTIMIZERS, OPTIMIZERS, Vocabulary
from search_spaces.yaml_spec import load_file
from trainable import user_code

Space = Callable[[optuna.Trial], None]

YAML_SUFFIXES = (".yaml", ".yml")


def default(trial: optuna.Trial) -> None:
    """Every optimizer and activation, with an exponentially decaying learning rate."""
    optimizer = trial.suggest_categorical("optimizer", OPTIMIZERS)
    trial.suggest_float("lr", 1e-4, 0.3, log=True)
    trial.suggest_float("gamma", 0.85, 1.0)
    trial.suggest_categorical("activation", ACTIVATIONS)
    if optimizer in MOMENTUM_OPTIMIZERS:
        trial.suggest_float("momentum", 0.5, 0.99)


def small(trial: optuna.Trial) -> None:
    """A narrow space for smoke runs, where every trial should train to something."""
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam"])
    trial.suggest_float("lr", 1e-3, 0.3, log=True)
    trial.suggest_float("gamma", 0.9, 1.0)
    trial.suggest_categorical("activation", ["relu", "tanh"])
    if optimizer == "momentum":
        trial.suggest_float("momentum", 0.5, 0.99)


def architecture(trial: optuna.Trial) -> None:
    """The default space plus the network's width, depth and weight decay."""
    default(trial)
    trial.suggest_int("hidden_size", 32, 256, log=True)
    trial.suggest_int("num_layers", 1, 3)
    trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)


SPACES: dict[str, Space] = {"default": default, "small": small, "architecture": architecture}


def names() -> list[str]:
    """The registered space names, sorted."""
    return sorted(SPACES)


def get(name_or_path: str | os.PathLike[str], vocabulary: Vocabulary | None = None) -> Space:
    """A registered space by name, the space compiled from a .yaml/.yml file (its names
    checked against ``vocabulary``), or a define-by-run function by ``module:attr`` or
    ``file.py:attr``."""
    if not isinstance(name_or_path, str | os.PathLike):
        raise SpaceError(
            f"a search space is a name or a .yaml path, got {type(name_or_path).__name__}"
        )
    name = os.fspath(name_or_path)
    if name.lower().endswith(YAML_SUFFIXES):
        return load_file(name, vocabulary)
    if user_code.is_reference(name):
        return user_code.load(name, "search space")
    if name not in SPACES:
        raise SpaceError(
            f"unknown search space {name!r}{suggest(name, SPACES)}, a path to a .yaml file, "
            "or a define-by-run function: package.module:attr or path/to/file.py:attr"
        )
    return SPACES[name]
