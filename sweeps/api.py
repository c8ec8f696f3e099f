"""``sweeps.sweep(...)``: the Python entry point, for notebooks and scripts.

It takes the options of ``python -m sweeps.run`` as keyword arguments (``num_trials=32``,
``max_epochs=10``, ``time_budget="10m"``, ...), and the model, dataset and space as objects
or as the strings the CLI takes. It runs the same checks before Ray starts (raising their
one-line errors), writes the same sweep folder, and returns the results.
"""

from __future__ import annotations

import time
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
    """Run a sweep; ``model``, ``dataset`` and ``space`` may be a top-level class or function.

    One from a module or the running script travels by its import path. One defined in a
    notebook cell or an interactive session travels by value (see :mod:`trainable.by_value`):
    sent to every worker, and kept in the sweep folder for ``--resume``, replays and rebuilt
    checkpoints. To resume such a sweep from the notebook, pass the same objects with
    ``resume=True``; they win over the folder's copy.
    """
    started = time.monotonic()  # a time_budget counts from here
    values = {
        **options,
        "model": reference_of(model, "model"),
        "dataset": reference_of(dataset, "dataset"),
        "space": reference_of(space, "search space"),
    }
    plan = run.prepare(config.validate(values), started)
    print(run.started(plan.folder), flush=True)
    outcome = run.run(plan)
    print(run.summary(outcome, plan.folder))
    return outcome
