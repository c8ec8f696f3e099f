"""``sweeps.sweep(...)``: the Python entry point, for notebooks and scripts.

It takes the options of ``python -m sweeps.run`` as keyword arguments (``num_trials=32``,
``max_epochs=10``, ...), and the model, dataset and space as objects or as the strings the CLI
takes. It runs the same checks before Ray starts (raising their one-line errors), writes the
same sweep folder, and returns the results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sweeps import config, run
from sweeps.results import SweepResults
from trainable.user_code import reference_of


def sweep(
    *,
    model: str | Callable[..., Any] = "mlp",
    dataset: str | Callable[..., Any] = "digits",
    space: str | Callable[..., Any] = "default",
    **options: Any,
) -> SweepResults:
    """Run a sweep; ``model``, ``dataset`` and ``space`` may be a module-level class or function.

    Workers and checkpoints rebuild them by import path, so an object must live in a module
    (or in the running script), not in a notebook cell.
    """
    values = {
        **options,
        "model": reference_of(model, "model"),
        "dataset": reference_of(dataset, "dataset"),
        "space": reference_of(space, "search space"),
    }
    plan = run.prepare(config.validate(values))
    print(run.started(plan.folder), flush=True)
    outcome = run.run(plan)
    print(run.summary(outcome, plan.folder))
    return outcome
