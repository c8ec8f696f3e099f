"""``--trial-timeout``: a trial that sends no result for that long is stopped and recorded.

Ray Tune's stoppers and schedulers act on results, which a hung trial (a deadlock, a stuck
NFS read, a wedged GPU) never sends. This callback looks at every running trial on each step
of Ray's controller and kills the actor of one that has been silent too long, which frees its
CPUs and GPUs at once. The sweep then treats it as any trial whose worker was lost: retried
from its last checkpoint (as a new Ray trial) up to ``--max-failures`` times, then ended as
ERROR (see :mod:`sweeps.tune.failures`; a kill is never an error that repeats). Each kill is
recorded in the sweep folder's ``timeouts.json`` (Ray trial folder: times stopped); the tables
give the reason, counting the kills of every Ray trial that ran the trial.
"""

from __future__ import annotations

import logging
import time
from pathlib import PurePosixPath
from typing import Any

import ray
from ray.tune import Callback
from ray.tune.experiment import Trial

from sweeps.record import record_timeout
from sweeps.storage import SweepFolder
from sweeps.tune import ray_compat

logger = logging.getLogger(__name__)


class HangWatchdog(Callback):
    def __init__(self, timeout_s: float, folder: SweepFolder) -> None:
        self.timeout_s, self.folder = timeout_s, folder
        self._alive: dict[str, float] = {}  # trial id: when it last showed progress

    def _seen(self, trial: Trial, **_: Any) -> None:
        self._alive[trial.trial_id] = time.monotonic()

    def _gone(self, trial: Trial, **_: Any) -> None:
        self._alive.pop(trial.trial_id, None)

    # Ray calls its callbacks with keyword arguments: iteration, trials, trial, ...
    on_trial_start = on_trial_restore = on_trial_save = on_trial_result = _seen
    on_trial_recover = on_trial_error = on_trial_complete = _gone

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = time.monotonic()
        for trial in trials:
            since = self._alive.get(trial.trial_id)
            actor = ray_compat.trial_actor(trial)
            if trial.status != Trial.RUNNING or since is None or actor is None:
                continue
            if now - since > self.timeout_s:
                self._gone(trial)
                times = record_timeout(self.folder, PurePosixPath(trial.path).name)
                logger.warning(
                    "trial %s sent no result for %gs (--trial-timeout); stopping it (time %d)",
                    trial, self.timeout_s, times,
                )  # fmt: skip
                ray.kill(actor)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_alive": {}}  # clock readings mean nothing in another driver
