"""Confirmation of the search's best configurations, over fresh seeds.

The trial that wins a search is often the one with the luckiest seed: its validation loss is
one draw of a noisy figure. So the ``--confirm-top`` best configurations are trained again
from scratch, ``--confirm-seeds`` times each with a fresh trial seed, to the full epoch budget,
and the configuration with the best mean best-val_loss wins. The runs are trials of a second
study in the sweep's journal (:data:`CONFIRM`), enqueued with their configuration's parameters,
so they run as Ray trials, retry and resume exactly as the search's do.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats

from sweeps.record import CONFIRMS_ATTR, REPLICATE_ATTR, SweepRecord, TrialRecord
from sweeps.tune.stopping import ERROR, INCOMPLETE

CONFIRM = "confirm"  # the confirmation runs' study in the journal


def best_val_loss(trial: TrialRecord) -> float:
    value = (trial.last or {}).get("best_val_loss")
    return value if value is not None and math.isfinite(value) else math.inf


def ranked(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that ended with a finite best val_loss, best first (ties: lowest number)."""
    ended = [
        t for t in trials if t.status not in (ERROR, INCOMPLETE) and best_val_loss(t) < math.inf
    ]
    return sorted(ended, key=lambda t: (best_val_loss(t), t.number))


def candidates(search: list[TrialRecord], top: int) -> list[TrialRecord]:
    """The search's ``top`` best trials by best val_loss, one per configuration."""
    chosen: list[TrialRecord] = []
    for trial in ranked(search):
        if all(trial.params != other.params for other in chosen):
            chosen.append(trial)
    return chosen[:top]


def plan(record: SweepRecord, search: list[TrialRecord], top: int, seeds: int) -> int:
    """Enqueue the runs of the ``top`` configurations not yet in ``record``; how many runs the
    plan has in all. A run is its configuration's search trial and a replicate 1..``seeds``,
    so a plan enqueued in part before a kill is completed, not repeated."""
    have = {(attrs.get(CONFIRMS_ATTR), attrs.get(REPLICATE_ATTR)) for attrs in record.attributes()}
    runs = [(trial, r) for trial in candidates(search, top) for r in range(1, seeds + 1)]
    for trial, replicate in runs:
        if (trial.number, replicate) not in have:
            record.enqueue(trial.params, {CONFIRMS_ATTR: trial.number, REPLICATE_ATTR: replicate})
    return len(runs)


def interval95(values: list[float]) -> tuple[float, float, float]:
    """Mean and Student's t 95% interval of the mean (the mean alone, twice, for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def summary(
    search: list[TrialRecord], runs: list[TrialRecord], top: int, searched: list[str]
) -> list[dict[str, Any]]:
    """Each confirmed configuration, best mean first: its search trial and loss, and its runs'
    best val_loss with their mean and 95% interval (a run that errored or diverged counts as
    not finite, and its configuration's mean with it)."""
    rows = []
    for trial in candidates(search, top):
        mine = sorted((r for r in runs if r.confirms == trial.number), key=lambda r: r.replicate)
        losses = [best_val_loss(r) for r in mine]
        mean, low, high = interval95(losses) if losses else (math.inf, math.inf, math.inf)
        rows.append({
            "trial_index": trial.number,
            "config": {name: trial.params[name] for name in searched if name in trial.params},
            "search_val_loss": best_val_loss(trial),
            "runs": [{"replicate": r.replicate, "best_val_loss": best_val_loss(r),
                      "status": r.status} for r in mine],
            "mean": mean, "ci95": [low, high],
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["mean"])
