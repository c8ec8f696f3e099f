"""A sweep that fits the time it is given (``--time-budget``): the clock, and the rules that
share the time between the search, what follows it, and the outputs.

The whole command ends within its allowance: Ray's start, the search, the later phases
(confirmation, the audit), the single test reading, the outputs and Ray's shutdown.

- The search proposes trials until the time left is what follows it needs: the outputs'
  reserve (:func:`reserve`, which grows with the trials), one epoch (a running trial stops at
  its next result) and the later phases' runs at full size as the measured epoch time says,
  but never more than
  :data:`LATER_SHARE` of the allowance. Its trials still running then are stopped at their
  next epoch (stop reason ``budget``).
- A later phase is planned when its turn comes, from the time left and the epoch time
  measured so far: as many of its runs as fit (confirmation: fewer seeds or fewer
  configurations, see :func:`confirmation_size`); none if none fits. Its runs still running
  once only the reserve and an epoch are left are stopped too.

Nothing here imports Ray: :mod:`sweeps.tune.deadline` applies these rules to the Ray run.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# A duration as a user writes it: seconds (90, 90s), minutes (30m), hours (2h), or a sum (1h30m).
DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Fixed costs of a sweep on a small machine (2 cores; benchmarks/README.md has the
# measurements): Ray's start and a first worker's imports before the first epoch; after the last
# trial, the tables, the test reading, the report and Ray's shutdown, with a share of the budget
# for what runs late, and the TensorBoard runs and the report's curves, which grow with the
# trials (25 ms a trial: 10 ms of TensorBoard run and 18 ms of report, measured at 103 trials).
STARTUP_S = 8.0
RESERVE_S, RESERVE_SHARE, RESERVE_PER_TRIAL_S = 4.0, 0.02, 0.025
# The later phases (confirmation, the audit) are held at most this share of the allowance.
LATER_SHARE = 0.3
EPOCHS_KEPT = 64  # the newest epoch times the estimate is the median of


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"2h"`` or ``"1h30m"``; a ValueError names
    the forms it reads."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = DURATION_PART.findall(text)
            if not parts or re.sub(r"\s", "", text) != "".join(n + u for n, u in parts):
                raise ValueError(
                    f"cannot read {value!r} as a duration; write seconds (90) or a number with "
                    "a unit: 90s, 30m, 2h, 1h30m"
                ) from None
            seconds = sum(float(number) * UNIT_S[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be a positive number of seconds, not {value!r}")
    return seconds


def shown(seconds: float) -> str:
    """``45s``, ``2m05s``, ``1h02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def reserve(allowance: float, trials: int = 0) -> float:
    """Seconds kept after the last trial for the outputs of ``trials`` and Ray's shutdown."""
    return RESERVE_S + RESERVE_SHARE * allowance + RESERVE_PER_TRIAL_S * trials


def minimum() -> float:
    """The least allowance a sweep can use: Ray's start, a first epoch and the outputs."""
    return STARTUP_S + reserve(STARTUP_S) + 2.0


def run_seconds(max_epochs: int, epoch_s: float, first_s: float | None = None) -> float:
    """A run to the full budget: its first epoch (``first_s``, which includes the trial's
    start; one more epoch if unknown), then the others."""
    first = 2 * epoch_s if first_s is None else max(first_s, epoch_s)
    return first + (max_epochs - 1) * epoch_s


def runs_fitting(seconds: float, run_s: float, workers: int) -> int:
    """How many full runs fit in ``seconds``, ``workers`` at a time."""
    if seconds <= 0:
        return 0
    return workers * math.floor(seconds / run_s) if run_s > 0 else 10**6


def waves(runs: int, workers: int) -> int:
    return math.ceil(runs / max(1, workers))


def confirmation_size(top: int, seeds: int, fitting: int) -> tuple[int, int]:
    """The most runs of ``configurations x seeds`` (at most ``top`` x ``seeds``) within
    ``fitting``; between two of as many runs, the one with more seeds, whose mean is the
    surer (3 runs: one configuration x 3 seeds rather than 3 x 1). (0, 0): none fits."""
    best = (0, 0)
    for configurations in range(1, top + 1):
        for runs in range(1, seeds + 1):
            size = configurations * runs
            if size <= fitting and (size, runs) > (best[0] * best[1], best[1]):
                best = (configurations, runs)
    return best


@dataclass
class TimeBudget:
    """The clock of one run of a budgeted sweep: ``allowance`` seconds from ``started``
    (``clock``'s time when the command started); ``spent_before``: what earlier runs of the
    sweep spent (a ``--resume``)."""

    allowance: float
    started: float = field(default_factory=time.monotonic)
    spent_before: float = 0.0
    clock: Callable[[], float] = time.monotonic
    epoch_times: list[float] = field(default_factory=list)  # seconds, newest last
    first_epochs: list[float] = field(default_factory=list)  # a trial's start to its first
    search_closed: bool = False
    trials: int = 0  # the trials the outputs will hold, so far

    @property
    def end(self) -> float:
        return self.started + self.allowance

    @property
    def reserve(self) -> float:
        return reserve(self.allowance, self.trials)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self) -> float:
        return self.end - self.clock()

    def spent(self) -> float:
        """What the sweep has spent in all, its earlier runs' included."""
        return self.spent_before + self.elapsed()

    def epoch_took(self, seconds: float, first: bool = False) -> None:
        """An epoch of a trial took ``seconds`` of wall time: between two of its results, or
        (``first``) from the trial's start to its first, which includes the start."""
        times = self.first_epochs if first else self.epoch_times
        times.append(seconds)
        del times[:-EPOCHS_KEPT]

    @property
    def epoch_s(self) -> float | None:
        """The mean wall time of a trial's epoch, as the trials run at once (that of first
        epochs, an overestimate, before any trial reported twice); None before any result.
        The mean, not the median: the epochs that checkpoint take longer, and count."""
        times = self.epoch_times or self.first_epochs
        return statistics.fmean(times) if times else None

    @property
    def first_s(self) -> float | None:
        """The median wall time from a trial's start to its first result."""
        return statistics.median(self.first_epochs) if self.first_epochs else None

    def run_s(self, max_epochs: int) -> float:
        """A run to the full budget, as measured so far (0 before any result)."""
        return run_seconds(max_epochs, self.epoch_s or 0.0, self.first_s)

    def held_for_later(self, runs: int, workers: int, max_epochs: int) -> float:
        """Seconds the search leaves for ``runs`` later runs at full size, and half a run for
        the search's tail, at most :data:`LATER_SHARE` of the allowance (all of it before an
        epoch is measured)."""
        cap = LATER_SHARE * self.allowance
        if not runs or self.epoch_s is None:
            return cap if runs else 0.0
        return min(cap, (waves(runs, workers) + 0.5) * self.run_s(max_epochs))

    def search_open(self, held: float) -> bool:
        """Whether the search may go on, ``held`` seconds being kept for the later phases."""
        if not self.search_closed:
            self.search_closed = self.left() <= self.reserve + held + (self.epoch_s or 0.0)
        return not self.search_closed

    def later_open(self) -> bool:
        """Whether a later phase's run may go on: more than the reserve and an epoch left."""
        return self.left() > self.reserve + (self.epoch_s or 0.0)

    def fitting(self, workers: int, max_epochs: int) -> int:
        """How many full runs fit in what is left but the reserve."""
        return runs_fitting(self.left() - self.reserve, self.run_s(max_epochs), workers)
