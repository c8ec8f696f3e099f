"""The Optuna searcher behind Ray Tune: honest trial states, seeding, pickling; space checks."""

from __future__ import annotations

import math
import pickle
import warnings

import optuna
import pytest
from optuna.trial import TrialState

import search_spaces
from search_spaces import Vocabulary
from sweeps.space import SweepSpace, check_space
from sweeps.storage import JOURNAL, SweepFolder
from sweeps.tune.search import SweepSearch, tpe_sampler
from trainable import TrialConfigError

MLP = Vocabulary.of("mlp")


def searcher(tmp_path, seed=0, name="j"):
    (tmp_path / name).mkdir(exist_ok=True)
    return SweepSearch(
        SweepSpace("default", MLP), seed=seed, folder=SweepFolder.in_storage(str(tmp_path), name),
        study_name="sweep", max_epochs=5, patience=2,
    )  # fmt: skip


def report(search, trial_id, losses, *, best_epoch=None, diverged=False, error=False, index=None):
    """Feed per-epoch results as Ray would, then end the trial with its last result."""
    last = None
    for epoch, loss in enumerate(losses, start=1):
        finite = [v for v in losses[:epoch] if math.isfinite(v)]
        last = {
            "val_loss": loss, "training_iteration": epoch, "epoch": epoch,
            "best_val_loss": min(finite, default=math.inf),
            "best_epoch": best_epoch or epoch, "diverged": diverged and epoch == len(losses),
            "config/trial_index": index,
        }  # fmt: skip
        if epoch < len(losses):  # Ray withholds the last result from on_trial_result
            search.on_trial_result(trial_id, last)
    search.on_trial_complete(trial_id, last, error=error)


def test_trials_are_told_to_optuna_with_their_real_state(tmp_path):
    search = searcher(tmp_path)
    for trial_id in "abcd":
        search.suggest(trial_id)
    report(search, "a", [1.0, 0.8, 0.6, 0.5, 0.45])  # all 5 epochs
    report(search, "b", [1.2, 1.1])  # cut short by ASHA
    report(search, "c", [1.0, 0.9, 1.1, 1.2], best_epoch=2)  # stalled
    report(search, "d", [1.0, math.nan], diverged=True)
    study = search._ot_study
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[0].state == TrialState.COMPLETE and trials[0].value == pytest.approx(0.45)
    assert trials[1].state == TrialState.PRUNED
    assert trials[1].intermediate_values == {1: 1.2, 2: 1.1}
    assert trials[2].state == TrialState.PRUNED
    assert trials[2].user_attrs["stop_reason"] == "stalled"
    assert trials[3].state == TrialState.PRUNED
    assert trials[3].user_attrs["stop_reason"] == "diverged"
    assert trials[3].intermediate_values == {1: 1.0}  # the NaN epoch is not reported


def test_a_crashed_trial_is_failed(tmp_path):
    search = searcher(tmp_path)
    search.suggest("x")
    search.on_trial_complete("x", None, error=True)
    assert search._ot_study.trials[0].state == TrialState.FAIL


def test_suggestions_carry_the_trial_index_and_are_seeded(tmp_path):
    one, two = searcher(tmp_path, name="a"), searcher(tmp_path, name="b")
    configs_one = [one.suggest(str(i)) for i in range(4)]
    configs_two = [two.suggest(str(i)) for i in range(4)]
    assert configs_one == configs_two
    assert [c["trial_index"] for c in configs_one] == [0, 1, 2, 3]
    assert len({c["lr"] for c in configs_one}) == 4


def test_the_searcher_survives_pickling_like_ray_checkpoints_it(tmp_path):
    search = searcher(tmp_path)
    search.suggest("a")
    clone = pickle.loads(pickle.dumps(search))
    assert clone.suggest("b")["trial_index"] == 1


def test_a_searcher_restored_from_an_older_snapshot_than_the_journal_keeps_going(tmp_path):
    """A driver killed between Ray's snapshot and the trial's end leaves the journal ahead."""
    search = searcher(tmp_path)
    search.suggest("a")
    snapshot = pickle.dumps(search)
    report(search, "a", [1.0, 0.9])  # ends as PRUNED in the journal
    restored = pickle.loads(snapshot)
    report(restored, "a", [1.0, 0.9, 0.8])  # Ray resumed the trial from its checkpoint
    assert restored.suggest("b")["trial_index"] == 1
    assert restored._ot_study.trials[0].state == TrialState.PRUNED


def test_trials_asked_after_the_snapshot_are_reused_and_new_ones_differ(tmp_path):
    """The driver died after asking trial 1, before Ray's snapshot had it: Ray asks again."""
    search = searcher(tmp_path)
    search.suggest("a")
    search.save(tmp_path / "snapshot.pkl")
    lost = search.suggest("b")
    restored = searcher(tmp_path)
    restored.restore(tmp_path / "snapshot.pkl")
    assert restored.suggest("c") == lost  # the same Optuna trial, parameters and index
    fresh = restored.suggest("d")
    assert fresh["trial_index"] == 2 and fresh["lr"] != lost["lr"]
    assert len(restored._ot_study.trials) == 3


def test_a_trial_ray_restored_but_the_searcher_never_saw_is_adopted_from_the_journal(tmp_path):
    """Ray's trial list was saved after trial 1 was asked, the searcher's state before it: the
    restored trial's results reach a searcher without it, which takes it from the journal."""
    search = searcher(tmp_path)
    search.suggest("a")
    search.save(tmp_path / "snapshot.pkl")
    search.suggest("b")
    restored = searcher(tmp_path)
    restored.restore(tmp_path / "snapshot.pkl")
    report(restored, "b", [1.0, 0.9, 0.95], index=1)
    trial = restored._ot_study.trials[1]
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {1: 1.0, 2: 0.9, 3: 0.95}


def test_the_journal_holds_the_study(tmp_path):
    search = searcher(tmp_path)
    search.suggest("a")
    report(search, "a", [1.0, 0.5, 0.4, 0.3, 0.2])
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j" / JOURNAL))
    )
    study = optuna.load_study(study_name="sweep", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]


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
