"""The tables come from the record alone: a row per trial, its epochs up to where it ended."""

from __future__ import annotations

import json

from search_spaces import Vocabulary
from sweeps.config import SweepConfig
from sweeps.record import Outcome, SweepRecord
from sweeps.results import EPOCH_COLUMNS, TRIAL_COLUMNS, write
from sweeps.space import SweepSpace
from sweeps.storage import TIMEOUTS

SPACE = SweepSpace("default", Vocabulary.of("mlp"))


def test_rows_and_epochs_follow_the_record(epoch, folder):
    record = SweepRecord(folder)
    for ray_trial in ("a", "b", "c"):
        number = record.ask(SPACE).number
        record.ran_by(number, ray_trial)
    for n in (1, 2, 3):
        record.epoch(0, epoch(n, 1.0 / n))
    record.end(0, Outcome("PRUNED", "asha"), epoch(2, 0.5, done=True))  # epoch 3: another run's
    record.epoch(1, epoch(1, 0.7))
    record.end(2, Outcome("ERROR", "error"), None, "RuntimeError: hung")
    folder.write_bytes(TIMEOUTS, json.dumps({"trial_002_c": 2}).encode())

    results = write(SweepConfig(num_trials=3, trial_timeout=30), folder, SweepRecord(folder))

    rows = results.trials.to_pylist()
    assert results.trials.column_names[:2] == list(TRIAL_COLUMNS[:2])
    assert [(r["trial_id"], r["trial_index"], r["status"], r["stop_reason"], r["epochs"])
            for r in rows] == [
        ("a", 0, "PRUNED", "asha", 2), ("b", 1, "INCOMPLETE", "interrupted", 1),
        ("c", 2, "ERROR", "timeout", 0),
    ]  # fmt: skip
    assert rows[2]["error"] == "no result for 30s (--trial-timeout), 2x"
    assert rows[0]["lr"] == SweepRecord(folder).trials()[0].params["lr"]
    epochs = results.epochs.to_pylist()
    assert [(e["trial_id"], e["epoch"]) for e in epochs] == [("a", 1), ("a", 2), ("b", 1)]
    tabled = {k: v for k, v in epoch(2, 0.5).as_dict().items() if k in EPOCH_COLUMNS}
    assert epochs[1] == {"trial_id": "a", **tabled, "reported_at": epochs[1]["reported_at"]}
    assert [e["reported_at"] for e in epochs[:2]] == sorted(e["reported_at"] for e in epochs[:2])
    assert results.interrupted and results.best is None  # trial 1 has yet to end
