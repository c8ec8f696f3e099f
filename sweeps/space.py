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
from search_spaces import SpaceError, Vocabulary
from search_spaces.hyperparameters import BOUNDS
from trainable import TrialConfig, TrialConfigError, user_code

TRIAL_INDEX = "trial_index"  # the Optuna trial number, in every trial config
KIND = {
    optuna.distributions.CategoricalDistribution: "categorical",
    optuna.distributions.IntDistribution: "int",
    optuna.distributions.FloatDistribution: "float",
}


class SweepSpace:
    """The user's space plus the trial's index as a constant (it seeds the trial).

    Ray pickles the searcher into the experiment state, and a space compiled from YAML is a
    closure: it pickles as its source, and a YAML space as the text it had when the sweep
    started, so a resumed sweep searches the same space even if the file was edited since. A
    define-by-run function of the user's pickles as its import path.
    """

    def __init__(self, source: str, vocabulary: Vocabulary, text: str | None = None) -> None:
        self.source, self.vocabulary = source, vocabulary
        self.text = text if text is not None else yaml_text(source, vocabulary)
        if self.text is None:
            self.space = search_spaces.get(source)
        else:
            spec = yaml.safe_load(self.text)
            self.space = search_spaces.compile_space(spec, source=source, vocabulary=vocabulary)

    def __call__(self, trial: optuna.Trial) -> dict[str, int]:
        self.space(trial)
        return {TRIAL_INDEX: trial.number}

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "vocabulary": self.vocabulary, "text": self.text}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], state["vocabulary"], state["text"])


def yaml_text(source: str, vocabulary: Vocabulary) -> str | None:
    """The text of a YAML space file (None for another space), or a one-line SpaceError."""
    if not source.lower().endswith(search_spaces.YAML_SUFFIXES):
        return None
    search_spaces.get(source, vocabulary)  # the file's own checks: missing, bad YAML, names
    return Path(source).read_text(encoding="utf-8")


@dataclass(frozen=True)
class SpaceInfo:
    """What random draws revealed about a search space."""

    distributions: dict[str, optuna.distributions.BaseDistribution]  # every hyperparameter
    always: list[str]  # those every draw suggested (conditional ones are left out)
    text: str | None  # a YAML space's text as it was read; None for another space
    first: dict[str, Any]  # the first draw's values: the config the driver builds once
    vocabulary: Vocabulary  # the names it was checked against


def check_space(
    source: str, settings: dict[str, Any], vocabulary: Vocabulary, draws: int = 64
) -> SpaceInfo:
    """Fail before Ray starts if the space can propose a config the trainable would reject.

    Random draws reveal every distribution the space uses (on the branches they take). Each
    name must be one the loop or the model takes, with a type it admits and not fixed by
    ``model_args`` too; each distribution's extremes, and each categorical choice, must make
    a valid trial config.
    """
    space = SweepSpace(source, vocabulary)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, optuna.distributions.BaseDistribution] = {}
    always: set[str] | None = None
    first: dict[str, Any] | None = None
    for _ in range(draws):
        trial = study.ask()
        _draw(space, trial)
        first = dict(trial.params) if first is None else first
        seen.update(trial.distributions)
        always = set(trial.distributions) if always is None else always & set(trial.distributions)
        study.tell(trial, 0.0)
    fixed = settings.get("model_args", {})
    for name, distribution in seen.items():
        _check_name(source, name, distribution, vocabulary, fixed)
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            values = distribution.choices
        else:
            values = (distribution.low, distribution.high)
        for value in values:
            try:
                TrialConfig.parse({**settings, name: value})
            except TrialConfigError as err:
                raise TrialConfigError(f"search space {source!r}: {err}") from None
    names = [name for name in seen if name in (always or ())]
    return SpaceInfo(seen, names, space.text, first or {}, vocabulary)


def _draw(space: SweepSpace, trial: optuna.Trial) -> None:
    try:
        space(trial)
    except Exception as err:
        raise user_code.raised("search space", space.source, err) from None


def _check_name(
    source: str,
    name: str,
    distribution: optuna.distributions.BaseDistribution,
    vocabulary: Vocabulary,
    fixed: dict[str, Any],
) -> None:
    if not vocabulary.knows(name):
        raise SpaceError(f"search space {source!r}: {vocabulary.unknown(name)}")
    if name in fixed:
        raise SpaceError(
            f"search space {source!r} searches {name!r}, which model_args fixes too; "
            "drop one of them"
        )
    kind = KIND.get(type(distribution), "categorical")
    allowed = vocabulary.kinds(name)
    if kind not in allowed:
        wanted = " or ".join(allowed) if allowed else "a fixed value in model_args"
        raise SpaceError(
            f"search space {source!r}: {name!r} is suggested as {kind}; it takes {wanted}"
        )
    bounds = BOUNDS.get(name)
    if bounds is None:
        return
    if kind == "categorical":
        numbers = [v for v in distribution.choices if isinstance(v, int | float)]
        low, high = (min(numbers), max(numbers)) if numbers else (None, None)
    else:
        low, high = distribution.low, distribution.high
    if low is not None and not bounds.admits(low, high):
        raise SpaceError(
            f"search space {source!r}: {name!r} ranges over [{low:g}, {high:g}]; "
            f"it must lie within {bounds}"
        )
