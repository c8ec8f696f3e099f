"""The searcher and recorder behind Ray Tune: unfinished trials first, then new ones; every
report into the record; space checks; the samplers of --sampler and their settings."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import optuna
import pytest
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

import search_spaces
from search_spaces import Vocabulary
from sweeps import config, results, run
from sweeps.phases import Confirmation, Search
from sweeps.record import StoppedOn, StoppingRule, SweepRecord
from sweeps.space import SweepSpace, check_space
from sweeps.tune import recorder as recorder_module
from sweeps.tune.failures import FailureRule
from sweeps.tune.recorder import JournalRecorder
from sweeps.tune.search import (
    SAMPLERS,
    PhasedSearch,
    SweepSearch,
    gp_sampler,
    sampler_for,
    tpe_sampler,
)
from sweeps.tune.tuner import SweepStopper, _phase
from trainable import TrialConfigError
from trainable.tune_adapter import RESUME

MLP = Vocabulary.of("mlp")
RULE = StoppingRule(max_epochs=5, patience=3)


def searcher(folder, num_trials):
    record = SweepRecord(folder)
    record.seed_sampler(tpe_sampler, 0)
    unfinished = [t for t in record.trials() if not t.finished]
    space = SweepSpace("default", MLP)
    return SweepSearch(record, space, folder=folder, num_trials=num_trials, unfinished=unfinished,
                       phase=Search(config.SweepConfig()), search=record)  # fmt: skip


def phased(folder, num_trials):
    """The search alone, as the sweep's searcher hands it to Ray."""
    return PhasedSearch(searcher(folder, num_trials), [], folder)


def confirmation(folder):
    """A later phase's searcher, with no plan of its own: one run, to be asked."""
    phase = Confirmation(config.SweepConfig())
    return SweepSearch(
        phase.record(folder),
        SweepSpace("default", MLP),
        folder=folder,
        num_trials=1,
        unfinished=[],
        phase=phase,
        search=SweepRecord(folder),
    )


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
    first = phased(folder, 3)
    configs = [first.suggest(f"a{i}") for i in range(2)]
    recorder = JournalRecorder(first, folder, RULE)
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


def test_the_next_phase_begins_at_the_search_tail_with_the_runs_already_certain(folder):
    """Confirmation of the best 2 configurations: with 3 search trials running none is
    certain; with one running, the best ended one is (that trial can push it down one place
    only), and its run takes the free worker; once the search has ended, the rest of the plan."""
    cfg = config.SweepConfig(confirm_top=2, confirm_seeds=1)
    space = check_space("default", cfg.trial_settings(), MLP)
    search_record = SweepRecord(folder)
    confirm = Confirmation(cfg)
    made = []

    def later(running):
        made.append(running)
        return _phase(confirm, confirm.record(folder), search_record, cfg, space, None, running)

    phases = PhasedSearch(searcher(folder, 3), [later], folder)
    proposed = {trial_id: phases.suggest(trial_id) for trial_id in "abc"}
    assert phases.suggest("d") is None and made == [3]  # nothing certain: wait
    recorder = JournalRecorder(phases, folder, RULE)

    def ends(trial_id, loss):
        last = result(5, loss, done=True)
        recorder.on_trial_result(0, [], ray_trial(trial_id, proposed[trial_id]), last)
        phases.on_trial_complete(trial_id)  # Tune tells the searcher, then its callbacks
        recorder.on_trial_complete(0, [], ray_trial(trial_id, proposed[trial_id], last))

    ends("a", 0.5)
    assert phases.suggest("d") is None and made == [3, 2]
    ends("b", 0.4)
    early = phases.suggest("d")  # b's configuration is certain to be among the best 2
    assert early["trial_index"] == proposed["b"]["trial_index"] and made == [3, 2, 1]
    assert phases.judges("c") and not phases.judges("d")
    assert phases.record_of("d").study.study_name == "confirm"
    ends("c", 0.3)
    last = phases.suggest("e")  # the search has ended: the rest of the plan, c's run
    assert last["trial_index"] == proposed["c"]["trial_index"] and made == [3, 2, 1]
    assert phases.suggest("f") is None  # d and e still run; nothing later
    phases.on_trial_complete("d")
    phases.on_trial_complete("e")
    assert phases.suggest("f") == Searcher.FINISHED
    runs = confirm.record(folder).trials()
    assert sorted(r.origin for r in runs) == sorted(proposed[t]["trial_index"] for t in "bc")


def test_with_the_search_done_a_resumed_sweep_goes_on_with_the_next_phase(folder):
    done = phased(folder, 1)
    proposed = done.suggest("a")
    JournalRecorder(done, folder, RULE).on_trial_complete(
        0, [], ray_trial("a", proposed, result(5, 0.5, done=True))
    )
    later = confirmation(folder)
    phases = PhasedSearch(None, [lambda running: later], folder)
    assert phases.pending and phases.suggest("b") is not None and not phases.judges("b")
    assert not PhasedSearch(None, [lambda running: None], folder).pending


def test_a_trial_stopped_with_the_sweep_is_left_to_go_on(folder):
    search = phased(folder, 1)
    config = search.suggest("a")
    recorder = JournalRecorder(search, folder, RULE)
    recorder.on_trial_complete(0, [], ray_trial("a", config, result(2, 0.9)))  # not done: Ctrl-C
    assert SweepRecord(folder).trials()[0].status == "INCOMPLETE"


BOOM = "RuntimeError: boom (model.py:7)"


@pytest.fixture
def raising(monkeypatch):
    """Each Ray trial's error as ``described`` reads it, by Ray trial id: (line, signature)."""
    errors: dict[str, tuple[str, str | None]] = {}
    monkeypatch.setattr(recorder_module, "described", lambda trial: errors[trial.trial_id])
    return errors


def failed(phases, recorder, trial_id, config, last, error, raising):
    """Tune's report of a failure: the searcher first, then the callbacks."""
    raising[trial_id] = error
    phases.on_trial_complete(trial_id, error=True)
    recorder.on_trial_error(0, [], ray_trial(trial_id, config, last))


def test_a_failed_trial_is_handed_out_again_from_its_checkpoint_before_the_next_phase(
    folder, raising
):
    made = []
    phases = PhasedSearch(searcher(folder, 1), [lambda running: made.append(running)], folder)
    rule = FailureRule(max_failures=1, fail_fast=3)
    recorder = JournalRecorder(phases, folder, RULE, failures=rule)
    first = phases.suggest("a")
    recorder.on_trial_result(0, [], ray_trial("a", first), result(1, 0.9))
    path = folder.file("trial_000_a/checkpoint_000000")
    recorder.on_checkpoint(0, [], ray_trial("a", first, result(1, 0.9)), tune.Checkpoint(path))
    failed(phases, recorder, "a", first, result(1, 0.9), ("OSError: 1", "OSError: 1"), raising)
    assert SweepRecord(folder).trials()[0].status == "INCOMPLETE"  # to be retried

    retry = phases.suggest("b")  # the same trial, not the next phase
    assert not made and retry["trial_index"] == first["trial_index"]
    assert retry[RESUME] == {"checkpoints": [path], "recorded": 1}
    failed(phases, recorder, "b", retry, result(2, 0.8), ("OSError: 2", "OSError: 2"), raising)
    [trial] = SweepRecord(folder).trials()  # --max-failures 1: no second retry
    assert (trial.status, trial.error, trial.ray_trials) == ("ERROR", "OSError: 2", ["a", "b"])
    assert phases.suggest("c") == Searcher.FINISHED and made == [0]


def test_an_error_that_ends_the_first_trials_stops_the_sweep(folder, raising, tmp_path):
    phases = PhasedSearch(searcher(folder, 12), [], folder)
    rule = FailureRule(max_failures=2, fail_fast=2)
    recorder = JournalRecorder(phases, folder, RULE, failures=rule)
    stopper = SweepStopper(RULE, phases.judges, lambda: phases.stopped)
    zero, one, _ = (phases.suggest(trial_id) for trial_id in "abc")
    failed(phases, recorder, "a", zero, result(1, 0.9), (BOOM, BOOM), raising)
    again = phases.suggest("d")
    failed(phases, recorder, "d", again, result(1, 0.9), (BOOM, BOOM), raising)  # ends trial 0
    assert not stopper.stop_all() and phases.suggest("e")["trial_index"] == 3
    failed(phases, recorder, "b", one, None, (BOOM, BOOM), raising)  # not retried: stop
    assert stopper.stop_all() and phases.suggest("f") == Searcher.FINISHED
    trials = SweepRecord(folder).trials()
    assert [t.status for t in trials] == ["ERROR", "ERROR", "INCOMPLETE", "INCOMPLETE"]
    assert trials[0].error == BOOM and trials[1].error == BOOM
    stopped = StoppedOn(BOOM, ("trial_000", "trial_001"))
    assert SweepRecord(folder).stopped_on == stopped

    cfg = config.SweepConfig(num_trials=12)
    outcome = results.write(cfg, folder, SweepRecord(folder))
    assert outcome.stopped_on == stopped and outcome.best is None and run.exit_code(outcome) == 1
    assert run.summary(outcome, folder).splitlines()[-1] == (
        "Sweep stopped (--fail-fast): trial_000 and trial_001 each ended with " + BOOM
    )


def test_a_lost_worker_is_retried_and_fail_fast_off_retries_every_error(folder, raising):
    phases = PhasedSearch(searcher(folder, 2), [], folder)
    rule = FailureRule(max_failures=1, fail_fast=0)
    recorder = JournalRecorder(phases, folder, RULE, failures=rule)
    zero, one = phases.suggest("a"), phases.suggest("b")
    failed(phases, recorder, "a", zero, None, ("ActorDiedError: gone", None), raising)
    failed(phases, recorder, "b", one, None, (BOOM, BOOM), raising)
    assert [phases.suggest(t)["trial_index"] for t in "cd"] == [0, 1]
    failed(phases, recorder, "c", zero, None, (BOOM, BOOM), raising)
    failed(phases, recorder, "d", one, None, (BOOM, BOOM), raising)
    assert [t.status for t in SweepRecord(folder).trials()] == ["ERROR", "ERROR"]
    assert not phases.stopped and SweepRecord(folder).stopped_on is None


def test_exit_codes_say_whether_the_sweep_gave_a_usable_model():
    def outcome(best=None, interrupted=False, stopped_on=None):
        return results.SweepResults(None, None, best, interrupted, "", stopped_on)

    assert run.exit_code(outcome(best={"trial_index": 0})) == 0
    assert run.exit_code(outcome()) == 1  # every trial failed or diverged
    assert run.exit_code(outcome(interrupted=True)) == 130
    assert run.exit_code(outcome(interrupted=True, stopped_on=StoppedOn(BOOM, ("t",)))) == 1


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
    """The rung SweepASHA judged an epoch at goes into its record; the epochs a resumed
    trial re-trains up to its last recorded one keep their first record, rung included."""
    first = phased(folder, 1)
    trial = ray_trial("a", first.suggest("a"))
    rungs = {(trial.trial_id, 1): 1.0}
    recorder = JournalRecorder(first, folder, RULE, rungs=rungs)
    for n, loss in ((1, 0.9), (2, 0.8)):
        recorder.on_trial_result(0, [], trial, result(n, loss))
    assert rungs == {}  # taken

    again = phased(folder, 1)  # the driver was killed; --resume
    resumed = ray_trial("b", again.suggest("b"))
    recorder = JournalRecorder(again, folder, RULE)
    for n, loss in ((1, 0.9), (2, 0.8), (3, 0.7)):
        recorder.on_trial_result(0, [], resumed, result(n, loss))
    [recorded] = SweepRecord(folder).trials()
    assert [(e.epoch, e.rung) for e in recorded.epochs] == [(1, 1.0), (2, None), (3, None)]
    lines = Path(folder.journal()).read_text().splitlines()
    assert [sum(f'"epoch:000{n}"' in line for line in lines) for n in (1, 2, 3)] == [1, 1, 1]


NUMERIC_SPACE = """\
params:
  lr: {type: float, low: 1.0e-3, high: 0.3, log: true}
  gamma: {type: float, low: 0.9, high: 1.0}
  num_layers: {type: int, low: 1, high: 3}
"""


def proposals(sampler: optuna.samplers.BaseSampler, count: int = 3) -> list[dict]:
    """The first ``count`` trials ``sampler`` proposes over the default space, each told its lr."""
    study = optuna.create_study(sampler=sampler)
    space, proposed = search_spaces.get("default"), []
    for _ in range(count):
        trial = study.ask()
        space(trial)
        study.tell(trial, trial.params["lr"])
        proposed.append(trial.params)
    return proposed


def test_the_sampler_choices_are_the_searchers_and_auto():
    assert set(config.SAMPLERS) == {*SAMPLERS, "auto"}
    assert config.parse([]).sampler == "tpe"
    assert sampler_for("tpe", check_space("default", {}, MLP)) is tpe_sampler  # as before


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("tpe", optuna.samplers.TPESampler),
        ("gp", optuna.samplers.GPSampler),
        ("random", optuna.samplers.RandomSampler),
    ],
)
def test_each_sampler_is_optunas_own_seeded_by_the_sweep(name, kind):
    factory = sampler_for(name, check_space("default", {}, MLP))
    assert type(factory(3)) is kind
    assert proposals(factory(3)) == proposals(factory(3))
    assert proposals(factory(3)) != proposals(factory(4))


def test_auto_picks_tpe_for_categorical_or_conditional_hyperparameters(capsys):
    assert sampler_for("auto", check_space("default", {}, MLP)) is tpe_sampler
    assert capsys.readouterr().out == (
        "sampler: auto chose tpe (categorical: optimizer, activation; conditional: momentum)\n"
    )


def test_auto_picks_gp_for_a_space_of_numbers_every_trial_has(tmp_path, capsys):
    path = tmp_path / "numbers.yaml"
    path.write_text(NUMERIC_SPACE)
    assert sampler_for("auto", check_space(str(path), {}, MLP)) is gp_sampler
    assert capsys.readouterr().out == (
        "sampler: auto chose gp (every hyperparameter is numeric and unconditional)\n"
    )


def test_a_named_sampler_is_taken_without_a_word(capsys):
    assert sampler_for("random", check_space("default", {}, MLP)) is SAMPLERS["random"]
    assert capsys.readouterr().out == ""


@pytest.fixture
def optuna_log(caplog):
    """What Optuna logs (its logger does not propagate to pytest's)."""
    logger = logging.getLogger("optuna")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def test_gp_learns_from_complete_trials_only_and_draws_momentum_apart_quietly(optuna_log):
    """GP fits no model before 10 trials have completed, however many were pruned; then it
    models every hyperparameter but the conditional momentum, which it draws at random
    without Optuna's warning for each trial that does."""
    sampler = gp_sampler(0)
    study = optuna.create_study(sampler=sampler)
    space = search_spaces.get("default")

    def asked() -> optuna.trial.FrozenTrial:
        trial = study.ask()
        space(trial)
        return study.trials[-1]

    def modelled(trial: optuna.trial.FrozenTrial) -> dict:
        return sampler.sample_relative(
            study, trial, sampler.infer_relative_search_space(study, trial)
        )

    for number in range(14):
        trial = asked()
        if number < 9:
            study.tell(trial.number, trial.params["lr"])
        else:
            study.tell(trial.number, state=optuna.trial.TrialState.PRUNED)
    trial = asked()
    assert modelled(trial) == {}  # 9 complete and 5 pruned: still random
    study.tell(trial.number, trial.params["lr"])

    trial = asked()
    assert set(modelled(trial)) == {"activation", "gamma", "lr", "optimizer"}
    momentum = optuna.distributions.FloatDistribution(0.5, 0.99)
    sampler.sample_independent(study, trial, "momentum", momentum)
    assert "sampled independently" not in optuna_log.text
    optuna.samplers.GPSampler(seed=0).sample_independent(study, trial, "momentum", momentum)
    assert "`momentum` in Trial#15 is sampled independently" in optuna_log.text  # Optuna's own
