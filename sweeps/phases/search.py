"""The search phase: the trials Optuna proposes."""

from __future__ import annotations

from sweeps.phases.base import Phase
from sweeps.record import SweepRecord, TrialRecord
from sweeps.storage import STUDY


class Search(Phase):
    """The search: trials Optuna's sampler proposes, to ``--num-trials`` or until the time
    budget's share is spent, judged by ASHA and the stopper (see :mod:`sweeps.tune.search`)."""

    study = STUDY
    judged = True

    def plan(self, record: SweepRecord, search: list[TrialRecord], running: int = 0) -> int | None:
        """Its trials are asked of the sampler as workers free up, not enqueued (None: as
        many as the time budget holds)."""
        return self.cfg.trial_limit
