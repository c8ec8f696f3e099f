"""The pruner audit: a seeded sample of the pruned trials continued to the full budget, and a
count of those that would have beaten the winner."""

from __future__ import annotations

from search_spaces import Vocabulary
from sweeps.config import SweepConfig
from sweeps.phases import Audit, audit
from sweeps.record import Outcome, SweepRecord
from sweeps.space import SweepSpace

SPACE = SweepSpace("default", Vocabulary.of("mlp"))


def search(folder, epoch, losses):
    """Trials that ended with these best val_losses; the first completed, the rest pruned by
    ASHA after epoch 2."""
    record = SweepRecord(folder)
    for number, loss in enumerate(losses):
        record.ask(SPACE)
        last = epoch(2, loss, done=True)
        record.epoch(number, epoch(1, loss + 0.1))
        record.epoch(number, last)
        how = Outcome("COMPLETE", "completed") if number == 0 else Outcome("PRUNED", "asha")
        record.end(number, how, last)
    return record.trials()


def test_the_sample_is_seeded_rounds_up_and_holds_only_asha_pruned_trials(folder, epoch):
    trials = search(folder, epoch, [0.3, 0.5, 0.6, 0.7, 0.8])
    chosen = audit.sample(trials, 0.5, seed=1)
    assert len(chosen) == 2 and all(t.stop_reason == "asha" for t in chosen)
    assert [t.number for t in chosen] == [t.number for t in audit.sample(trials, 0.5, seed=1)]
    assert audit.sample(trials, 0.0, seed=1) == []
    assert len(audit.sample(trials, 1.0, seed=1)) == 4


def test_audit_runs_continue_their_trials_and_are_counted_against_the_winner(folder, epoch):
    trials = search(folder, epoch, [0.3, 0.5, 0.6])
    phase = Audit(SweepConfig(audit_pruned=1.0, seed=0))
    runs = phase.record(folder)
    assert phase.plan(runs, trials) == 2
    assert phase.plan(runs, trials) == 2  # a resumed plan adds nothing
    full = {1: 0.25, 2: 0.45}  # trial 1 would have won, had ASHA let it go on
    for _ in full:
        run = runs.ask(SPACE)
        assert run.params == trials[run.origin].params and run.name == f"audit_{run.origin:03d}"
        assert run.config["trial_index"] == run.origin  # its own seed: it continues the trial
        last = epoch(3, full[run.origin], done=True)
        runs.epoch(run.number, last)
        runs.end(run.number, Outcome("COMPLETE", "completed"), last)

    found = audit.summary(trials, runs.trials(), 1.0, winner=0.3)
    assert found["pruned"] == 2 and found["would_have_won"] == 1
    assert [(r["trial_index"], r["pruned_at"], r["full_val_loss"], r["beats_winner"])
            for r in found["audited"]] == [(1, 2, 0.25, True), (2, 2, 0.45, False)]  # fmt: skip
