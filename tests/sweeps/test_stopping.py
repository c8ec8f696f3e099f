"""Why a trial ended: the one rule shared by the stopper and the record."""

from __future__ import annotations

import pytest

from sweeps.record import COMPLETE, ERROR, INCOMPLETE, PRUNED, Outcome, StoppingRule
from sweeps.tune.tuner import SweepStopper
from trainable.result import EpochResult


def result(epoch, best_epoch, diverged=False, done=True):
    return EpochResult(
        epoch=epoch, train_loss=1.0, train_acc=0.5, train_rows=8, val_loss=1.0, val_acc=0.5,
        lr=0.1, best_val_loss=1.0, best_epoch=best_epoch, diverged=diverged, done=done,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("last", "error", "expected"),
    [
        (result(10, 10), False, Outcome(COMPLETE, "completed")),
        (result(10, 2), False, Outcome(COMPLETE, "completed")),  # reached max_epochs first
        (result(3, 1, diverged=True), False, Outcome(PRUNED, "diverged")),
        (result(7, 4), False, Outcome(PRUNED, "stalled")),
        (result(4, 3), False, Outcome(PRUNED, "asha")),
        (result(4, 3), True, Outcome(ERROR, "error")),
        (None, True, Outcome(ERROR, "error")),
        (None, False, Outcome(INCOMPLETE, "interrupted")),
        (result(4, 3, done=False), False, Outcome(INCOMPLETE, "interrupted")),
        (result(4, 3, done=True), False, Outcome(PRUNED, "asha")),
    ],
)
def test_outcome(last, error, expected):
    assert StoppingRule(max_epochs=10, patience=3).outcome(last, error) == expected


def test_the_stopper_stops_one_trial_after_patience_epochs_without_improvement():
    stop = SweepStopper(StoppingRule(max_epochs=10, patience=3))
    assert not stop("t", result(5, 3).as_dict())
    assert stop("t", result(6, 3).as_dict())
    assert not stop.stop_all()


def test_a_rising_validation_loss_is_stalled():
    """Overfitting: val_loss rises after its best epoch, so the best epoch stops moving."""
    history = [1.0, 0.6, 0.5, 0.55, 0.6, 0.7]
    best_epoch = 1 + min(range(len(history)), key=history.__getitem__)
    last = result(len(history), best_epoch)
    assert StoppingRule(max_epochs=20, patience=3).outcome(last).reason == "stalled"
