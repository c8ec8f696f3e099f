"""How a trial ended, and when its validation loss stopped improving.

One rule decides both: the sweep's stopper (``sweeps.tune.tuner.SweepStopper``) applies
:func:`stalled` while the sweep runs, and the record applies :func:`outcome` to a trial's last
result, so the recorded reason is exactly why the trial stopped. Nothing here imports Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMPLETE, PRUNED, ERROR, INCOMPLETE = "COMPLETE", "PRUNED", "ERROR", "INCOMPLETE"
REASONS = ("completed", "asha", "stalled", "diverged", "error", "timeout", "interrupted")


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
