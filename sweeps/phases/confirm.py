"""Confirmation of the search's best configurations, over fresh seeds.

The trial that wins a search is often the one with the luckiest seed: its validation loss is
one draw of a noisy figure. So the ``--confirm-top`` best configurations are trained again
from scratch, ``--confirm-seeds`` times each with a fresh trial seed, to the full epoch budget,
and the configuration with the best mean best-val_loss wins. The runs are trials of a study of
their own in the sweep's journal, enqueued with their configuration's parameters.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scipy import stats

from sweeps.phases.base import Phase
from sweeps.record import TrialRecord, best_trial, ranked
from sweeps.storage import CONFIRM, CONFIRMATION


class Confirmation(Phase):
    study = CONFIRM
    origin = "confirms"  # a run's: the search trial whose configuration it runs again
    table = CONFIRMATION

    def runs(self, search: list[TrialRecord]) -> list[tuple[TrialRecord, int]]:
        """Each of the ``--confirm-top`` best configurations, ``--confirm-seeds`` times."""
        seeds = range(1, self.cfg.confirm_seeds + 1)
        return [(trial, r) for trial in candidates(search, self.cfg.confirm_top) for r in seeds]

    def findings(
        self,
        search: list[TrialRecord],
        runs: list[TrialRecord],
        chosen: TrialRecord | None,
        searched: list[str],
    ) -> tuple[TrialRecord | None, dict[str, Any]]:
        """The best run of the configuration with the best mean, and every configuration's
        runs; whether the search's own winner held."""
        rows = summary(search, runs, self.cfg.confirm_top, searched)
        if not rows:
            return chosen, {}
        winner = rows[0]["trial_index"]
        found = {
            "confirmation": rows,
            "search_winner": ranked(search)[0].number,
            "search_winner_held": winner == ranked(search)[0].number,
        }
        return best_trial([r for r in runs if r.origin == winner]), found


def candidates(search: list[TrialRecord], top: int) -> list[TrialRecord]:
    """The search's ``top`` best trials by best val_loss, one per configuration."""
    chosen: list[TrialRecord] = []
    for trial in ranked(search):
        if all(trial.params != other.params for other in chosen):
            chosen.append(trial)
    return chosen[:top]


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
        mine = sorted((r for r in runs if r.origin == trial.number), key=lambda r: r.replicate)
        losses = [r.best_val_loss for r in mine]
        mean, low, high = interval95(losses) if losses else (math.inf, math.inf, math.inf)
        rows.append({
            "trial_index": trial.number,
            "config": {name: trial.params[name] for name in searched if name in trial.params},
            "search_val_loss": trial.best_val_loss,
            "runs": [{"replicate": r.replicate, "best_val_loss": r.best_val_loss,
                      "status": r.status} for r in mine],
            "mean": mean, "ci95": [low, high],
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["mean"])
