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

from sweeps.budget import confirmation_size
from sweeps.phases.base import Phase
from sweeps.record import BUDGET, TrialRecord, best_trial, ranked
from sweeps.storage import CONFIRM, CONFIRMATION


class Confirmation(Phase):
    study = CONFIRM
    origin = "confirms"  # a run's: the search trial whose configuration it runs again
    table = CONFIRMATION

    def runs(self, search: list[TrialRecord], running: int = 0) -> list[tuple[TrialRecord, int]]:
        """Each of the ``--confirm-top`` best configurations, ``--confirm-seeds`` times; with
        ``running`` search trials still running, each that is certain to stay among them:
        each trial that ends pushes an ended one down one place at most."""
        seeds = range(1, self.cfg.confirm_seeds + 1)
        certain = candidates(search, max(0, self.cfg.confirm_top - running))
        return [(trial, r) for trial in certain for r in seeds]

    def fit(self, search: list[TrialRecord], fitting: int) -> dict[str, Any]:
        """Fewer seeds or fewer configurations, the most runs that fit (see
        :func:`sweeps.budget.confirmation_size`); none at all if not one run fits. Sized on
        ``--confirm-top``, not on the configurations ended so far: it is planned at the
        search's tail, when more may yet end."""
        asked = (self.cfg.confirm_top, self.cfg.confirm_seeds)
        size = confirmation_size(*asked, fitting)
        if size == asked:
            return {}
        return {"confirm_top": max(1, size[0]), "confirm_seeds": size[1]}

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
        if not runs or not rows or not math.isfinite(rows[0]["mean"]):
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
    """Mean and Student's t 95% interval of the mean (the mean alone, twice, for one value;
    infinite, for a value that is not finite: a run that diverged or failed)."""
    if not all(math.isfinite(value) for value in values):
        return math.inf, math.inf, math.inf
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
    not finite, and its configuration's mean with it; one the time budget stopped short is
    listed but not counted)."""
    rows = []
    for trial in candidates(search, top):
        mine = sorted((r for r in runs if r.origin == trial.number), key=lambda r: r.replicate)
        losses = [r.best_val_loss for r in mine if r.stop_reason != BUDGET]
        mean, low, high = interval95(losses) if losses else (math.inf, math.inf, math.inf)
        rows.append({
            "trial_index": trial.number,
            "config": {name: trial.params[name] for name in searched if name in trial.params},
            "search_val_loss": trial.best_val_loss,
            "runs": [{"replicate": r.replicate, "best_val_loss": r.best_val_loss,
                      "status": r.status, "stop_reason": r.stop_reason} for r in mine],
            "mean": mean, "ci95": [low, high],
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["mean"])
