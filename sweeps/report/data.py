"""What the report reads from a sweep folder: its config, trials, epochs and Optuna study.

Also how a trial's values are written as text, which the figures' labels and the page share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.config import ConfigError, SweepConfig
from sweeps.results import BEST, EPOCHS, TRIAL_COLUMNS, TRIALS, read_table
from sweeps.storage import JOURNAL, SAVED_CONFIG, STUDY, SweepFolder, journal_storage


@dataclass(frozen=True)
class Sweep:
    """What the report reads from a sweep folder."""

    name: str
    cfg: SweepConfig
    trials: list[dict[str, Any]]  # rows of trials.parquet, by trial index
    epochs: dict[str, list[dict[str, Any]]]  # epochs.parquet rows per trial id, by epoch
    study: optuna.Study | None
    chosen: int | None = None  # the trial best.json names: confirmation may overrule the search

    @property
    def params(self) -> list[str]:
        """The searched hyperparameters, in the order the space declares them."""
        names = [k for k in self.trials[0] if k not in TRIAL_COLUMNS]
        return [k for k in names if any(t[k] is not None for t in self.trials)]

    @cached_property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Each hyperparameter's Optuna distribution; a conditional one is in some trials only."""
        if self.study is None:
            return {}
        found: dict[str, BaseDistribution] = {}
        for trial in self.study.get_trials(deepcopy=False):
            found.update(trial.distributions)
        return found

    @property
    def log_scaled(self) -> set[str]:
        """The hyperparameters the space samples on a log scale (none known without a study)."""
        numeric = (FloatDistribution, IntDistribution)
        return {n for n, d in self.distributions.items() if isinstance(d, numeric) and d.log}

    @property
    def categorical(self) -> list[str]:
        """The hyperparameters drawn as categories: categorical in the space, or text/bool."""
        return [
            p
            for p in self.params
            if isinstance(self.distributions.get(p), CategoricalDistribution)
            or any(isinstance(t[p], (str, bool)) for t in self.trials)
        ]

    @property
    def best(self) -> dict[str, Any] | None:
        """The trial best.json names, else the one with the lowest best val_loss."""
        named = [t for t in self.trials if t["trial_index"] == self.chosen]
        finite = [t for t in self.trials if is_finite(t["best_val_loss"])]
        return named[0] if named else min(finite, key=lambda t: t["best_val_loss"], default=None)


def read(folder: SweepFolder) -> Sweep:
    for needed in (SAVED_CONFIG, TRIALS, EPOCHS):
        if not folder.has(needed):
            raise ConfigError(f"{folder.uri} has no {needed}: not a finished sweep folder")
    cfg = SweepConfig.model_validate_json(folder.read_text(SAVED_CONFIG))
    trials = read_table(folder, TRIALS)
    epochs: dict[str, list[dict[str, Any]]] = {}
    for row in read_table(folder, EPOCHS):
        epochs.setdefault(row["trial_id"], []).append(row)
    if not trials or not epochs:
        raise ConfigError(f"{folder.uri} has no trial that trained an epoch yet")
    chosen = json.loads(folder.read_text(BEST))["trial_index"] if folder.has(BEST) else None
    return Sweep(folder.name, cfg, trials, epochs, _study(folder), chosen)


def _study(folder: SweepFolder) -> optuna.Study | None:
    if not folder.has(JOURNAL):
        return None
    return optuna.load_study(study_name=STUDY, storage=journal_storage(folder))


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def distinct_sorted(values: Iterable[Any]) -> list[Any]:
    """The distinct values in order; by their text where they don't compare (1 and "a")."""
    distinct = set(values)
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def describe(trial: dict[str, Any], params: Iterable[str]) -> str:
    """A trial's hyperparameters as ``name=value, ...``, leaving out those it does not use."""
    return ", ".join(f"{p}={fmt(trial[p])}" for p in params if trial.get(p) is not None)


def fmt(value: Any) -> str:
    if value is None:
        return "\N{EM DASH}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
