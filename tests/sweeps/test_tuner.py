"""The tuner: the rungs ASHA judges epochs at, and the progress table."""

from __future__ import annotations

from types import SimpleNamespace

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from sweeps.tune.tuner import SweepASHA, progress_table
from trainable.tune_adapter import RESUME, RESUME_RECORDED


def asha(**options) -> SweepASHA:
    """Rungs at epochs 1, 3 and 9, as a sweep's --grace-period 1 --reduction-factor 3."""
    return SweepASHA(
        time_attr="epoch", metric="val_loss", mode="min",
        max_t=10, grace_period=1, reduction_factor=3, **options,
    )  # fmt: skip


def added(scheduler: SweepASHA, config: dict | None = None) -> Trial:
    trial = Trial("SweepTrainable", config=config or {}, stub=True)
    scheduler.on_trial_add(None, trial)
    return trial


def test_asha_notes_the_rung_each_epoch_was_judged_at():
    scheduler = asha()
    good, bad = added(scheduler), added(scheduler)
    for epoch in (1, 2, 3):
        decision = scheduler.on_trial_result(None, good, {"epoch": epoch, "val_loss": 0.5})
        assert decision == TrialScheduler.CONTINUE
    decision = scheduler.on_trial_result(None, bad, {"epoch": 1, "val_loss": 0.9})
    assert decision == TrialScheduler.STOP  # worse than the rung's cutoff
    assert scheduler.judged == {
        (good.trial_id, 1): 1.0, (good.trial_id, 3): 3.0, (bad.trial_id, 1): 1.0,
    }  # fmt: skip


def test_asha_judges_a_resumed_trial_past_its_recorded_epochs_at_the_rungs_it_passed():
    """A trial resumed with 3 epochs recorded is not judged at them (ASHA judged them in the
    run before). This run's ASHA has it at no rung, and judges it at one per epoch, the highest
    it reached first: its epoch 4 at rung 3, its epoch 5 at rung 1."""
    scheduler = asha()
    trial = added(scheduler, {RESUME: {RESUME_RECORDED: 3}})
    for epoch in (1, 2, 3, 4, 5, 6):
        scheduler.on_trial_result(None, trial, {"epoch": epoch, "val_loss": 0.5})
    assert scheduler.judged == {(trial.trial_id, 4): 3.0, (trial.trial_id, 5): 1.0}


def test_the_progress_table_shows_the_sweeps_end_with_trials_stopped_before_a_result(
    capsys, tmp_path
):
    """The sweep's stop (--fail-fast) ends trials that never reported: Ray's table, sorted by
    val_loss, failed on them."""
    ended = [Trial("SweepTrainable", config={"lr": lr}, stub=True) for lr in (0.1, 0.2, 0.3)]
    ended[0].update_last_result({"epoch": 1, "val_loss": 0.5})
    for trial in ended:
        trial.set_status(Trial.TERMINATED)
        trial.storage = SimpleNamespace(  # where Ray's table looks for the trial's files
            experiment_driver_staging_path=str(tmp_path), trial_driver_staging_path=str(tmp_path)
        )
    table = progress_table([])
    table.set_search_properties("val_loss", "min")
    table.report(ended, True)
    assert "TERMINATED" in capsys.readouterr().out


class Controller:
    """What a scheduler sees of Tune's controller: its trials, and which actors are started."""

    def __init__(self, trials: list[Trial], starting: set[Trial]) -> None:
        self.trials = trials
        self._actor_manager = SimpleNamespace(is_actor_started=lambda actor: actor in starting)
        self._trial_to_actor = {trial: trial for trial in trials}

    def get_trials(self) -> list[Trial]:
        return self.trials


def pending(count: int) -> list[Trial]:
    trials = [Trial("SweepTrainable", config={}, stub=True) for _ in range(count)]
    for trial in trials:
        trial.set_status(Trial.PENDING)
    return trials


def test_a_free_worker_takes_the_oldest_pending_trial_whose_actor_is_not_starting():
    """A late worker's trial (its actor starting, the newest) is left to it; the trial whose
    actor is only a request takes the free worker, the oldest such first (the newest first
    left an early trial waiting while each start brought a newer one)."""
    queued, late = pending(2)
    assert asha().choose_trial_to_run(Controller([queued, late], {late})) is queued
    newest = pending(1)[0]
    assert asha().choose_trial_to_run(Controller([queued, late, newest], {late})) is queued
    assert asha().choose_trial_to_run(Controller([late, newest], {late})) is newest


def test_a_pending_trial_the_time_budget_cuts_is_stopped_and_never_taken():
    cut, kept = pending(2)
    stopped = []
    controller = Controller([cut, kept], set())
    controller.stop_trial = stopped.append
    scheduler = asha(cuts=lambda trial_id: trial_id == cut.trial_id)
    assert scheduler.choose_trial_to_run(controller) is kept
    assert stopped == [cut]


def test_with_only_starting_trials_pending_none_is_taken():
    [late] = pending(1)
    assert asha().choose_trial_to_run(Controller([late], {late})) is None
