"""The test split's lockbox: one checkpoint read per sweep, a second refused unless asked for,
every reading recorded."""

from __future__ import annotations

import pytest

from sweeps import lockbox
from sweeps.storage import SweepFolder
from trainable.run import TrainingRun

CONFIG = {
    "dataset": "digits", "model_args": {"hidden": (16,)}, "optimizer": "adam", "lr": 0.01,
    "gamma": 0.9, "batch_size": 64, "max_epochs": 2, "seed": 0, "trial_index": 0,
}  # fmt: skip


@pytest.fixture
def folder(tmp_path):
    return SweepFolder.in_storage(str(tmp_path), "s")


def checkpoint(tmp_path, trial_index):
    run = TrainingRun({**CONFIG, "trial_index": trial_index})
    run.step()
    directory = tmp_path / f"trial_{trial_index:03d}" / "checkpoint_000000"
    run.save(str(directory))
    return str(directory), run


def test_a_reading_is_recorded_and_the_same_checkpoint_is_not_read_again(folder, tmp_path):
    directory, run = checkpoint(tmp_path, 0)
    first = lockbox.read_test(folder, 0, directory, directory, retest=False)
    assert (first["test_loss"], first["test_acc"]) == (
        run.test()["test_loss"],
        run.test()["test_acc"],
    )
    assert first["test_rows_sha256"] == run.test()["test_rows_sha256"]
    assert first["allowed_by"] == "first reading" and first["trial_index"] == 0
    assert lockbox.read_test(folder, 0, directory, directory, retest=False) == first
    assert lockbox.readings(folder) == [first]


def test_a_second_model_is_refused_then_read_with_retest_and_recorded(folder, tmp_path):
    first, _ = checkpoint(tmp_path, 0)
    second, _ = checkpoint(tmp_path, 1)
    lockbox.read_test(folder, 0, first, first, retest=False)
    with pytest.raises(lockbox.TestSplitLocked, match=r"read already, for trial 0.*--retest"):
        lockbox.read_test(folder, 1, second, second, retest=False)
    assert len(lockbox.readings(folder)) == 1  # a refused reading reads nothing

    again = lockbox.read_test(folder, 1, second, second, retest=True)
    assert again["allowed_by"] == "--retest" and again["trial_index"] == 1
    assert [r["trial_index"] for r in lockbox.readings(folder)] == [0, 1]
    # The same rows both times: the split is the sweep's, whichever model reads it.
    assert len({r["test_rows_sha256"] for r in lockbox.readings(folder)}) == 1
