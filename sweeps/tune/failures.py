"""What the sweep does with a trial that failed: retry it, end it, or stop the sweep.

One rule, fed every end of a trial as the driver sees it: each failure, with its error's
signature, and each end without an error. :class:`~sweeps.tune.recorder.JournalRecorder` feeds
it and does what it answers; nothing here imports Ray.

- A failure is retried, from the trial's newest recorded checkpoint, up to ``--max-failures``
  times; the count is the driver's, so a resumed sweep counts again.
- With ``--fail-fast N`` (N > 0) an error that repeats is not retried: a retry that raises
  the error its trial raised before ends the trial at once, and so does a trial that raises
  the error every trial ended so far has ended with (while none has ended without one).
- When the first N trials to end have all ended with the same error and none has ended
  without one, the sweep stops (:attr:`FailureRule.stopped`): no new trial and no retry. The
  trials still running, and those owed a retry, stay unfinished in the record, as those of an
  interrupted sweep do, for a ``--resume`` once the error is fixed.

An error's signature is its type, the first line of its message and the user's file:line (as
:func:`sweeps.record.error_line` writes them). A failure that is not the trial's own exception
(its worker process or node was lost, or ``--trial-timeout`` killed it) has none: it is
retried up to ``--max-failures`` times, and a trial it ends is not the same error as another's.
"""

from __future__ import annotations

from collections import Counter

from sweeps.record import StoppedOn

RETRY, END, LEAVE = "retry", "end", "leave"  # what to do with a trial that has just failed


class FailureRule:
    """Retries and ``--fail-fast`` over the trials of one run of a sweep, keyed by name."""

    def __init__(self, max_failures: int, fail_fast: int, succeeded: bool = False) -> None:
        """``succeeded``: a trial of the sweep has already ended without an error (in an
        earlier run of it), so the model does not fail in every trial."""
        self.max_failures, self.fail_fast = max_failures, fail_fast
        self.armed = fail_fast > 0 and not succeeded  # no trial has ended but with one error
        self.failures: Counter[str] = Counter()  # by trial: its failures in this run
        self.last: dict[str, str | None] = {}  # by trial: its last failure's signature
        self.repeated: str | None = None  # the error every trial ended so far ended with
        self.ended_with: list[str] = []  # those trials, in the order they ended
        self.stopped: StoppedOn | None = None

    def failed(self, trial: str, signature: str | None) -> str:
        """What to do with ``trial``, which has just failed with ``signature``: RETRY it, END
        it (in ERROR), or LEAVE it unfinished (a retry it is owed, but the sweep stops)."""
        self.failures[trial] += 1
        again = signature is not None and signature in (self.last.get(trial), self.repeated)
        self.last[trial] = signature
        if self.failures[trial] <= self.max_failures and not (self.fail_fast and again):
            return LEAVE if self.stopped else RETRY
        self._ended_in_error(trial, signature)
        return END

    def ended(self, trial: str) -> None:
        """``trial`` ended without an error (completed, or pruned): the model can train."""
        self._disarm()

    def _ended_in_error(self, trial: str, signature: str | None) -> None:
        if not self.armed:
            return
        if signature is None or (self.repeated is not None and signature != self.repeated):
            self._disarm()
            return
        self.repeated = signature
        self.ended_with.append(trial)
        if len(self.ended_with) >= self.fail_fast and self.stopped is None:
            self.stopped = StoppedOn(signature, tuple(self.ended_with))

    def _disarm(self) -> None:
        """No stop from now on, and no error counts as repeated across trials; a stop already
        decided holds."""
        self.armed, self.repeated = False, None
