"""Confirmation: the search's best configurations run again with fresh seeds; the best mean
wins, and a lucky winner is overturned."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from search_spaces import Vocabulary
from sweeps import lockbox
from sweeps.config import SweepConfig
from sweeps.phases import Confirmation, confirm
from sweeps.record import Outcome, SweepRecord
from sweeps.results import BEST, write
from sweeps.space import SweepSpace
from trainable.run import TrainingRun

SPACE = SweepSpace("default", Vocabulary.of("mlp"))
SETTINGS = {"model_args": {"hidden": (16,)}, "max_epochs": 1}


def ended(record, number, loss, epoch_result, checkpoint=None):
    """Trial ``number`` ends after one epoch whose best val_loss is ``loss``."""
    last = epoch_result(1, loss, done=True)
    record.epoch(number, last)
    if checkpoint:
        record.checkpoint(number, 1, checkpoint)
    how = Outcome("COMPLETE", "completed") if math.isfinite(loss) else Outcome("PRUNED", "diverged")
    record.end(number, how, last)


def test_the_interval_is_students_t_over_the_runs():
    mean, low, high = confirm.interval95([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert confirm.interval95([0.5]) == (0.5, 0.5, 0.5)
    # A run that diverged or failed has no finite loss: nor has its configuration's mean.
    assert confirm.interval95([0.5, math.inf, 0.7]) == (math.inf, math.inf, math.inf)


def test_the_plan_is_each_configuration_times_each_seed_once_even_after_a_kill(folder, epoch):
    search = SweepRecord(folder)
    for number, loss in enumerate([0.3, 0.1, 0.2, math.nan]):
        search.ask(SPACE)
        ended(search, number, loss, epoch)
    phase = Confirmation(SweepConfig(confirm_top=2, confirm_seeds=3))
    runs = phase.record(folder)
    trials = search.trials()
    assert [t.number for t in confirm.candidates(trials, 2)] == [1, 2]  # NaN never qualifies

    runs.enqueue(trials[1].params, {"confirms": 1, "replicate": 1})  # then the driver died
    assert phase.plan(runs, trials) == 6
    assert phase.plan(runs, trials) == 6
    planned = sorted((a["confirms"], a["replicate"]) for a in runs.attributes())
    assert planned == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    asked = runs.ask(SPACE)  # Optuna's queue: the configuration's parameters, as enqueued
    assert asked.params == trials[1].params and (asked.origin, asked.replicate) == (1, 1)
    assert asked.config["trial_index"] == 1 and asked.config["replicate"] == 1
    assert asked.name == "confirm_001_1" and runs.waiting() == 5


def test_confirmation_overturns_a_lucky_winner(folder, epoch, tmp_path):
    """Trial 0 won the search by luck: its runs with fresh seeds are worse than trial 1's.
    Trial 1's configuration wins, and only its best run's checkpoint is tested."""
    search = SweepRecord(folder)
    for number, loss in enumerate([0.10, 0.20, 0.50]):
        search.ask(SPACE)
        ended(search, number, loss, epoch)
    phase = Confirmation(SweepConfig(confirm_top=2, confirm_seeds=2))
    runs = phase.record(folder)
    phase.plan(runs, search.trials())
    losses = {(0, 1): 0.40, (0, 2): 0.45, (1, 1): 0.24, (1, 2): 0.22}
    for _ in losses:
        run = runs.ask(SPACE)
        trained = TrainingRun({**SETTINGS, **run.config})
        trained.step()
        path = f"{run.name}_r/checkpoint_000000"
        trained.save(folder.file(path))
        ended(runs, run.number, losses[run.origin, run.replicate], epoch, checkpoint=path)

    cfg = SweepConfig(
        num_trials=3, confirm_top=2, confirm_seeds=2, max_epochs=1, grace_period=1, hidden=[16]
    )
    results = write(cfg, folder, SweepRecord(folder))

    best = json.loads(folder.read_text(BEST))
    assert results.best == best and not results.interrupted
    assert best["search_winner"] == 0 and not best["search_winner_held"]
    assert (best["trial_index"], best["replicate"], best["val_loss"]) == (1, 2, 0.22)
    assert [row["trial_index"] for row in best["confirmation"]] == [1, 0]
    assert best["confirmation"][0]["mean"] == pytest.approx(0.23)
    [reading] = lockbox.readings(folder)
    assert reading["checkpoint"] == "confirm_001_2_r/checkpoint_000000"
    assert reading["test_loss"] == best["test_loss"]
