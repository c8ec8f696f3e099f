"""How a trial ended, and the stopper that ends trials whose validation loss stopped improving.

One rule decides both: the stopper applies it while the sweep runs, and the results and the
Optuna searcher apply it afterwards to the last result, so the recorded reason is exactly why
the trial stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray import tune

COMPLETE, PRUNED, ERROR, INCOMPLETE = "COMPLETE", "PRUNED", "ERROR", "INCOMPLETE"


@dataclass(frozen=True)
class Outcome:
    status: str  # COMPLETE, PRUNED or ERROR (as Optuna names trial states), or INCOMPLETE
    reason: str  # completed, asha, stalled, diverged, error, or interrupted


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


class PatienceStopper(tune.Stopper):
    """Ends one trial (never the sweep) once :func:`stalled` holds."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return stalled(result, self.patience)

    def stop_all(self) -> bool:
        return False
