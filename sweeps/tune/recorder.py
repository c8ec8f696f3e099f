"""What Ray reports of the sweep's trials, written into the sweep's record as it comes.

:class:`JournalRecorder` is the first of the sweep's Ray callbacks: each trial's epochs (with
the ASHA rung each was judged at), checkpoints and end go into the record of the trial's phase
(:mod:`sweeps.record`), and its end is told to Optuna honestly (a trial ASHA or the stopper cut
short is PRUNED, a crash FAIL, a completed one COMPLETE with its best validation loss; Ray's
own OptunaSearch tells every trial COMPLETE, feeding TPE partial-budget losses as if final). A
trial that failed is retried, ended or left for a ``--resume`` as :mod:`sweeps.tune.failures`
decides; a retry goes back to the searcher (:mod:`sweeps.tune.search`), which hands Ray the
trial again as a new Ray trial of the same number, resuming from its newest recorded checkpoint.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from sweeps.record import INCOMPLETE, StoppingRule, SweepRecord
from sweeps.storage import SweepFolder
from sweeps.tune.errors import described
from sweeps.tune.failures import END, RETRY, FailureRule
from sweeps.tune.search import PhasedSearch
from trainable.result import EpochResult
from trainable.tune_adapter import RESUME, RESUME_RECORDED

logger = logging.getLogger(__name__)


class JournalRecorder(Callback):
    """Writes each trial's epochs, checkpoints and end into its record (the study of its phase,
    as ``search.record_of`` says) as Ray reports them, and decides what becomes of a trial that
    failed by ``failures`` (see :mod:`sweeps.tune.failures`): a retry, which ``search`` hands
    Ray again, its end in ERROR, or the sweep's stop, which it records in the search's record
    and tells ``search`` (the sweep's stopper sees it there).

    It comes first among the sweep's callbacks, so the record is never behind Ray's logs. It
    sees each result after ASHA, the stopper and the trial decided on it (a STOP marks the
    result done), and records the epoch with the rung ASHA judged it at, from ``rungs``
    ((Ray trial id, epoch) → milestone, as ``SweepASHA.judged`` holds them). The epochs
    a resumed trial re-trains up to its last recorded one are the record's already, with the
    rungs of their first time (ASHA does not judge them again), and are not written twice.
    """

    def __init__(
        self,
        search: PhasedSearch,
        folder: SweepFolder,
        rule: StoppingRule,
        rungs: dict[tuple[str, int], float] | None = None,
        failures: FailureRule | None = None,
        cut: set[str] | None = None,
    ) -> None:
        """``rule``: how a trial's last result says why it ended; ``failures``: the rule for
        failed trials (default: no retry, no --fail-fast); ``cut``: the Ray trial ids the time
        budget stopped (see :mod:`sweeps.tune.deadline`)."""
        self.search, self.folder, self.rule = search, folder, rule
        self.rungs = {} if rungs is None else rungs
        self.failures = FailureRule(0, 0) if failures is None else failures
        self.cut = set() if cut is None else cut

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial, result: dict,
                        **info: Any) -> None:  # fmt: skip
        if "epoch" not in result:
            return
        epoch = EpochResult.of(result)
        rung = self.rungs.pop((trial.trial_id, epoch.epoch), None)
        if epoch.epoch > recorded(trial):
            record, number = self._record(trial)
            record.epoch(number, epoch, rung)

    def on_checkpoint(self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any,
                      **info: Any) -> None:  # fmt: skip
        # Ray saves a trial before it trains on, so its last result is the checkpoint's epoch.
        epoch = (trial.last_result or {}).get("epoch")
        if epoch:
            path = posixpath.relpath(checkpoint.path, self.folder.path)
            record, number = self._record(trial)
            record.checkpoint(number, epoch, path)

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any):
        self._end(trial, None)

    def _record(self, trial: Trial) -> tuple[SweepRecord, int]:
        """The record of the trial Ray runs as ``trial`` (its phase's), and its number there."""
        record = self.search.record_of(trial.trial_id)
        return record, record.number_of(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any):
        """Tune gives up on a Ray trial at its first failure (``max_failures=0``); the record's
        trial is retried here, as a new Ray trial, or ended, or left for a ``--resume``."""
        error, signature = described(trial)
        name = self.search.name_of(trial.trial_id)
        decision = self.failures.failed(name, signature)
        if decision == RETRY:
            logger.warning("%s failed (%s); retrying it, from its newest checkpoint (%d of "
                           "--max-failures %d)", name, error, self.failures.failures[name],
                           self.failures.max_failures)  # fmt: skip
            self.search.retry(trial.trial_id)
        elif decision == END:
            if self.failures.failures[name] <= self.failures.max_failures:
                logger.warning("%s failed with an error that repeats (%s); not retried "
                               "(--fail-fast)", name, error)  # fmt: skip
            self._end(trial, error)
            self._stop_if_decided()

    def _end(self, trial: Trial, error: str | None) -> None:
        result = trial.last_result or {}
        last = EpochResult.of(result) if "epoch" in result else None  # none: it never trained
        cut = trial.trial_id in self.cut
        ended = self.rule.outcome(last, error is not None, cut)
        record, number = self._record(trial)
        if ended.status == INCOMPLETE:  # stopped by the sweep's end (Ctrl-C): it goes on later
            if cut:  # or by the time budget before it trained
                record.not_started(number)
            return
        record.end(number, ended, last, error)
        if error is None:
            self.failures.ended(self.search.name_of(trial.trial_id))
        self.folder.publish_journal()

    def _stop_if_decided(self) -> None:
        """Once the failures rule stops the sweep: record why, once, and propose nothing
        more; the sweep's stopper then stops the trials that run."""
        stopped = self.failures.stopped
        if stopped is None or self.search.stopped:
            return
        self.search.stop()
        SweepRecord(self.folder).stop_on(stopped)
        self.folder.publish_journal()
        logger.warning("stopping the sweep: %s each ended with %s (--fail-fast)",
                       ", ".join(stopped.trials), stopped.error)  # fmt: skip


def recorded(trial: Trial) -> int:
    """The last epoch the record held of the trial when Ray was handed it (0: a new trial)."""
    return (trial.config.get(RESUME) or {}).get(RESUME_RECORDED, 0)
