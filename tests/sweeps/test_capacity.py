"""How many trials run at once: as many as the cluster holds now, read again as it grows or
shrinks; and what an autoscaling cluster is asked for."""

from __future__ import annotations

import pytest
from ray.tune.search import Searcher

from sweeps.config import SweepConfig
from sweeps.tune import capacity, cluster
from sweeps.tune.capacity import REREAD_S, ClusterLimiter, at_once, slots


@pytest.mark.parametrize(
    ("resources", "options", "expected"),
    [
        ({"CPU": 2}, {}, 3),  # 2 CPUs: 2 running, 1 queued
        ({"CPU": 2}, {"cpus_per_trial": 2}, 2),
        ({"CPU": 2}, {"max_concurrent": 1}, 1),  # the user's limit, below the cluster's
        ({"CPU": 2}, {"max_concurrent": 5}, 3),  # more than fits: the cluster decides
        ({"CPU": 8, "GPU": 1}, {"gpus_per_trial": 0.5}, 3),  # the GPUs hold two
        ({}, {}, 2),  # no CPU known: one slot
    ],
)
def test_one_trial_queued_beyond_what_runs(resources, options, expected):
    cfg = SweepConfig(**options)
    found = slots(resources, cfg.cpus_per_trial, cfg.gpus_per_trial)
    assert at_once(found, cfg.max_concurrent) == expected


class Proposals(Searcher):
    """A searcher that always has a trial to propose."""

    def __init__(self) -> None:
        super().__init__(metric="val_loss", mode="min")

    def suggest(self, trial_id: str) -> dict:
        return {"trial": trial_id}

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        pass


def limiter(cluster_cpus: list[float], monkeypatch, **options) -> ClusterLimiter:
    """A limiter over a cluster whose CPUs are read from ``cluster_cpus`` (changed in place)."""
    monkeypatch.setattr(capacity.time, "monotonic", lambda: clock[0])
    return ClusterLimiter(
        Proposals(), SweepConfig(**options), left=lambda: 100,
        resources=lambda: {"CPU": cluster_cpus[0]},
    )  # fmt: skip


clock = [0.0]


def proposed(limiter: ClusterLimiter, count: int) -> int:
    """How many of ``count`` new trials it proposes now."""
    return sum(limiter.suggest(f"t{clock[0]}-{i}") is not None for i in range(count))


def test_a_node_that_joins_gets_trials_and_one_that_leaves_takes_them_away(monkeypatch):
    cpus = [2.0]
    clock[0] = 0.0
    sweep = limiter(cpus, monkeypatch)
    assert proposed(sweep, 10) == 3  # 2 running, 1 queued
    cpus[0] = 6.0  # a 4-CPU node joins
    clock[0] += REREAD_S
    assert proposed(sweep, 10) == 4 and len(sweep.live_trials) == 7
    cpus[0] = 2.0  # it leaves: its trials end (they are retried), and no new one is proposed
    clock[0] += REREAD_S
    for trial_id in sorted(sweep.live_trials)[:4]:
        sweep.on_trial_complete(trial_id)
    assert proposed(sweep, 10) == 0 and len(sweep.live_trials) == 3


def test_the_cluster_is_read_at_most_once_a_second(monkeypatch):
    cpus = [2.0]
    clock[0] = 0.0
    sweep = limiter(cpus, monkeypatch)
    proposed(sweep, 10)
    cpus[0] = 6.0
    clock[0] += REREAD_S / 2
    assert proposed(sweep, 10) == 0  # not yet read again
    clock[0] += REREAD_S / 2
    assert proposed(sweep, 10) == 4


def test_a_joined_autoscaling_cluster_is_asked_for_the_trials_left(monkeypatch):
    asked: list[int] = []
    monkeypatch.setattr(capacity, "ask_autoscaler", lambda trials, cfg: asked.append(trials))
    monkeypatch.setattr(cluster, "request_resources", lambda bundles: asked.append(len(bundles)))
    left = [10]
    clock[0] = 0.0
    monkeypatch.setattr(capacity.time, "monotonic", lambda: clock[0])
    cfg = SweepConfig(address="127.0.0.1:6379", max_concurrent=4)
    sweep = ClusterLimiter(Proposals(), cfg, left=lambda: left[0], resources=lambda: {"CPU": 0})
    proposed(sweep, 10)
    assert asked == [4]  # up to --max-concurrent: the autoscaler caps it at its maximum
    left[0] = 0  # the phase has proposed every trial: room for those that run, no more
    clock[0] += REREAD_S
    sweep.on_trial_complete(next(iter(sweep.live_trials)))
    assert asked == [4, 1]
    cluster.withdraw(cfg)  # the sweep has ended
    assert asked == [4, 1, 0]


def test_a_local_ray_is_asked_nothing(monkeypatch):
    asked: list[int] = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(capacity, "ask_autoscaler", lambda trials, cfg: asked.append(trials))
    monkeypatch.setattr(cluster, "request_resources", lambda bundles: asked.append(len(bundles)))
    sweep = ClusterLimiter(Proposals(), SweepConfig(), resources=lambda: {"CPU": 2})
    proposed(sweep, 3)
    cluster.withdraw(SweepConfig())
    assert asked == []


def test_its_state_leaves_out_the_searcher_and_the_cluster(monkeypatch):
    sweep = limiter([2.0], monkeypatch)
    state = sweep.get_state()
    assert "searcher" not in state and "_left" not in state and "_resources" not in state
    assert state["max_concurrent"] == 3
