"""The searcher and recorder behind Ray Tune: unfinished trials first, then new ones; every
report into the record; space checks and TPE's settings."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

import search_spaces
from search_spaces import Vocabulary
from sweeps.record import SweepRecord
from sweeps.space import SweepSpace, check_space
from sweeps.tune.search import JournalRecorder, SweepSearch, tpe_sampler
from trainable import TrialConfigError
from trainable.tune_adapter import RESUME

MLP = Vocabulary.of("mlp")


def searcher(folder, num_trials):
    record = SweepRecord(folder)
    record.seed_sampler(tpe_sampler, 0)
    unfinished = [t for t in record.trials() if not t.finished]
    space = SweepSpace("default", MLP)
    return SweepSearch(record, space, folder=folder, num_trials=num_trials, unfinished=unfinished)


def ray_trial(trial_id, config, last_result=None):
    """Ray's trial ``trial_id`` as Ray hands it to callbacks, after the searcher suggested
    ``config`` for it."""
    trial = Trial("SweepTrainable", config=config, trial_id=trial_id, stub=True)
    if last_result:
        trial.update_last_result(last_result)
    return trial


def result(epoch, loss, *, done=False):
    return {
        "epoch": epoch, "train_loss": loss, "train_acc": 0.5, "val_loss": loss, "val_acc": 0.5,
        "lr": 0.1, "best_val_loss": loss, "best_epoch": epoch, "diverged": False, "done": done,
    }  # fmt: skip


def test_new_trials_carry_their_number_up_to_num_trials(folder):
    search = searcher(folder, 3)
    configs = [search.suggest(str(i)) for i in range(3)]
    assert [c["trial_index"] for c in configs] == [0, 1, 2]
    assert all(RESUME not in c for c in configs)
    assert search.suggest("x") == Searcher.FINISHED
    assert [t.ray_trials for t in SweepRecord(folder).trials()] == [["0"], ["1"], ["2"]]


def test_a_resumed_sweep_hands_out_its_unfinished_trials_first_then_asks(folder):
    first = searcher(folder, 3)
    configs = [first.suggest(f"a{i}") for i in range(2)]
    recorder = JournalRecorder(first.record, folder, max_epochs=5, patience=3)
    recorder.on_trial_result(0, [], ray_trial("a1", configs[1]), result(1, 0.9))
    recorder.on_trial_result(0, [], ray_trial("a1", configs[1]), result(2, 0.8))
    path = folder.file("trial_001_a1/checkpoint_000001")
    checkpoint = tune.Checkpoint(path)
    recorder.on_checkpoint(0, [], ray_trial("a1", configs[1], result(2, 0.8)), checkpoint)
    recorder.on_trial_complete(0, [], ray_trial("a0", configs[0], result(5, 0.5, done=True)))

    again = searcher(folder, 3)  # the driver was killed; --resume
    resumed = again.suggest("b1")
    assert {k: resumed[k] for k in configs[1]} == configs[1]  # the same number and parameters
    assert resumed[RESUME] == {"checkpoints": [path], "recorded": 2}
    assert again.suggest("b2")["trial_index"] == 2
    assert again.suggest("b3") == Searcher.FINISHED
    assert SweepRecord(folder).trials()[1].ray_trials == ["a1", "b1"]


def test_a_trial_stopped_with_the_sweep_is_left_to_go_on(folder):
    search = searcher(folder, 1)
    config = search.suggest("a")
    recorder = JournalRecorder(search.record, folder, max_epochs=5, patience=3)
    recorder.on_trial_complete(0, [], ray_trial("a", config, result(2, 0.9)))  # not done: Ctrl-C
    assert SweepRecord(folder).trials()[0].status == "INCOMPLETE"


def test_check_space_finds_every_hyperparameter_and_the_unconditional_ones():
    space = check_space("default", {}, MLP)
    assert set(space.always) == {"optimizer", "lr", "gamma", "activation"}
    assert set(space.distributions) == {*space.always, "momentum"}  # momentum is conditional
    assert space.distributions["lr"].log


def test_check_space_rejects_settings_the_trainable_refuses():
    with pytest.raises(TrialConfigError, match="batch_size"):
        check_space("small", {"batch_size": 0}, MLP)


def test_tpe_models_the_conditional_momentum_jointly_and_warns_of_nothing():
    """Grouped multivariate TPE: momentum (two optimizers have it) is in the joint model, not
    drawn apart; a plain multivariate TPE leaves it out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler = tpe_sampler(0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: (search_spaces.get("default")(trial), trial.params["lr"])[1], 12)
    asked = study._storage.get_trial(study.ask()._trial_id)
    assert "momentum" in sampler.infer_relative_search_space(study, asked)


def test_an_epoch_is_recorded_with_its_asha_rung_and_a_resumed_trials_once(folder):
    """The rung NewestFirstASHA judged an epoch at goes into its record; the epochs a resumed
    trial re-trains up to its last recorded one keep their first record, rung included."""
    first = searcher(folder, 1)
    trial = ray_trial("a", first.suggest("a"))
    rungs = {(trial.trial_id, 1): 1.0}
    recorder = JournalRecorder(first.record, folder, max_epochs=5, patience=3, rungs=rungs)
    for n, loss in ((1, 0.9), (2, 0.8)):
        recorder.on_trial_result(0, [], trial, result(n, loss))
    assert rungs == {}  # taken

    again = searcher(folder, 1)  # the driver was killed; --resume
    resumed = ray_trial("b", again.suggest("b"))
    recorder = JournalRecorder(again.record, folder, max_epochs=5, patience=3)
    for n, loss in ((1, 0.9), (2, 0.8), (3, 0.7)):
        recorder.on_trial_result(0, [], resumed, result(n, loss))
    [recorded] = SweepRecord(folder).trials()
    assert [(e["epoch"], e["rung"]) for e in recorded.epochs] == [(1, 1.0), (2, None), (3, None)]
    lines = Path(folder.journal()).read_text().splitlines()
    assert [sum(f'"epoch:000{n}"' in line for line in lines) for n in (1, 2, 3)] == [1, 1, 1]
