"""How many trials the sweep runs at once: as many as its cluster holds now, not when it began.

Ray Tune's ``ConcurrencyLimiter`` keeps a fixed number of trials proposed. Here the number is
read again from the cluster as the sweep runs (:class:`ClusterLimiter`): a node that joins
gets trials within seconds, and a node that leaves lowers it (its trials fail and the sweep
retries them elsewhere, see :mod:`sweeps.tune.failures`). The searcher stays one proposal
ahead of the workers, so TPE learns from every result but the newest few.

An autoscaling cluster (Ray's autoscaler, as ``ray up`` or KubeRay run it) grows for demand it
sees. Trials the limiter holds back are no demand, so the sweep asks the autoscaler itself,
through Ray's ``request_resources``, for room for the trials it has left, up to
``--max-concurrent``; the autoscaler caps that at its own maximum. The request shrinks to the
trials that still run once the phase has none left to propose, so the cluster scales down at
the sweep's tail, and is withdrawn when the sweep ends (``sweeps.tune.cluster.withdraw``). On
a cluster without an autoscaler the request is a note that nobody reads.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import ray
from ray.tune.search import ConcurrencyLimiter, Searcher

from sweeps.config import SweepConfig
from sweeps.tune.cluster import ask_autoscaler, wanted

REREAD_S = 1.0  # how often the cluster's size is read again, at most


def slots(resources: dict[str, float], cpus_per_trial: float, gpus_per_trial: float) -> int:
    """How many trials the cluster's CPUs (and GPUs) hold at once; at least one."""
    held = resources.get("CPU", 1) // cpus_per_trial
    if gpus_per_trial:
        held = min(held, resources.get("GPU", 0) // gpus_per_trial)
    return max(1, int(held))


def at_once(slots_now: int, max_concurrent: int) -> int:
    """How many trials to keep proposed: those that run at once, plus one queued.

    The queued trial is the one a worker that frees up takes (see
    ``sweeps.tune.tuner.SweepASHA``), and the searcher stays a proposal ahead of the
    workers. A ``--max-concurrent`` below the cluster's capacity gets no queued trial, which
    could run alongside.
    """
    if max_concurrent and max_concurrent < slots_now:
        return max_concurrent
    return slots_now + 1


class ClusterLimiter(ConcurrencyLimiter):
    """Ray Tune's ConcurrencyLimiter whose limit follows the cluster's size, and which keeps
    the autoscaler asked for the trials the sweep has left (see the module's docstring).

    ``left`` says how many trials the searcher still has to propose (its current phase's);
    ``resources`` reads the cluster's total resources (Ray's ``cluster_resources``).
    """

    def __init__(
        self,
        searcher: Searcher,
        cfg: SweepConfig,
        *,
        left: Callable[[], int] = lambda: 0,
        resources: Callable[[], dict[str, float]] = ray.cluster_resources,
    ) -> None:
        self.cfg = cfg
        self._left, self._resources = left, resources
        self._read_at = -math.inf
        self.asked = -1  # trials the autoscaler was last asked for
        super().__init__(searcher, max_concurrent=self._limit())

    def _limit(self) -> int:
        found = slots(self._resources(), self.cfg.cpus_per_trial, self.cfg.gpus_per_trial)
        return at_once(found, self.cfg.max_concurrent or 0)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        self.follow_cluster()
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        super().on_trial_complete(trial_id, result=result, error=error)
        self.follow_cluster()

    def follow_cluster(self, now: float | None = None) -> None:
        """Read the cluster's size again (at most every :data:`REREAD_S`): the limit, and
        what the autoscaler is asked for."""
        now = time.monotonic() if now is None else now
        if now - self._read_at < REREAD_S:
            return
        self._read_at = now
        self.max_concurrent = self._limit()
        # A local Ray has no autoscaler; a joined cluster may (ray up's, KubeRay's).
        asking = wanted(self.cfg, len(self.live_trials) + self._left())
        if self.cfg.joins_cluster and asking != self.asked:
            ask_autoscaler(asking, self.cfg)
            self.asked = asking

    def get_state(self) -> dict:
        """ConcurrencyLimiter's state, less what reads the searcher and the cluster."""
        unread = ("searcher", "cfg", "_left", "_resources")
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in unread})
