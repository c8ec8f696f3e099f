"""A trial's epoch history is read from both of Ray's logs of its reports."""

from __future__ import annotations

import csv
import json

import pytest
from ray.tune import Result

from sweeps.results import EPOCH_COLUMNS, _history


def report(epoch: int) -> dict:
    return {"epoch": epoch, "train_loss": 1 / epoch, "train_acc": 0.5, "val_loss": 2 / epoch,
            "val_acc": 0.4, "lr": 0.1, "trial_id": "t", "checkpoint_dir_name": None}  # fmt: skip


def trial_folder(tmp_path, json_epochs: list[int], csv_epochs: list[int]) -> Result:
    (tmp_path / "result.json").write_text(
        "".join(json.dumps(report(e)) + "\n" for e in json_epochs)
    )
    if csv_epochs:
        with (tmp_path / "progress.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(report(1)))
            writer.writeheader()
            writer.writerows(report(e) for e in csv_epochs)
    return Result.from_path(str(tmp_path))


@pytest.mark.parametrize(
    ("json_epochs", "csv_epochs"),
    [([1, 2, 4], [1, 2, 3, 4]), ([1, 2, 3, 4], [1, 2, 4]), ([1, 2, 3, 4], [])],
)
def test_every_epoch_either_log_holds(tmp_path, json_epochs, csv_epochs):
    history = _history(trial_folder(tmp_path, json_epochs, csv_epochs))
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert history[2] == {k: report(3)[k] for k in EPOCH_COLUMNS}


def test_a_reported_epoch_again_counts_once(tmp_path):
    history = _history(trial_folder(tmp_path, [1, 2, 2, 3], [1, 2, 2, 3]))
    assert [row["epoch"] for row in history] == [1, 2, 3]
