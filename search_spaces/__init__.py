"""Optuna define-by-run search spaces for sweeping a classifier with Ray Tune.

A space is ``fn(trial) -> None`` that only calls ``trial.suggest_*`` (with names of the
training loop's hyperparameters and the model's parameters: see ``Vocabulary``) and branches;
pass it as ``OptunaSearch(space=fn)``. Spaces are looked up by registered name, compiled from a
YAML file, or imported from a user's module, see ``get``.
"""

from __future__ import annotations

from search_spaces.errors import SpaceError
from search_spaces.hyperparameters import Vocabulary
from search_spaces.registry import YAML_SUFFIXES, get, names
from search_spaces.yaml_spec import compile_space

__all__ = ["YAML_SUFFIXES", "SpaceError", "Vocabulary", "compile_space", "get", "names"]
