"""An error that every trial meets stops the sweep (``--fail-fast``) instead of spending it.

The faults are injected into the worker processes of a real ``python -m sweeps.run`` (see
``faults.py``, which stands for the user's code: its file:line is the one the sweep names).
"""

from __future__ import annotations

import re
import time

import pyarrow.parquet as pq
import pytest

from sweeps.record import SweepRecord
from sweeps.storage import SweepFolder

pytestmark = pytest.mark.slow

MESSAGE = "injected fault in every trial"
EVERY = {"kind": "raise", "epoch": 2, "times": 99, "message": MESSAGE}  # the same error each time
ERROR = rf"RuntimeError: {MESSAGE} \(\S+/faults\.py:\d+\)"
STOPPED = re.compile(
    rf"Sweep stopped \(--fail-fast\): (trial_\d{{3}}), (trial_\d{{3}}) and (trial_\d{{3}}) "
    rf"each ended with ({ERROR})"
)
QUICK = [
    "--checkpoint-every", "1", "--hidden", "16", "--space", "small", "--max-epochs", "3",
    "--grace-period", "3", "--confirm-seeds", "0",
]  # fmt: skip


def trials(folder) -> list[dict]:
    return pq.read_table(folder / "trials.parquet").to_pylist()


def last_line(log) -> str:
    return log.read_text().rstrip().splitlines()[-1]


def test_an_error_in_every_trial_stops_the_sweep_after_three_trials_and_resume_goes_on(
    tmp_path, sweep_process, faults, figures
):
    started = time.monotonic()
    run = sweep_process(
        "--name", "broken", "--storage", str(tmp_path), "--num-trials", "12", *QUICK,
        env=faults.env(every=EVERY),
    )  # fmt: skip
    assert run.wait() == 1, run.log.read_text()[-3000:]
    wall = time.monotonic() - started

    folder = tmp_path / "broken"
    stopped = STOPPED.fullmatch(last_line(run.log))
    assert stopped, run.log.read_text()[-3000:]
    rows = trials(folder)
    errored = [row for row in rows if row["status"] == "ERROR"]
    assert sorted(f"trial_{row['trial_index']:03d}" for row in errored) == sorted(
        stopped.groups()[:3]
    )
    assert all(row["error"] == stopped[4] and row["epochs"] == 1 for row in errored)
    assert {row["status"] for row in rows} - {"ERROR"} <= {"INCOMPLETE"}  # stopped, left to go on
    assert len(rows) < 12 and not (folder / "best.json").exists()
    assert (folder / "epochs.parquet").exists() and (folder / "report.html").exists()
    record = SweepRecord(SweepFolder.in_storage(str(tmp_path), "broken"))
    assert [t.status for t in record.trials()].count("ERROR") == 3  # Optuna: FAIL
    assert record.stopped_on.error == stopped[4]
    injected = sum(len(faults.injected(index)) for index in range(12))
    asked = len(rows)

    # Fixed (no fault now), the sweep goes on: the errors stay recorded, the rest is trained.
    run = sweep_process("--name", "broken", "--storage", str(tmp_path), "--resume")
    assert run.wait() == 0, run.log.read_text()[-3000:]
    rows = trials(folder)
    assert len(rows) == 12 and not last_line(run.log).startswith("Sweep stopped")
    assert [row["trial_index"] for row in rows if row["status"] == "ERROR"] == [
        row["trial_index"] for row in errored
    ]
    assert {row["status"] for row in rows} <= {"ERROR", "COMPLETE", "PRUNED"}
    figures.record(
        "error in every trial", trials=12, faults_injected=injected, trials_errored=len(errored),
        trials_asked=asked, exit_code=1, sweep_wall_s=round(wall, 1),
    )  # fmt: skip


def test_a_sweep_whose_first_trials_succeed_keeps_going_and_retries_each_error_once(
    tmp_path, sweep_process, faults
):
    # At most 3 trials are proposed at once, so trials 0-2 (no fault) end before any other.
    run = sweep_process(
        "--name", "some", "--storage", str(tmp_path), "--num-trials", "6",
        "--max-concurrent", "2", *QUICK, env=faults.env(every=EVERY, t0=None, t1=None, t2=None),
    )  # fmt: skip
    assert run.wait() == 0, run.log.read_text()[-3000:]
    rows = {row["trial_index"]: row for row in trials(tmp_path / "some")}
    assert [rows[i]["status"] for i in range(6)] == ["COMPLETE"] * 3 + ["ERROR"] * 3
    for index in (3, 4, 5):
        assert re.fullmatch(ERROR, rows[index]["error"])
        assert faults.injected(index) == [1, 1]  # retried once: the same error, not again


def test_fail_fast_off_spends_every_retry_and_exits_1_without_a_usable_model(
    tmp_path, sweep_process, faults
):
    run = sweep_process(
        "--name", "off", "--storage", str(tmp_path), "--num-trials", "3", "--fail-fast", "0",
        "--max-failures", "1", *QUICK, env=faults.env(every=EVERY),
    )  # fmt: skip
    assert run.wait() == 1, run.log.read_text()[-3000:]
    assert "No trial produced a usable model." in run.log.read_text()
    assert "Sweep stopped" not in run.log.read_text()
    rows = trials(tmp_path / "off")
    assert [row["status"] for row in rows] == ["ERROR"] * 3
    for index in range(3):
        assert faults.injected(index) == [1, 1]  # --max-failures 1: one retry each
