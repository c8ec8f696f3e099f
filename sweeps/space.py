"""The search space of a sweep: compiled once, checked before Ray starts, pickled as its source.

Nothing here imports Ray or torch, so a bad space fails in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

import search_spaces
from trainable import TrialConfig, TrialConfigError

TRIAL_INDEX = "trial_index"  # the Optuna trial number, in every trial config


class SweepSpace:
    """The user's space plus the trial's index as a constant (it seeds the trial).

    Ray pickles the searcher into the experiment state, and a space compiled from YAML is a
    closure: it pickles as its source, and a YAML space as the text it had when the sweep
    started, so a resumed sweep searches the same space even if the file was edited since.
    """

    def __init__(self, source: str, text: str | None = None) -> None:
        self.source = source
        self.text = text if text is not None else yaml_text(source)
        if self.text is None:
            self.space = search_spaces.get(source)
        else:
            self.space = search_spaces.compile_space(yaml.safe_load(self.text), source=source)

    def __call__(self, trial: optuna.Trial) -> dict[str, int]:
        self.space(trial)
        return {TRIAL_INDEX: trial.number}

    def __getstate__(self) -> dict[str, str | None]:
        return {"source": self.source, "text": self.text}

    def __setstate__(self, state: dict[str, str | None]) -> None:
        self.__init__(state["source"], state["text"])


def yaml_text(source: str) -> str | None:
    """The text of a YAML space file (None for a registered space), or a one-line SpaceError."""
    if not source.lower().endswith(search_spaces.YAML_SUFFIXES):
        return None
    search_spaces.get(source)  # the file's own checks: missing, unreadable, bad YAML
    return Path(source).read_text(encoding="utf-8")


@dataclass(frozen=True)
class SpaceInfo:
    """What random draws revealed about a search space."""

    distributions: dict[str, optuna.distributions.BaseDistribution]  # every hyperparameter
    always: list[str]  # those every draw suggested (conditional ones are left out)
    text: str | None  # a YAML space's text as it was read; None for a registered space


def check_space(source: str, settings: dict[str, Any], draws: int = 64) -> SpaceInfo:
    """Fail before Ray starts if the space can propose a config the trainable would reject.

    Random draws reveal every distribution the space uses (on the branches they take); each
    distribution's extremes, and each categorical choice, must make a valid trial config.
    """
    space = SweepSpace(source)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, optuna.distributions.BaseDistribution] = {}
    always: set[str] | None = None
    for _ in range(draws):
        trial = study.ask()
        space(trial)
        seen.update(trial.distributions)
        always = set(trial.distributions) if always is None else always & set(trial.distributions)
        study.tell(trial, 0.0)
    for name, distribution in seen.items():
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            values = distribution.choices
        else:
            values = (distribution.low, distribution.high)
        for value in values:
            try:
                TrialConfig.parse({**settings, name: value})
            except TrialConfigError as err:
                raise TrialConfigError(f"search space {source!r}: {err}") from None
    return SpaceInfo(seen, [name for name in seen if name in (always or ())], space.text)
