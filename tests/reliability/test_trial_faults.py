"""Trials that raise or hang inside Ray's workers: retried from their checkpoint, then recorded.

The faults are injected into the worker processes of a real ``python -m sweeps.run`` (see
``faults.py``); the sweep and the other trials must go on, and Optuna must be told. A fault
that is transient raises another error at each attempt; one that repeats the same error is not
retried again (``--fail-fast``, see ``test_fail_fast.py`` for the sweep's stop).
"""

from __future__ import annotations

import json
import re
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
        t2={"kind": "raise", "epoch": 3, "times": 3, "repeats": True},  # the same error again
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
    assert faults.injected(2) == [2, 2]  # its retry met the same error: no second retry
    assert (trials[0]["status"], trials[0]["epochs"]) == ("COMPLETE", 5)
    for index, attempts in ((1, 3), (2, 2)):
        trial = trials[index]
        assert (trial["status"], trial["stop_reason"], trial["epochs"]) == ("ERROR", "error", 2)
        # The exception and the line that raised it (faults.py stands for the user's code).
        pattern = rf"RuntimeError: injected fault: trial {index} epoch 3.* \(\S+/faults\.py:\d+\)"
        assert re.fullmatch(pattern, trial["error"]), trial["error"]
        # Each attempt ran as a Ray trial of its own: Ray's record of its failure, with the
        # stack down to the line that raised, is in that trial's folder.
        error_files = sorted(folder.glob(f"trial_00{index}_*/error.txt"))
        assert len(error_files) == attempts
        for error_file in error_files:
            text = error_file.read_text()
            assert "Failure # 1" in text and "in step" in text
            assert f"RuntimeError: injected fault: trial {index} epoch 3" in text
    assert "(attempt 3)" in trials[1]["error"]  # the last attempt's error
    assert trials[3]["status"] == "COMPLETE"
    assert optuna_states(folder) == {0: "COMPLETE", 1: "FAIL", 2: "FAIL", 3: "COMPLETE"}
    figures.record(
        "trial raises", faults_injected=7, retries=5, trials_finished=len(trials),
        errored=2, epochs_lost=0, sweep_wall_s=round(wall, 1),
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
    stopped = json.loads((folder / "timeouts.json").read_text())  # by Ray trial folder
    assert sorted(stopped.values()) == [1, 1, 1]  # a retry is a Ray trial of its own
    assert sorted(name[:9] for name in stopped) == ["trial_000", "trial_001", "trial_001"]
    assert optuna_states(folder) == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE"}
    figures.record(
        "trial hangs", faults_injected=3, timeout_s=timeout, trials_finished=len(trials),
        errored=1, epochs_lost=0, sweep_wall_s=round(wall, 1),
    )  # fmt: skip
