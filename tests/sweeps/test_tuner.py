"""The tuner: how many trials are proposed at once."""

from __future__ import annotations

import pytest

from sweeps.config import SweepConfig
from sweeps.tune.tuner import proposed_at_once


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
