"""How a trial ended, and when its validation loss stopped improving.

One rule decides both: the sweep's stopper applies :meth:`StoppingRule.stalled` while the sweep
runs, and the record applies :meth:`StoppingRule.outcome` to a trial's last result, so the
recorded reason is exactly why the trial stopped. Nothing here imports Ray or Optuna.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trainable import user_code
from trainable.result import EpochResult

COMPLETE, PRUNED, ERROR, INCOMPLETE = "COMPLETE", "PRUNED", "ERROR", "INCOMPLETE"
REASONS = (
    "completed", "asha", "stalled", "diverged", "budget", "error", "timeout", "interrupted",
)  # fmt: skip
BUDGET = "budget"  # stopped because the sweep's --time-budget was spent
# The last line of a traceback: the exception's (qualified) type and its message.
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:\([\w.]+\))?): ?(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    status: str  # COMPLETE, PRUNED or ERROR (as Optuna names trial states), or INCOMPLETE
    reason: str  # one of REASONS


@dataclass(frozen=True)
class StoppingRule:
    """The epoch budget of every trial, and how many epochs without a new best val_loss end
    one (``--max-epochs``, ``--patience``)."""

    max_epochs: int
    patience: int

    def stalled(self, result: EpochResult) -> bool:
        """No new best val_loss for ``patience`` epochs: it stalls, or rises while training
        falls."""
        return result.epoch - result.best_epoch >= self.patience

    def outcome(
        self, result: EpochResult | None, error: bool = False, cut: bool = False
    ) -> Outcome:
        """Why a trial whose last reported result is ``result`` ended; ``cut``: the sweep's
        time budget stopped it (its own end, or a stall, on the same result wins)."""
        if error:
            return Outcome(ERROR, "error")
        # Ray marks the result that ended a trial as done; no result at all: it never trained.
        if result is None or not result.done:
            return Outcome(INCOMPLETE, "interrupted")
        if result.diverged:
            return Outcome(PRUNED, "diverged")
        if result.epoch >= self.max_epochs:
            return Outcome(COMPLETE, "completed")
        if self.stalled(result):
            return Outcome(PRUNED, "stalled")
        return Outcome(PRUNED, BUDGET if cut else "asha")


@dataclass(frozen=True)
class StoppedOn:
    """Why ``--fail-fast`` stopped a sweep: the error, and the trials it ended (by name)."""

    error: str
    trials: tuple[str, ...]


def error_line(error: BaseException | str) -> str:
    """What a trial raised, in one line, with the user's file:line where the error came from
    the user's code; the traceback is in ``error.txt`` in its Ray trial's folder. ``error``
    is the exception, or its text with the traceback (where Ray could not pickle it)."""
    if isinstance(error, str):
        found = EXCEPTION_LINE.findall(error)
        kind, message = found[-1] if found else ("Error", error.strip())
        kind = kind.partition("(")[0].rpartition(".")[2]
    else:
        cause = getattr(error, "cause", None) or error  # Ray wraps it in a RayTaskError
        kind, message = type(cause).__name__, str(cause)
    lines = message.strip().splitlines()
    where = user_code.where_in(str(error))
    return f"{kind}: {lines[0] if lines else ''}" + (f" ({where})" if where else "")
