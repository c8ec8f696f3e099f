"""trainable.result.EpochResult: what TrainingRun.step returns, Ray's dict of it, and reading one
back from a result dict or a journal record."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from trainable.result import EpochResult

FIELDS = (
    "epoch", "train_loss", "train_acc", "train_rows", "val_loss", "val_acc", "lr",
    "best_val_loss", "best_epoch", "diverged", "done",
)  # fmt: skip
RECORD = {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "train_rows": 120, "val_loss": 0.6,
          "val_acc": 0.75, "lr": 0.01, "best_val_loss": 0.6, "best_epoch": 2, "diverged": False,
          "done": True}  # fmt: skip


def test_the_fields_are_the_loops_metrics_in_order_and_done_last() -> None:
    assert EpochResult.FIELDS == FIELDS
    assert [f.name for f in dataclasses.fields(EpochResult)] == list(FIELDS)


def test_as_dict_is_a_plain_dict_of_the_fields_in_order() -> None:
    result = EpochResult(**RECORD)
    plain = result.as_dict()
    assert type(plain) is dict and list(plain) == list(FIELDS) and plain == RECORD
    assert EpochResult.of(plain) == result


def test_a_result_is_frozen_and_done_defaults_to_false() -> None:
    result = EpochResult(**{k: v for k, v in RECORD.items() if k != "done"})
    assert result.done is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.val_loss = 0.0  # type: ignore[misc]


def test_of_ignores_other_keys_as_ray_and_the_journal_add_them() -> None:
    ray_result = {**RECORD, "trial_id": "abc", "training_iteration": 2, "rung": 1.0}
    assert EpochResult.of(ray_result) == EpochResult(**RECORD)


def test_of_reads_an_older_record_without_train_rows_or_done() -> None:
    older = {k: v for k, v in RECORD.items() if k not in ("train_rows", "done")}
    result = EpochResult.of(older)
    assert result.train_rows is None and result.done is False
    assert EpochResult.of({**older, "train_rows": None}).train_rows is None


def test_of_names_the_fields_a_mapping_lacks() -> None:
    with pytest.raises(KeyError, match="val_loss, val_acc"):
        EpochResult.of({k: v for k, v in RECORD.items() if k not in ("val_loss", "val_acc")})


def test_importing_the_result_imports_no_torch() -> None:
    code = "import sys, trainable.result; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_runs_step_is_a_result_done_at_its_last_epoch() -> None:
    from trainable.run import TrainingRun

    run = TrainingRun({"model_args": {"hidden": [8]}, "max_epochs": 2, "batch_size": 64})
    first, last = run.step(), run.step()
    assert isinstance(first, EpochResult) and (first.epoch, last.epoch) == (1, 2)
    assert (first.done, last.done) == (False, True) and not last.diverged
    assert last.train_rows == len(run.split.indices[0])
