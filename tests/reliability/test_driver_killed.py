"""The driver SIGKILLed at random moments, several times, then ``--resume``: nothing lost.

Each kill takes the driver's whole process group (its local Ray included) at a seeded random
point of progress, counted in epochs reported. The resumed sweep must end with exactly the
trials asked for, all in a terminal state, every epoch once in the tables, the re-trained
epochs identical to the first time, and Optuna's study agreeing with Ray's record.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from sweeps.storage import JOURNAL, STUDY

pytestmark = pytest.mark.slow

KILLS, SEED = 3, 20261125
ARGS = [
    "--name", "crashy", "--num-trials", "8", "--max-epochs", "8", "--grace-period", "3",
    "--checkpoint-every", "2", "--hidden", "32",
]  # fmt: skip
STATES = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "ERROR": "FAIL"}


def reports(folder: Path) -> dict[str, list[dict]]:
    """Every result each trial reported to Ray, in order, re-trained epochs included."""
    found = {}
    for path in sorted(folder.glob("trial_*/result.json")):
        lines = path.read_text().splitlines()
        found[path.parent.name] = [json.loads(line) for line in lines if line.endswith("}")]
    return found


def reported(folder: Path) -> int:
    return sum(len(results) for results in reports(folder).values())


def test_repeated_driver_kills_then_resume_lose_nothing(tmp_path, sweep_process, figures):
    folder = tmp_path / "crashy"
    storage = ["--storage", str(tmp_path)]
    rng = random.Random(SEED)
    kill_points = []
    for attempt in range(KILLS):
        run = sweep_process(*ARGS, *storage, *(["--resume"] if attempt else []))
        target = reported(folder) + rng.randint(3, 12)
        while run.running() and reported(folder) < target:
            time.sleep(0.02)
        assert run.running(), f"the sweep ended before kill {attempt + 1}; see {run.log}"
        run.kill()
        kill_points.append(reported(folder))

    started = time.monotonic()
    assert sweep_process(*ARGS, *storage, "--resume").wait() == 0, tmp_path / "sweep.log"
    recovery = time.monotonic() - started

    trials = pq.read_table(folder / "trials.parquet").to_pylist()
    assert sorted(t["trial_index"] for t in trials) == list(range(8))
    assert {t["status"] for t in trials} <= set(STATES)

    epochs = pq.read_table(folder / "epochs.parquet").to_pylist()
    for trial in trials:
        mine = [e["epoch"] for e in epochs if e["trial_id"] == trial["trial_id"]]
        assert mine == list(range(1, trial["epochs"] + 1))

    raw = reports(folder)
    restarts = resumed_from_checkpoint = epochs_lost = 0
    for results in raw.values():
        first: dict[int, float] = {}
        for before, result in zip([None, *results], results, strict=False):
            epoch = result["epoch"]
            if before and result["iterations_since_restore"] == 1:  # a restore
                restarts += 1
                resumed_from_checkpoint += epoch > 1
                epochs_lost += before["epoch"] - (epoch - 1)
            # A re-trained epoch is exactly what it was the first time.
            assert first.setdefault(epoch, result["val_loss"]) == result["val_loss"]
    assert resumed_from_checkpoint >= 1

    study = optuna.load_study(
        study_name=STUDY,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL))
        ),
    )
    assert len(study.trials) == len(trials)
    by_number = {t.number: t for t in study.trials}
    for trial in trials:
        ot = by_number[trial["trial_index"]]
        assert ot.state.name == STATES[trial["status"]], trial
        assert ot.params == {k: v for k, v in trial.items() if k in ot.params and v is not None}
        if ot.state.name == "COMPLETE":
            assert ot.value == trial["best_val_loss"]

    configs = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(configs)) == len(configs)  # a restored sampler does not repeat itself
    figures.record(
        "driver SIGKILL", faults_injected=KILLS, kill_points_epochs=kill_points,
        trials_finished=len(trials), restarts=restarts,
        resumed_from_checkpoint=resumed_from_checkpoint,
        epochs_lost=epochs_lost,
        time_to_finish_after_last_kill_s=round(recovery, 1),
    )  # fmt: skip
