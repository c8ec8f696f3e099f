"""The report's numbers: ASHA's rungs, what pruning saved, the best loss per choice, importances."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from sweeps.config import SweepConfig
from sweeps.report.data import Sweep, distinct_sorted, is_finite

# Optuna's default fANOVA forest (64 trees up to 64 deep) grows with the trials and, past a
# hundred of them, makes the report slow; a smaller one ranks the hyperparameters alike.
FULL_FOREST_TRIALS = 100
SMALL_FOREST = {"n_trees": 32, "max_depth": 8}
GRID_PAIR = ("optimizer", "activation")  # the built-in spaces' choices, tabulated where searched
ONE_COLUMN = "best val_loss"  # the grid's column when the sweep has a single categorical


def rungs(cfg: SweepConfig) -> list[int]:
    """ASHA's milestones: grace_period x reduction_factor^k below max_epochs."""
    marks, t = [], float(cfg.grace_period)
    while t < cfg.max_epochs:
        marks.append(int(t))
        t *= cfg.reduction_factor
    return marks


def pruning(sweep: Sweep) -> dict[str, Any]:
    """Trials pruned at each ASHA rung, other early stops, and the epochs saved by all of them."""
    by_rung = {rung: 0 for rung in rungs(sweep.cfg)}
    for trial in sweep.trials:
        if trial["stop_reason"] == "asha":
            rung = max((r for r in by_rung if r <= trial["epochs"]), default=trial["epochs"])
            by_rung[rung] = by_rung.get(rung, 0) + 1
    trained = sum(t["epochs"] for t in sweep.trials)
    budget = len(sweep.trials) * sweep.cfg.max_epochs
    reasons: dict[str, int] = {}
    for trial in sweep.trials:
        reasons[trial["stop_reason"]] = reasons.get(trial["stop_reason"], 0) + 1
    return {
        "by_rung": by_rung,
        "reasons": reasons,
        "trained": trained,
        "budget": budget,
        "saved": budget - trained,
    }


def grid_params(sweep: Sweep, importance: dict[str, float]) -> list[str]:
    """The (up to) two categorical hyperparameters to tabulate: optimizer and activation where
    the sweep searched both, so that sweeps of the built-in spaces compare, else those that
    mattered most (conditional ones have no importance and come last)."""
    categorical = sweep.categorical
    if set(GRID_PAIR) <= set(categorical):
        return list(GRID_PAIR)
    return sorted(categorical, key=lambda p: -importance.get(p, 0.0))[:2]


def grid(sweep: Sweep, importance: dict[str, float]) -> dict[str, Any]:
    """Best val_loss for each pair of choices of :func:`grid_params` tried; with one of them,
    for each of its choices, in the column ``ONE_COLUMN``."""
    names = grid_params(sweep, importance)
    cells: dict[tuple[Any, Any], float] = {}
    for t in sweep.trials:
        choices = [t[n] for n in names]
        if names and None not in choices and is_finite(t["best_val_loss"]):
            key = (choices[0], choices[1] if len(names) == 2 else ONE_COLUMN)
            cells[key] = min(cells.get(key, math.inf), t["best_val_loss"])
    return {
        "names": names,
        "rows": distinct_sorted(r for r, _ in cells),
        "columns": distinct_sorted(c for _, c in cells),
        "cells": cells,
    }


def importances(sweep: Sweep) -> dict[str, float]:
    """Optuna's fANOVA importances of the hyperparameters for the best val_loss a trial reached.

    Pruned trials count with their best value before they stopped (else TPE + ASHA leave only
    a handful of complete trials). Hyperparameters that some trials lack are left out, as
    Optuna's evaluators need every trial to have them.
    """
    if sweep.study is None:
        return {}
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    scored = optuna.create_study(direction="minimize")
    for trial in sweep.study.get_trials(deepcopy=False, states=finished):
        values = [v for v in trial.intermediate_values.values() if math.isfinite(v)]
        value = trial.value if trial.value is not None else min(values, default=None)
        if value is not None and trial.params:
            scored.add_trial(
                optuna.trial.create_trial(
                    params=trial.params, distributions=trial.distributions, value=value
                )
            )
    if len(scored.trials) < 2:
        return {}
    forest = SMALL_FOREST if len(scored.trials) > FULL_FOREST_TRIALS else {}
    evaluator = FanovaImportanceEvaluator(seed=sweep.cfg.seed, **forest)
    return get_param_importances(scored, evaluator=evaluator)
