"""The pruner audit (``--audit-pruned FRACTION``): what pruning cost, measured.

ASHA stops a trial whose validation loss trails its rung's; whether such a trial would have
gone on to beat the winner is assumed, not known. Here a seeded sample of that fraction of the
trials ASHA pruned is continued, each from its own newest checkpoint with its own seed, to the
full epoch budget, with neither ASHA nor the stopper cutting it, as trials of a study of their
own in the journal, so the runs resume like the rest. The report says how many would have
beaten the search's winner.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sweeps.phases.base import Phase
from sweeps.record import SweepRecord, TrialRecord, ranked
from sweeps.storage import AUDIT


class Audit(Phase):
    study = AUDIT
    origin = "audits"  # a run's: the pruned search trial it continues to the full budget

    def runs(self, search: list[TrialRecord], running: int = 0) -> list[tuple[TrialRecord, int]]:
        """Its sample of the pruned trials, once the search has none running (its draw is
        over all of them)."""
        if running:
            return []
        return [(trial, 0) for trial in sample(search, self.cfg.audit_pruned, self.cfg.seed)]

    def fit(self, search: list[TrialRecord], fitting: int) -> dict[str, Any]:
        """The first ``fitting`` of its sample, as a smaller fraction."""
        pruned = sum(t.stop_reason == "asha" for t in search)
        if len(self.runs(search)) <= fitting:
            return {}
        return {"audit_pruned": fitting / pruned}

    def resumes(self, trial: TrialRecord, search: SweepRecord) -> list[TrialRecord]:
        """An audit run goes on from its own checkpoints, then those of the trial it
        continues."""
        return [trial, search.trials()[trial.index]]

    def findings(
        self,
        search: list[TrialRecord],
        runs: list[TrialRecord],
        chosen: TrialRecord | None,
        searched: list[str],
    ) -> tuple[TrialRecord | None, dict[str, Any]]:
        """The choice stands; how many audited trials would have beaten the search's best."""
        best = ranked(search)[:1]
        if not best:
            return chosen, {}
        winner = best[0].best_val_loss
        return chosen, {"audit": summary(search, runs, self.cfg.audit_pruned, winner)}


def sample(search: list[TrialRecord], fraction: float, seed: int) -> list[TrialRecord]:
    """``fraction`` of the trials ASHA pruned (rounded up), drawn with the sweep's seed."""
    pruned = sorted((t for t in search if t.stop_reason == "asha"), key=lambda t: t.number)
    count = math.ceil(round(fraction * len(pruned), 9))  # a fitted fraction gives its count
    chosen = random.Random(seed).sample(pruned, count) if count else []
    return sorted(chosen, key=lambda t: t.number)


def summary(
    search: list[TrialRecord], runs: list[TrialRecord], fraction: float, winner: float
) -> dict[str, Any]:
    """Each audited trial's best val_loss when pruned and at the full budget, and how many of
    them beat ``winner`` (the search's best val_loss, also one seed's run)."""
    by_trial = {run.origin: run for run in runs}
    audited = []
    for trial in [t for t in search if t.number in by_trial]:
        full = by_trial[trial.number].best_val_loss
        audited.append({
            "trial_index": trial.number,
            "pruned_at": len(trial.epochs),
            "pruned_val_loss": trial.best_val_loss,
            "full_val_loss": full,
            "beats_winner": full < winner,
        })  # fmt: skip
    pruned = sum(t.stop_reason == "asha" for t in search)
    return {
        "fraction": fraction, "pruned": pruned, "audited": audited,
        "would_have_won": sum(row["beats_winner"] for row in audited), "winner_val_loss": winner,
    }  # fmt: skip
