"""A budgeted sweep's Ray run (``--time-budget``): :class:`Deadline` applies the rules of
:mod:`sweeps.budget` as the trials run.

It is a Ray Tune callback that times each trial's epochs (wall time between two of its results,
as the trials share the cluster), notes the time spent in the sweep's record every
:data:`NOTE_EVERY_S` (a ``--resume`` goes on with the rest), and answers the sweep's searchers,
stopper and scheduler: whether the search may propose another trial, whether a running or
waiting trial is to stop (it is then cut: recorded with stop reason ``budget``), and how many
full runs a later phase may plan.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from sweeps.budget import TimeBudget, shown
from sweeps.config import SweepConfig
from sweeps.phases import Phase
from sweeps.record import SweepRecord, TrialRecord

logger = logging.getLogger(__name__)

NOTE_EVERY_S = 10.0  # how often the time spent is written to the record, at most
WORKERS_EVERY_S = 5.0  # how often the trials that run at once are read again, at most


class Deadline(Callback):
    """The sweep's time budget over one Ray run: ``budget``'s clock, the search's ``record``
    (where the time spent is noted), and ``workers``, how many trials run at once."""

    def __init__(
        self,
        budget: TimeBudget,
        cfg: SweepConfig,
        record: SweepRecord,
        workers: Callable[[], int],
        later_runs: int = 0,
    ) -> None:
        """``later_runs``: the later phases' runs left to run at full size, which the search
        leaves time for."""
        self.budget, self.cfg, self.record = budget, cfg, record
        self._workers, self._workers_read = workers, (-math.inf, 1)
        self.later_runs = later_runs
        self.cut: set[str] = set()  # Ray trial ids stopped by the budget
        self._last: dict[str, float] = {}  # Ray trial id -> when it started or last reported
        self._reported: set[str] = set()
        self._noted = -math.inf
        self.phases_closed = False  # the later phases' runs are stopped: the time is spent

    def workers(self) -> int:
        read_at, count = self._workers_read
        now = time.monotonic()
        if now - read_at >= WORKERS_EVERY_S:
            count = max(1, self._workers())
            self._workers_read = (now, count)
        return count

    def search_open(self) -> bool:
        """Whether the search may go on (see :meth:`TimeBudget.search_open`)."""
        if self.budget.search_closed:
            return False
        held = self.budget.held_for_later(self.later_runs, self.workers(), self.cfg.max_epochs)
        if self.budget.search_open(held):
            return True
        logger.warning(
            "time budget: the search closes after %s, leaving %s for what follows it",
            shown(self.budget.elapsed()), shown(self.budget.left()),
        )  # fmt: skip
        self.note()
        return False

    def later_open(self) -> bool:
        """Whether a later phase's run may go on (see :meth:`TimeBudget.later_open`)."""
        if self.budget.later_open():
            return True
        if not self.phases_closed:
            self.phases_closed = True
            logger.warning("time budget: %s left, for the outputs; the runs still going stop",
                           shown(self.budget.left()))  # fmt: skip
            self.note()
        return False

    def stops(self, trial_id: str, judged: bool) -> bool:
        """Whether the budget stops the trial (one of the search's if ``judged``); a trial it
        stops is cut, and recorded so."""
        if trial_id in self.cut:
            return True
        if self.search_open() if judged else self.later_open():
            return False
        self.cut.add(trial_id)
        return True

    def plan(self, phase: Phase, record: SweepRecord, search: list[TrialRecord]) -> None:
        """Size a later ``phase``'s runs to the time left (see :meth:`Phase.fit`), once: its
        ``record`` keeps the plan, which a ``--resume`` goes on with."""
        fitting = self.budget.fitting(self.workers(), self.cfg.max_epochs)
        options = phase.fit(search, fitting)
        record.keep_plan(options)
        if options:
            sized = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in options.items())
            logger.warning(
                "time budget: %s planned to fit the %s left, as with %s (a run %.1fs, %d at once)",
                phase.study, shown(self.budget.left()), sized,
                self.budget.run_s(self.cfg.max_epochs), self.workers(),
            )  # fmt: skip

    def note(self) -> None:
        """The sweep's budget and what it has spent, in its record."""
        self._noted = time.monotonic()
        self.record.note_time(
            self.cfg.time_budget or 0.0, self.budget.spent(), self.budget.search_closed,
            self.phases_closed,
        )  # fmt: skip

    def status(self) -> str:
        """One line for the progress view: the time spent and left."""
        search = "search closed" if self.budget.search_closed else "searching"
        return (
            f"Time budget {shown(self.cfg.time_budget or 0.0)}: {shown(self.budget.spent())} "
            f"spent, {shown(self.budget.left())} left ({search})"
        )

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any):
        self._last[trial.trial_id] = time.monotonic()
        self.budget.trials += 1  # one more for the outputs (a retry counts again: a margin)

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict,
                        **info: Any) -> None:  # fmt: skip
        now, before = time.monotonic(), self._last.get(trial.trial_id)
        if before is not None and "epoch" in result:
            first = trial.trial_id not in self._reported
            self.budget.epoch_took(now - before, first=first)
            self._reported.add(trial.trial_id)
        self._last[trial.trial_id] = now

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        if time.monotonic() - self._noted >= NOTE_EVERY_S:
            self.note()

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self.note()

    def __getstate__(self) -> dict[str, Any]:
        """Ray's experiment snapshot pickles the callbacks; the clock stays in this driver."""
        return {}
