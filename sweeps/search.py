"""Optuna behind Ray Tune: the seeded TPE searcher, its journal, and honest trial states.

Ray's OptunaSearch tells Optuna that every trial ended COMPLETE, also those ASHA or the
stopper cut short, which feeds TPE partial-budget losses as if they were final. Here a trial
cut short is told as PRUNED (Optuna then keeps its last intermediate value as such), a crash
as FAIL, and a completed one with its best validation loss.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from sweeps.stopping import COMPLETE, ENDED_AT, ERROR, outcome
from sweeps.storage import SweepFolder, journal_storage
from trainable import TrialConfig, TrialConfigError

STATES = {COMPLETE: TrialState.COMPLETE, ERROR: TrialState.FAIL}
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


class SweepSearch(OptunaSearch):
    """OptunaSearch with a TPE sampler seeded by the sweep, a journal file, and PRUNED states."""

    def __init__(
        self,
        space: str,
        *,
        seed: int,
        folder: SweepFolder,
        study_name: str,
        max_epochs: int,
        patience: int,
    ) -> None:
        self.seed, self.max_epochs, self.patience = seed, max_epochs, patience
        self.folder = folder
        super().__init__(
            space=SweepSpace(space),
            metric="val_loss",
            mode="min",
            sampler=optuna.samplers.TPESampler(seed=seed),
            study_name=study_name,
            storage=journal_storage(folder),
        )

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Ray's snapshot of this searcher, with the journal published (to an object store)
        first: a snapshot that holds trials the bucket's journal lacks could not be resumed."""
        self.folder.publish_journal()
        super().save_to_dir(checkpoint_dir, session_str)

    def restore(self, checkpoint_path: str) -> None:
        """Restore from Ray's snapshot, with the sampler reseeded from the journal's length.

        The snapshot's sampler is in the random state it had then; the trials asked after it
        are reused (see :meth:`_orphan`), and without a new seed the next proposals would
        repeat theirs.
        """
        super().restore(checkpoint_path)
        asked = len(self._ot_study.get_trials(deepcopy=False))
        seed = int(np.random.SeedSequence([self.seed, asked]).generate_state(1)[0])
        self._sampler = self._ot_study.sampler = optuna.samplers.TPESampler(seed=seed)

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self._ot_trials:
            orphan = self._orphan()
            if orphan is not None:
                self._ot_trials[trial_id] = orphan
        return super().suggest(trial_id)

    def _orphan(self) -> optuna.Trial | None:
        """A trial the journal has asked but no Ray trial holds, to reuse before asking anew.

        Ray restores this searcher from its last experiment snapshot, and the journal can be
        ahead of it: trials asked after the snapshot, before the driver died. Ray proposes
        them again; reusing them keeps one Optuna trial per Ray trial, numbered without gaps,
        with the parameters TPE chose then.
        """
        held = {ot_trial._trial_id for ot_trial in self._ot_trials.values()}
        for frozen in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen._trial_id not in held:
                return optuna.Trial(self._ot_study, frozen._trial_id)
        return None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # Optuna rejects NaN intermediate values; a diverged epoch says nothing to the sampler.
        finite = math.isfinite(result.get(self.metric, math.nan))
        if not finite or not self._holds(trial_id, result) or self._reported(trial_id, result):
            return
        with contextlib.suppress(UpdateFinishedTrialError):  # see on_trial_complete
            super().on_trial_result(trial_id, result)

    def _holds(self, trial_id: str, result: dict[str, Any] | None) -> bool:
        """Whether this searcher has the trial's Optuna trial, adopting it from the journal by
        its number where Ray restored the trial from a snapshot newer than the searcher's (Ray
        saves the two apart; a driver killed between them leaves the searcher behind)."""
        if trial_id in self._ot_trials:
            return True
        number = (result or {}).get(f"config/{TRIAL_INDEX}")
        for frozen in self._ot_study.get_trials(deepcopy=False):
            if frozen.number == number:
                self._ot_trials[trial_id] = optuna.Trial(self._ot_study, frozen._trial_id)
                return True
        return False

    def _reported(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether the journal has this epoch already: re-trained after a restore, or the
        last result, which Ray passes to on_trial_complete as well."""
        frozen = self._ot_study._storage.get_trial(self._ot_trials[trial_id]._trial_id)
        return result[TRAINING_ITERATION] in frozen.intermediate_values

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id in self._completed_trials or not self._holds(trial_id, result):
            return
        if result and not error:
            # Ray does not pass a trial's last result to on_trial_result when it stops it.
            self.on_trial_result(trial_id, result)
        ended = outcome(result, error, self.max_epochs, self.patience)
        state = STATES.get(ended.status, TrialState.PRUNED)
        value = result["best_val_loss"] if state == TrialState.COMPLETE else None
        ot_trial = self._ot_trials[trial_id]
        # After a driver crash Ray restores this searcher from its last experiment snapshot,
        # which can be older than the journal: the trial may have ended there already.
        with contextlib.suppress(UpdateFinishedTrialError):
            ot_trial.set_user_attr("stop_reason", ended.reason)
            if result and "epoch" in result:
                ot_trial.set_user_attr(ENDED_AT, result["epoch"])
            self._ot_study.tell(ot_trial, value, state=state)
        self._completed_trials.add(trial_id)


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
