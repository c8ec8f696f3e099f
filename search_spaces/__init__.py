"""Optuna define-by-run search spaces for sweeping the MLP classifier with Ray Tune.

A space is ``fn(trial) -> None`` that only calls ``trial.suggest_*`` (names from
``HYPERPARAMETERS``) and branches; pass it as ``OptunaSearch(space=fn)``. Spaces are looked up
by registered name or compiled from a YAML file, see ``get``.
"""

from __future__ import annotations

from search_spaces.errors import SpaceError
from search_spaces.hyperparameters import HYPERPARAMETERS
from search_spaces.registry import YAML_SUFFIXES, get, names
from search_spaces.yaml_spec import compile_space

__all__ = ["HYPERPARAMETERS", "YAML_SUFFIXES", "SpaceError", "compile_space", "get", "names"]
