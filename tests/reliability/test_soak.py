"""The driver SIGKILLed at random instants, each kill followed by ``--resume``: the short soak.

A few kills of the driver and its local Ray, at seeded instants drawn uniformly over a run's
life (Ray starting, trials training, snapshots and uploads, the final tables and report), on
local storage and on S3 with the driver's local cache lost at each kill. The invariants of
issue 15 must hold after each kill and when each sweep finishes: ``soak.py`` checks them, and
runs the long version as a command.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # soak.py is a command as well as a module
import soak

pytestmark = pytest.mark.slow

SEED = 20261125


@pytest.mark.parametrize(
    ("kind", "kills"), [("local", 2), pytest.param("s3", 2, marks=pytest.mark.soak)]
)
def test_driver_kills_at_random_instants_then_resume_lose_nothing(kind, kills, tmp_path, figures):
    with soak.storage(kind, tmp_path) as storage:
        rng = random.Random(f"{SEED}-{kind}")
        result = soak.Soak(storage, kills, rng, tmp_path).run()
    figures.record(f"driver SIGKILL soak ({kind})", **result.summary())
    assert result.kills == kills, soak.report(result)
    if result.violations:
        pytest.fail(soak.report(result), pytrace=False)
