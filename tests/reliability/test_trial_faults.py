"""Trials that raise or hang inside Ray's workers: retried from their checkpoint, then recorded.

The faults are injected into the worker processes of a real ``python -m sweeps.run`` (see
``faults.py``); the sweep and the other trials must go on, and Optuna must be told.
"""

from __future__ import annotations

import json
import time

import optuna
import pyarrow.parquet as pq
import pytest

from sweeps.storage import JOURNAL, STUDY

pytestmark = pytest.mark.slow

COMMON = ["--checkpoint-every", "1", "--hidden", "16", "--space", "small"]


def tables(folder):
    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    epochs = pq.read_table(folder / "epochs.parquet").to_pylist()
    by_index = {t["trial_index"]: t for t in trials}
    for trial in trials:
        mine = [e["epoch"] for e in epochs if e["trial_id"] == trial["trial_id"]]
        assert mine == list(range(1, trial["epochs"] + 1)), trial  # no epoch twice or missing
    return by_index


def optuna_states(folder):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL))
    )
    study = optuna.load_study(study_name=STUDY, storage=storage)
    return {t.number: t.state.name for t in study.trials}


def test_a_raising_trial_is_retried_from_its_checkpoint_then_recorded_as_errored(
    tmp_path, sweep_process, faults, figures
):
    env = faults.env(
        t0={"kind": "raise", "epoch": 3, "times": 2},  # recovers on its third attempt
        t1={"kind": "raise", "epoch": 3, "times": 3},  # one more than --max-failures allows
    )
    started = time.monotonic()
    run = sweep_process(
        "--name", "raises", "--storage", str(tmp_path), "--num-trials", "4",
        "--max-epochs", "5", "--grace-period", "5", "--patience", "5", "--max-failures", "2",
        *COMMON, env=env,
    )  # fmt: skip
    assert run.wait() == 0, run.log.read_text()[-3000:]
    wall = time.monotonic() - started

    folder = tmp_path / "raises"
    trials = tables(folder)
    assert faults.injected(0) == [2, 2]  # each retry restored the epoch-2 checkpoint
    assert faults.injected(1) == [2, 2, 2]
    assert (trials[0]["status"], trials[0]["epochs"]) == ("COMPLETE", 5)
    assert (trials[1]["status"], trials[1]["stop_reason"]) == ("ERROR", "error")
    assert "injected fault: trial 1 epoch 3" in trials[1]["error"]
    assert trials[1]["epochs"] == 2
    assert [trials[i]["status"] for i in (2, 3)] == ["COMPLETE", "COMPLETE"]
    (error_file,) = folder.glob(f"{trials[1]['trial_id'].join(['*', '*'])}/error.txt")
    error_text = error_file.read_text()
    # Ray's record of each attempt, with the stack down to the line that raised.
    assert error_text.count("RuntimeError: injected fault: trial 1 epoch 3") == 3
    assert "Failure # 3" in error_text and "in step" in error_text
    assert optuna_states(folder) == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "COMPLETE"}
    figures.record(
        "trial raises", faults_injected=5, retries=4, trials_finished=len(trials),
        errored=1, epochs_lost=0, sweep_wall_s=round(wall, 1),
    )  # fmt: skip


def test_a_hung_trial_is_stopped_after_the_timeout_and_its_cpus_go_to_the_next(
    tmp_path, sweep_process, faults, figures
):
    env = faults.env(
        t0={"kind": "hang", "epoch": 2, "times": 1},  # hangs once, then recovers
        t1={"kind": "hang", "epoch": 2, "times": 5},  # hangs every time
    )
    timeout = 4
    started = time.monotonic()
    run = sweep_process(
        "--name", "hangs", "--storage", str(tmp_path), "--num-trials", "3",
        "--max-epochs", "3", "--grace-period", "3", "--max-failures", "1",
        "--cpus-per-trial", "2",  # one trial at a time: the next starts only once CPUs are free
        "--trial-timeout", str(timeout), *COMMON, env=env,
    )  # fmt: skip
    assert run.wait() == 0, run.log.read_text()[-3000:]
    wall = time.monotonic() - started

    folder = tmp_path / "hangs"
    trials = tables(folder)
    assert faults.injected(0) == [1]
    assert faults.injected(1) == [1, 1]  # the retry restored the epoch-1 checkpoint
    assert (trials[0]["status"], trials[0]["epochs"]) == ("COMPLETE", 3)
    assert (trials[1]["status"], trials[1]["stop_reason"]) == ("ERROR", "timeout")
    assert trials[1]["error"] == f"no result for {timeout}s (--trial-timeout), 2x"
    assert trials[2]["status"] == "COMPLETE"
    stopped = json.loads((folder / "timeouts.json").read_text())
    assert sorted(stopped.values()) == [1, 2]
    assert optuna_states(folder) == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE"}
    figures.record(
        "trial hangs", faults_injected=3, timeout_s=timeout, trials_finished=len(trials),
        errored=1, epochs_lost=0, sweep_wall_s=round(wall, 1),
    )  # fmt: skip
