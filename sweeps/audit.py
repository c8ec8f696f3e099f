"""The pruner audit (``--audit-pruned FRACTION``): what pruning cost, measured.

ASHA stops a trial whose validation loss trails its rung's; whether such a trial would have
gone on to beat the winner is assumed, not known. Here a seeded sample of that fraction of the
trials ASHA pruned is continued, each from its own newest checkpoint with its own seed, to the
full epoch budget, with neither ASHA nor the stopper cutting it, as trials of a third study of
the journal (:data:`AUDIT`), so the runs resume like the rest. The report says how many would
have beaten the search's winner.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sweeps.confirm import best_val_loss
from sweeps.record import AUDITS_ATTR, SweepRecord, TrialRecord

AUDIT = "audit"  # the audit runs' study in the journal


def sample(search: list[TrialRecord], fraction: float, seed: int) -> list[TrialRecord]:
    """``fraction`` of the trials ASHA pruned (rounded up), drawn with the sweep's seed."""
    pruned = sorted((t for t in search if t.stop_reason == "asha"), key=lambda t: t.number)
    count = math.ceil(fraction * len(pruned))
    chosen = random.Random(seed).sample(pruned, count) if count else []
    return sorted(chosen, key=lambda t: t.number)


def plan(record: SweepRecord, search: list[TrialRecord], fraction: float, seed: int) -> int:
    """Enqueue the audit runs not yet in ``record``; how many the plan has in all."""
    have = {attrs.get(AUDITS_ATTR) for attrs in record.attributes()}
    chosen = sample(search, fraction, seed)
    for trial in chosen:
        if trial.number not in have:
            record.enqueue(trial.params, {AUDITS_ATTR: trial.number})
    return len(chosen)


def summary(
    search: list[TrialRecord], runs: list[TrialRecord], fraction: float, winner: float
) -> dict[str, Any]:
    """Each audited trial's best val_loss when pruned and at the full budget, and how many of
    them beat ``winner`` (the search's best val_loss, also one seed's run)."""
    by_trial = {run.audits: run for run in runs}
    audited = []
    for trial in [t for t in search if t.number in by_trial]:
        full = best_val_loss(by_trial[trial.number])
        audited.append({
            "trial_index": trial.number,
            "pruned_at": len(trial.epochs),
            "pruned_val_loss": best_val_loss(trial),
            "full_val_loss": full,
            "beats_winner": full < winner,
        })  # fmt: skip
    pruned = sum(t.stop_reason == "asha" for t in search)
    return {
        "fraction": fraction, "pruned": pruned, "audited": audited,
        "would_have_won": sum(row["beats_winner"] for row in audited), "winner_val_loss": winner,
    }  # fmt: skip
