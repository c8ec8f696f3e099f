"""Optuna behind Ray Tune: the seeded TPE searcher, its journal, and honest trial states.

Ray's OptunaSearch tells Optuna that every trial ended COMPLETE, also those ASHA or the
stopper cut short, which feeds TPE partial-budget losses as if they were final. Here a trial
cut short is told as PRUNED (Optuna then keeps its last intermediate value as such), a crash
as FAIL, and a completed one with its best validation loss.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from sweeps.space import TRIAL_INDEX, SweepSpace
from sweeps.storage import SweepFolder, journal_storage
from sweeps.tune.optuna_compat import reopen, storage_id, stored
from sweeps.tune.ray_compat import OptunaSearchState
from sweeps.tune.stopping import COMPLETE, ENDED_AT_ATTR, ERROR, outcome

STATES = {COMPLETE: TrialState.COMPLETE, ERROR: TrialState.FAIL}


def tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    """Multivariate TPE (Optuna's default) over groups of hyperparameters that trials share.

    A space with a conditional hyperparameter (momentum, for two optimizers) otherwise has its
    joint model over the hyperparameters every trial has, and the rest sampled one by one;
    Optuna advises groups for such define-by-run spaces. On the benchmarks' workload the gain
    is within the run-to-run noise (see the README's Performance section). Optuna calls the
    option experimental; its warning is kept out of the sweep's output.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, group=True)


class SweepSearch(OptunaSearch):
    """OptunaSearch with a TPE sampler seeded by the sweep, a journal file, and PRUNED states."""

    def __init__(
        self,
        space: SweepSpace,
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
            space=space,
            metric="val_loss",
            mode="min",
            sampler=tpe_sampler(seed),
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
        asked = len(self._state.study.get_trials(deepcopy=False))
        seed = int(np.random.SeedSequence([self.seed, asked]).generate_state(1)[0])
        self._state.replace_sampler(tpe_sampler(seed))

    @property
    def _state(self) -> OptunaSearchState:
        return OptunaSearchState(self)

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self._state.trials:
            orphan = self._orphan()
            if orphan is not None:
                self._state.trials[trial_id] = orphan
        return super().suggest(trial_id)

    def _orphan(self) -> optuna.Trial | None:
        """A trial the journal has asked but no Ray trial holds, to reuse before asking anew.

        Ray restores this searcher from its last experiment snapshot, and the journal can be
        ahead of it: trials asked after the snapshot, before the driver died. Ray proposes
        them again; reusing them keeps one Optuna trial per Ray trial, numbered without gaps,
        with the parameters TPE chose then.
        """
        state = self._state
        held = {storage_id(ot_trial) for ot_trial in state.trials.values()}
        for frozen in state.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if storage_id(frozen) not in held:
                return reopen(state.study, frozen)
        return None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # Optuna rejects NaN intermediate values; a diverged epoch says nothing to the sampler.
        finite = math.isfinite(result.get(self.metric, math.nan))
        if (
            not finite
            or not self._held_or_adopted(trial_id, result)
            or self._reported(trial_id, result)
        ):
            return
        with contextlib.suppress(UpdateFinishedTrialError):  # see on_trial_complete
            super().on_trial_result(trial_id, result)

    def _held_or_adopted(self, trial_id: str, result: dict[str, Any] | None) -> bool:
        """Whether this searcher has the trial's Optuna trial, adopting it from the journal by
        its number where Ray restored the trial from a snapshot newer than the searcher's (Ray
        saves the two apart; a driver killed between them leaves the searcher behind)."""
        state = self._state
        if trial_id in state.trials:
            return True
        number = (result or {}).get(f"config/{TRIAL_INDEX}")
        for frozen in state.study.get_trials(deepcopy=False):
            if frozen.number == number:
                state.trials[trial_id] = reopen(state.study, frozen)
                return True
        return False

    def _reported(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Whether the journal has this epoch already: re-trained after a restore, or the
        last result, which Ray passes to on_trial_complete as well."""
        state = self._state
        frozen = stored(state.study, state.trials[trial_id])
        return result[TRAINING_ITERATION] in frozen.intermediate_values

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        state = self._state
        if trial_id in state.completed or not self._held_or_adopted(trial_id, result):
            return
        if result and not error:
            # Ray does not pass a trial's last result to on_trial_result when it stops it.
            self.on_trial_result(trial_id, result)
        ended = outcome(result, error, self.max_epochs, self.patience)
        trial_state = STATES.get(ended.status, TrialState.PRUNED)
        value = result["best_val_loss"] if trial_state == TrialState.COMPLETE else None
        ot_trial = state.trials[trial_id]
        # After a driver crash Ray restores this searcher from its last experiment snapshot,
        # which can be older than the journal: the trial may have ended there already.
        with contextlib.suppress(UpdateFinishedTrialError):
            ot_trial.set_user_attr("stop_reason", ended.reason)
            if result and "epoch" in result:
                ot_trial.set_user_attr(ENDED_AT_ATTR, result["epoch"])
            state.study.tell(ot_trial, value, state=trial_state)
        state.completed.add(trial_id)
