"""The sweep's record: what the journal holds of each trial, and how a resumed sweep reads it."""

from __future__ import annotations

import math
import time

import pytest
from optuna.trial import TrialState

from search_spaces import Vocabulary
from sweeps.record import Outcome, StoppingRule, SweepRecord
from sweeps.space import SweepSpace, check_space
from sweeps.storage import SweepFolder
from sweeps.tune.search import tpe_sampler
from trainable.result import EpochResult

SPACE = SweepSpace("default", Vocabulary.of("mlp"))


def test_a_trial_holds_what_was_recorded_of_it(epoch, folder):
    record = SweepRecord(folder)
    asked = record.ask(SPACE)
    record.ran_by(0, "ray-a")
    started = time.time()
    for n in (1, 2, 3):
        record.epoch(0, epoch(n, 1.0 / n), rung=1.0 if n == 1 else None)
    record.checkpoint(0, 2, "trial_000_ray-a/checkpoint_000001")
    record.ran_by(0, "ray-b")  # resumed by a later run of the sweep

    [trial] = SweepRecord(folder).trials()  # as a new driver reads it
    assert trial.number == 0 and trial.params == asked.params
    assert [e.epoch for e in trial.epochs] == [1, 2, 3]
    recorded_at = [e.reported_at for e in trial.epochs]
    assert started <= recorded_at[0] <= recorded_at[1] <= recorded_at[2] <= time.time()
    assert EpochResult.of(trial.epochs[2].as_dict()) == epoch(3, 1 / 3)
    assert trial.epochs[2].rung is None
    assert trial.epochs[0].rung == 1.0  # the ASHA milestone it was judged at
    assert trial.checkpoints == ["trial_000_ray-a/checkpoint_000001"]
    assert trial.ray_trials == ["ray-a", "ray-b"] and trial.trial_id == "ray-a"
    assert trial.folders == ["trial_000_ray-a", "trial_000_ray-b"]
    assert trial.status == "INCOMPLETE" and trial.stop_reason == "interrupted"


def test_an_ask_a_kill_cut_short_keeps_its_parameters_and_gets_the_rest(folder):
    record = SweepRecord(folder)
    distribution = check_space("default", {}, Vocabulary.of("mlp")).distributions["optimizer"]
    trial = record.study.ask({"optimizer": distribution})  # killed after its first parameter
    optimizer = trial.params["optimizer"]

    completed = SweepRecord(folder).with_params(0, SPACE)
    assert completed.params["optimizer"] == optimizer
    assert {"lr", "gamma", "activation"} <= set(completed.params)
    assert SweepRecord(folder).with_params(0, SPACE).params == completed.params


def test_an_epoch_recorded_again_is_the_same_record_and_reported_once(epoch, folder):
    record = SweepRecord(folder)
    record.ask(SPACE)
    record.epoch(0, epoch(1, 0.9))
    SweepRecord(folder).epoch(0, epoch(1, 0.9))  # re-trained after a kill, the same
    frozen = SweepRecord(folder).study.get_trials(deepcopy=False)[0]
    assert frozen.intermediate_values == {1: 0.9}


def test_ends_are_told_to_optuna_with_their_real_state(epoch, folder):
    record = SweepRecord(folder)
    for _ in range(4):
        record.ask(SPACE)
    for n, loss in enumerate([1.0, 0.8, 0.6], start=1):
        record.epoch(0, epoch(n, loss))
    record.end(0, Outcome("COMPLETE", "completed"), epoch(3, 0.6))
    record.epoch(1, epoch(1, 1.2))
    record.epoch(1, epoch(2, 1.1))
    record.end(1, Outcome("PRUNED", "asha"), epoch(2, 1.1))
    record.epoch(2, epoch(1, math.nan, diverged=True))
    record.end(2, Outcome("PRUNED", "diverged"), epoch(1, math.nan))
    record.end(3, Outcome("ERROR", "error"), None, "RuntimeError: boom (model.py:3)")

    study = SweepRecord(folder).study
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED, TrialState.FAIL]
    assert study.trials[0].value == pytest.approx(0.6)
    assert study.trials[1].intermediate_values == {1: 1.2, 2: 1.1}
    assert study.trials[2].intermediate_values == {}  # NaN is not an intermediate value
    trials = SweepRecord(folder).trials()
    assert [t.status for t in trials] == ["COMPLETE", "PRUNED", "PRUNED", "ERROR"]
    assert [t.stop_reason for t in trials] == ["completed", "asha", "diverged", "error"]
    assert trials[3].error == "RuntimeError: boom (model.py:3)"
    assert math.isnan(trials[2].epochs[0].val_loss)


def test_epochs_past_the_recorded_end_are_not_the_trials(epoch, folder):
    """A trial resumed from its epoch-2 checkpoint and ended there: epoch 3, trained before a
    kill, is not part of how it ended."""
    record = SweepRecord(folder)
    record.ask(SPACE)
    for n in (1, 2, 3):
        record.epoch(0, epoch(n, 1.0))
    record.end(0, Outcome("PRUNED", "asha"), epoch(2, 1.0))
    assert [e.epoch for e in SweepRecord(folder).trials()[0].epochs] == [1, 2]


def test_settle_ends_a_trial_whose_last_recorded_epoch_ended_it(epoch, folder):
    record = SweepRecord(folder)
    for _ in range(3):
        record.ask(SPACE)
    record.epoch(0, epoch(5, 0.5, done=True))  # the last epoch: killed before its end
    record.epoch(1, epoch(2, 0.7, done=True))  # stopped by ASHA
    record.epoch(2, epoch(2, 0.7))  # still training
    record.settle(StoppingRule(max_epochs=5, patience=3))
    trials = SweepRecord(folder).trials()
    assert [(t.status, t.stop_reason) for t in trials] == [
        ("COMPLETE", "completed"), ("PRUNED", "asha"), ("INCOMPLETE", "interrupted"),
    ]  # fmt: skip


def test_the_sampler_is_seeded_by_the_sweep_and_how_many_trials_were_asked(folder, tmp_path):
    (tmp_path / "t").mkdir()
    other = SweepFolder.in_storage(str(tmp_path), "t")
    params = []
    for place in (folder, other):
        record = SweepRecord(place)
        record.seed_sampler(tpe_sampler, 7)
        params.append([record.ask(SPACE).params for _ in range(3)])
    assert params[0] == params[1]  # the same seed, the same proposals

    resumed = SweepRecord(folder)
    resumed.seed_sampler(tpe_sampler, 7)
    fresh = SweepRecord(other)
    fresh.seed_sampler(tpe_sampler, 7)
    fresh_params = resumed.ask(SPACE).params
    assert fresh_params not in params[0]  # a resumed sampler does not replay its proposals
    assert len(resumed) == 4


def test_distributions_are_the_searched_names_in_the_order_of_the_space(folder):
    record = SweepRecord(folder)
    for _ in range(6):
        record.ask(SPACE)
    names = list(record.distributions())
    assert names[:2] == ["optimizer", "lr"] and "batch_size" not in names
