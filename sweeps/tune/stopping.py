"""How a trial ended, and the stopper that ends trials whose validation loss stopped improving.

One rule decides both: the stopper applies it while the sweep runs, and the results and the
Optuna searcher apply it afterwards to the last result, so the recorded reason is exactly why
the trial stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState
from ray import tune

from sweeps.storage import SweepFolder, journal_storage

COMPLETE, PRUNED, ERROR, INCOMPLETE = "COMPLETE", "PRUNED", "ERROR", "INCOMPLETE"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
REASONS = ("completed", "asha", "stalled", "diverged", "error", "timeout", "interrupted")
ENDED_AT_ATTR = "epochs"  # the Optuna user attribute: the epoch a trial ended at


@dataclass(frozen=True)
class Outcome:
    status: str  # COMPLETE, PRUNED or ERROR (as Optuna names trial states), or INCOMPLETE
    reason: str  # one of REASONS


def stalled(result: dict[str, Any], patience: int) -> bool:
    """No new best val_loss for ``patience`` epochs: it stalls, or rises while training falls."""
    return result["epoch"] - result["best_epoch"] >= patience


def outcome(result: dict[str, Any] | None, error: bool, max_epochs: int, patience: int) -> Outcome:
    """Why a trial whose last reported result is ``result`` ended."""
    if error:
        return Outcome(ERROR, "error")
    # Ray marks the result that ended a trial as done; no result at all: it never got to train.
    if not result or "epoch" not in result or not result.get("done", True):
        return Outcome(INCOMPLETE, "interrupted")
    if result["diverged"]:
        return Outcome(PRUNED, "diverged")
    if result["epoch"] >= max_epochs:
        return Outcome(COMPLETE, "completed")
    if stalled(result, patience):
        return Outcome(PRUNED, "stalled")
    return Outcome(PRUNED, "asha")


class SweepStopper(tune.Stopper):
    """Ends one trial (never the sweep): once :func:`stalled` holds, or where the journal
    says it ended already.

    After a driver crash Ray restarts trials from its last snapshot, which can be older than
    the Optuna journal: a trial may have ended there since. Its re-trained epochs are the same
    as the first time (seeded), and stopping it at the epoch where it ended keeps Ray's
    record and Optuna's the same; left to run, ASHA could decide otherwise the second time.
    """

    def __init__(self, patience: int, folder: SweepFolder, study_name: str) -> None:
        self.patience, self.folder, self.study_name = patience, folder, study_name
        self._ended: dict[int, int] | None = None  # read once, when this driver starts

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if self._ended is None:
            self._ended = ended_epochs(self.folder, self.study_name)
        index = result.get("config", {}).get("trial_index")
        return stalled(result, self.patience) or result["epoch"] >= self._ended.get(index, math.inf)

    def stop_all(self) -> bool:
        return False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_ended": None}  # a restored stopper reads the journal again


def ended_epochs(folder: SweepFolder, study_name: str) -> dict[int, int]:
    """Trial number -> the epoch it ended at, for the trials the journal has finished."""
    storage = journal_storage(folder)
    try:
        trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(
            deepcopy=False, states=FINISHED
        )
    except KeyError:  # no study yet
        return {}
    return {
        t.number: t.user_attrs.get(ENDED_AT_ATTR, max(t.intermediate_values, default=0))
        for t in trials
    }
