"""The tuner: how many trials are proposed at once; restoring drops stale Ray decisions."""

from __future__ import annotations

import json

import pytest

from sweeps.config import SweepConfig
from sweeps.storage import SweepFolder
from sweeps.tune.tuner import forget_pending_decisions, proposed_at_once


@pytest.mark.parametrize(
    ("options", "proposed"),
    [
        ({}, 3),  # 2 CPUs: 2 running, 1 queued
        ({"cpus_per_trial": 2}, 2),
        ({"max_concurrent": 1}, 1),  # the user's limit, below the cluster's capacity
        ({"max_concurrent": 5}, 3),  # more than fits: the cluster decides
    ],
)
def test_the_searcher_keeps_one_trial_queued_beyond_what_runs(ray_cluster, options, proposed):
    assert proposed_at_once(SweepConfig(**options)) == proposed


def test_pending_decisions_are_dropped_from_the_newest_snapshot_only(tmp_path):
    folder = SweepFolder.in_storage(str(tmp_path), "s")
    runner = {
        "_cached_trial_decisions": {"a1": "STOP"}, "_queued_trial_decisions": {"b2": "CONTINUE"},
        "_iteration": 300,
    }  # fmt: skip
    state = {"trial_data": [], "runner_data": runner, "stats": {}}
    for stamp in ("2026-11-25_03-44-06", "2026-11-25_03-44-47"):
        folder.write_bytes(f"experiment_state-{stamp}.json", json.dumps(state).encode())

    forget_pending_decisions(folder)

    newest = json.loads(folder.read_text("experiment_state-2026-11-25_03-44-47.json"))
    assert newest["runner_data"] == {
        "_cached_trial_decisions": {}, "_queued_trial_decisions": {}, "_iteration": 300,
    }  # fmt: skip
    older = json.loads(folder.read_text("experiment_state-2026-11-25_03-44-06.json"))
    assert older == state


def test_a_folder_without_snapshots_is_left_alone(tmp_path):
    folder = SweepFolder.in_storage(str(tmp_path), "s")
    forget_pending_decisions(folder)
    assert not folder.exists()
