"""Trials shorter than a worker's start, and one worker that starts late: it still trains.

Ray Tune with actor reuse gives a trial to a worker that has just freed up and kills the
actor that was starting for it. Picking the oldest pending trial, as Ray does, took the late
worker's trial every time, and the sweep ran in one process; picking the newest took it
whenever the late worker's trial was the newest. ``SweepASHA`` picks the oldest whose
actor is not starting.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.slow


def test_a_worker_that_starts_late_keeps_its_trial(tmp_path, sweep_process, faults, figures):
    env = faults.env(start_delay_s=3)  # every second worker process: as if its node were slow
    started = time.monotonic()
    run = sweep_process(
        "--name", "late", "--storage", str(tmp_path), "--num-trials", "24", "--max-epochs", "20",
        "--hidden", "64", "--space", "small", env=env,
    )  # fmt: skip
    assert run.wait() == 0, run.log.read_text()[-3000:]
    wall = time.monotonic() - started

    epochs_by_pid: dict[int, int] = {}
    for path in (tmp_path / "late").glob("trial_*/result.json"):
        for line in path.read_text().splitlines():
            pid = json.loads(line)["pid"]
            epochs_by_pid[pid] = epochs_by_pid.get(pid, 0) + 1
    figures.record(
        "worker started late",
        start_delay_s=3,
        worker_processes_started=len(list((faults.markers / "started").iterdir())),
        epochs_per_worker=sorted(epochs_by_pid.values()),
        sweep_wall_s=round(wall, 1),
    )
    assert len(epochs_by_pid) == 2, epochs_by_pid
