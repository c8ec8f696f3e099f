"""The sweep's record: its Optuna study, kept in the journal, is the one truth about its trials.

The journal says which trials exist, their numbers and parameters, every epoch each trained
(all of its metrics, and the sweep's decision on it), where its checkpoints are, and how it
ended. Everything else follows it: a resumed sweep re-runs the trials the journal has not
ended, from their newest recorded checkpoint, and asks new ones until it holds
``--num-trials``; the tables, the report, the TensorBoard runs and the manifest are written
from it. Ray's experiment snapshots are never read back, so a driver killed at any instant
leaves one record, whose every prefix is a sweep that can go on.

Each write is one appended line of the journal, in this order for a trial: asked (number and
parameters), the Ray trials that ran it, its epochs, each epoch before the checkpoint taken
after it, and last its end. A kill between two lines loses only the later ones.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps.record.optuna_compat import reopen, stored
from sweeps.record.outcome import BUDGET, COMPLETE, ERROR, Outcome, StoppedOn, StoppingRule
from sweeps.record.trials import (
    CHECKPOINT_ATTR,
    ENDED_AT_ATTR,
    EPOCH_ATTR,
    ERROR_ATTR,
    RAY_TRIALS_ATTR,
    REPORTED_AT,
    RUNG,
    SEARCH,
    STOP_REASON_ATTR,
    TrialRecord,
)
from sweeps.storage import STUDY, journal_storage
from trainable.result import EpochResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from sweeps.storage import SweepFolder

# User attributes of a study: the error that stopped this run of the sweep (--fail-fast); the
# search's: a budgeted sweep's time (budget_s, spent_s, search_closed); a later phase's: the
# options its runs were planned with to fit the time budget (confirm_top, confirm_seeds, ...).
STOPPED_ON_ATTR = "stopped_on"
TIME_ATTR = "time_budget"
PLAN_ATTR = "plan"


def _key(prefix: str, epoch: int) -> str:
    return f"{prefix}{epoch:04d}"


class SweepRecord:
    """The sweep's study, read and written through the journal of its folder."""

    def __init__(self, folder: SweepFolder, study: str = STUDY, origin: str | None = None) -> None:
        """``study``: the phase's study in the journal; ``origin``: the attribute that holds the
        search trial each of a later phase's runs comes from."""
        self.folder, self.origin = folder, origin
        self.prefix = SEARCH if study == STUDY else study  # its trials' names start with it
        self.study = optuna.create_study(
            study_name=study,
            storage=journal_storage(folder),
            direction="minimize",
            load_if_exists=True,
        )
        self._live: dict[int, optuna.Trial] = {}
        self._numbers: dict[str, int] = {}  # Ray trial id -> trial number, in this driver
        self._reported: dict[int, set[int]] = {}

    def trials(self) -> list[TrialRecord]:
        """The trials asked so far (not those enqueued and waiting to be asked)."""
        return [self._of(t) for t in self._asked()]

    def _of(self, frozen: FrozenTrial) -> TrialRecord:
        return TrialRecord.of(frozen, self.prefix, self.origin)

    def _asked(self) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Each hyperparameter the trials were given, in the order the space suggests them:
        what was searched (``batch_size``, say, is a setting of every trial config whether
        searched or not)."""
        found: dict[str, optuna.distributions.BaseDistribution] = {}
        for trial in self.study.get_trials(deepcopy=False):
            for name, distribution in trial.distributions.items():
                found.setdefault(name, distribution)
        return found

    def __len__(self) -> int:
        return len(self._asked())

    def seed_sampler(self, sampler: Callable[[int], optuna.samplers.BaseSampler], seed: int):
        """A sampler seeded by the sweep's seed and how many trials the study has asked: a
        resumed sweep's next proposals do not repeat those of the run it continues."""
        asked = len(self)
        if asked:
            seed = int(np.random.SeedSequence([seed, asked]).generate_state(1)[0])
        self.study.sampler = sampler(seed)

    def ask(self, space: Callable[[optuna.Trial], Any]) -> TrialRecord:
        trial = self.study.ask()
        self._live[trial.number] = trial
        return self.with_params(trial.number, space)

    def with_params(self, number: int, space: Callable[[optuna.Trial], Any]) -> TrialRecord:
        """The trial with every parameter the space gives it. Each parameter is a line of the
        journal, and a driver killed while it asked leaves a trial with only the first ones:
        the space, run again on it, keeps those (Optuna returns a parameter the trial has) and
        draws the rest. For a trial that has them all it changes nothing."""
        trial = self._trial(number)
        try:
            space(trial)
        except BaseException:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        return self._record(number)

    def _trial(self, number: int) -> optuna.Trial:
        if number not in self._live:
            frozen = self.study.get_trials(deepcopy=False)[number]  # numbers are positions
            self._live[number] = reopen(self.study, frozen)
        return self._live[number]

    def _record(self, number: int) -> TrialRecord:
        return self._of(stored(self.study, self._trial(number)))

    def ran_by(self, number: int, ray_trial: str) -> None:
        held = self._record(number)
        trial = self._trial(number)
        if held.stop_reason == BUDGET:  # it runs after all, in a sweep resumed with more time
            trial.set_user_attr(STOP_REASON_ATTR, None)
        trial.set_user_attr(RAY_TRIALS_ATTR, [*held.ray_trials, ray_trial])
        self._numbers[ray_trial] = number

    def number_of(self, ray_trial: str) -> int:
        """The number of the trial that the Ray trial ``ray_trial`` runs (handed out here)."""
        return self._numbers[ray_trial]

    def waiting(self) -> int:
        """How many enqueued trials wait to be asked (see :meth:`enqueue`)."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def attributes(self) -> list[dict[str, Any]]:
        """The user attributes every enqueued trial was given, asked or waiting."""
        return [dict(t.user_attrs) for t in self.study.get_trials(deepcopy=False)]

    def enqueue(self, params: dict[str, Any], attrs: dict[str, Any]) -> None:
        """A trial with these parameters, for a later :meth:`ask` to take (Optuna's queue)."""
        self.study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)

    def epoch(self, number: int, result: EpochResult, rung: float | None = None) -> None:
        """One epoch's result and the ASHA rung it was judged at (if any), in one line; and its
        val_loss as Optuna's intermediate value (unless NaN)."""
        trial = self._trial(number)
        epoch = int(result.epoch)
        metrics = {name: _plain(value) for name, value in result.as_dict().items()}
        trial.set_user_attr(
            _key(EPOCH_ATTR, epoch), {**metrics, RUNG: _plain(rung), REPORTED_AT: time.time()}
        )
        if number not in self._reported:
            frozen = stored(self.study, trial)
            self._reported[number] = set(frozen.intermediate_values)
        reported = self._reported[number]
        if epoch not in reported and math.isfinite(result.val_loss):
            trial.report(result.val_loss, epoch)
            reported.add(epoch)

    def checkpoint(self, number: int, epoch: int, path: str) -> None:
        self._trial(number).set_user_attr(_key(CHECKPOINT_ATTR, epoch), path)

    def end(
        self, number: int, ended: Outcome, last: EpochResult | None, error: str | None = None
    ) -> None:
        """Tell Optuna how the trial ended after its ``last`` result: COMPLETE with its best
        val_loss, PRUNED (Optuna keeps its last intermediate value as its value) or FAIL."""
        trial = self._trial(number)
        trial.set_user_attr(STOP_REASON_ATTR, ended.reason)
        if last is not None:
            trial.set_user_attr(ENDED_AT_ATTR, int(last.epoch))
        if error:
            trial.set_user_attr(ERROR_ATTR, error)
        if ended.status == COMPLETE:
            self.study.tell(trial, last.best_val_loss)
        else:
            state = TrialState.FAIL if ended.status == ERROR else TrialState.PRUNED
            self.study.tell(trial, state=state)
        self._live.pop(number, None)

    def not_started(self, number: int) -> None:
        """The time budget was spent before the trial trained: it stays unfinished (Optuna
        learns nothing from it, and a sweep resumed with more time runs it), noted as such."""
        self._trial(number).set_user_attr(STOP_REASON_ATTR, BUDGET)

    @property
    def time_spent(self) -> dict[str, Any] | None:
        """A budgeted sweep's time: its budget and what it spent, in seconds, and whether the
        budget closed its search and its later phases (None: no budget)."""
        return self.study.user_attrs.get(TIME_ATTR)

    def note_time(
        self, budget_s: float, spent_s: float, search_closed: bool, phases_closed: bool = False
    ) -> None:
        """The budget and what the sweep spent of it; whether it closed the search, and whether
        it stopped the later phases' runs (confirmation's, the audit's) too."""
        self.study.set_user_attr(TIME_ATTR, {
            "budget_s": round(budget_s, 1), "spent_s": round(spent_s, 1),
            "search_closed": search_closed, "phases_closed": phases_closed,
        })  # fmt: skip

    @property
    def planned(self) -> dict[str, Any] | None:
        """The options a later phase's runs were planned with to fit a time budget."""
        return self.study.user_attrs.get(PLAN_ATTR)

    def keep_plan(self, options: dict[str, Any]) -> None:
        self.study.set_user_attr(PLAN_ATTR, options)

    @property
    def stopped_on(self) -> StoppedOn | None:
        """The error that stopped the sweep's latest run (``--fail-fast``), if one did."""
        found = self.study.user_attrs.get(STOPPED_ON_ATTR)
        return StoppedOn(found["error"], tuple(found["trials"])) if found else None

    def stop_on(self, stopped: StoppedOn | None) -> None:
        """Record why this run of the sweep stopped (None: a new run, not stopped so far)."""
        value = {"error": stopped.error, "trials": list(stopped.trials)} if stopped else None
        self.study.set_user_attr(STOPPED_ON_ATTR, value)

    def settle(self, rule: StoppingRule) -> None:
        """End the trials whose last recorded epoch ended them, where the driver was killed
        before it wrote their end: their record says all there is to know."""
        for trial in self.trials():
            if not trial.finished and trial.last and trial.last.done:
                ended = rule.outcome(trial.last)
                self.end(trial.number, ended, trial.last)


def _plain(value: Any) -> Any:
    """A JSON value of the journal: numpy and torch scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else value
