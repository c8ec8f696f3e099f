"""``python -m sweeps.run``: validate everything, run the sweep on Ray, write and summarise results.

Bad input ends here with one line on stderr and exit code 2, before Ray starts and before
anything in an existing sweep folder is touched. Exit codes: 0 a usable model, 1 none (or the
sweep stopped on an error that repeats, ``--fail-fast``), 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search_spaces import Vocabulary
from sweeps import budget, config, resume, session
from sweeps.budget import TimeBudget
from sweeps.config import USER_ERRORS, ConfigError, SweepConfig
from sweeps.record import SweepRecord
from sweeps.session import import_modules, in_background, ray_session
from sweeps.space import TRIAL_INDEX, SpaceInfo, check_space
from sweeps.storage import REPORT, SAVED_CONFIG, SAVED_SPACE, SweepFolder
from sweeps.tune import cluster
from trainable import preflight, user_code

if TYPE_CHECKING:
    from sweeps.record import StoppedOn
    from sweeps.results import SweepResults

# What a sweep imports once its input is checked, while Ray starts: torch, Ray Tune, TensorBoard,
# matplotlib, and scikit-learn for the report's fANOVA: seconds on a small machine. Checking the
# input imports none of them, and the report's imports need not wait for the sweep's end.
SWEEP_MODULES = ("sweeps.tune.tuner", "sweeps.outputs", "sweeps.report")


@dataclass(frozen=True)
class Plan:
    """A sweep that passed every check: its final config, folder and search space."""

    cfg: SweepConfig
    folder: SweepFolder
    space: SpaceInfo
    runtime_env: dict[str, Any]  # what Ray ships to workers on a cluster: the user's code
    code: bytes | None = None  # the user's objects that came by value (a notebook's), serialised
    budget: TimeBudget | None = None  # the clock of a sweep with a --time-budget


def prepare(cfg: SweepConfig, started: float | None = None) -> Plan:
    """Check the sweep can run (and resolve a resumed one's saved config) without touching Ray;
    ``started``: when the command started (``time.monotonic``), which a time budget counts
    from (default: now)."""
    started = time.monotonic() if started is None else started
    session.settings()
    folder = SweepFolder.in_storage(cfg.storage, cfg.name)
    if cfg.resume:
        cfg = resume.saved(cfg, folder)
        folder.load_code(user_code_of(cfg))
    elif folder.exists():
        raise ConfigError(
            f"sweep {cfg.name!r} already exists in {folder.storage}; "
            "continue it with --resume or choose another --name"
        )
    settings = cfg.trial_settings()
    space = check_space(cfg.space, settings, Vocabulary.of(cfg.model))
    edited = (
        cfg.resume
        and space.text is not None
        and folder.has(SAVED_SPACE)
        and folder.read_text(SAVED_SPACE) != space.text
    )
    if edited:
        raise ConfigError(
            f"search space file {cfg.space} changed since sweep {cfg.name!r} started; "
            f"restore it (a copy is in {folder.file_uri(SAVED_SPACE)}) or start a new sweep"
        )
    preflight.check({**settings, **space.first, TRIAL_INDEX: 0})
    clock = time_budget(cfg, folder, started)
    code = user_code.payload(user_code_of(cfg))
    folder.ensure_writable()
    return Plan(cfg, folder, space, runtime_env(cfg), code, clock)


def time_budget(cfg: SweepConfig, folder: SweepFolder, started: float) -> TimeBudget | None:
    """The clock of a sweep with a ``--time-budget``: what is left of it, from ``started``;
    a ConfigError if that is too little for a trial."""
    if cfg.time_budget is None:
        return None
    spent = resume.spent(folder) if cfg.resume else 0.0
    allowance, least = cfg.time_budget - spent, budget.minimum()
    if allowance >= least:
        return TimeBudget(allowance, started=started, spent_before=spent)
    if spent:
        raise ConfigError(
            f"sweep {cfg.name!r} has spent {budget.shown(spent)} of its "
            f"--time-budget {budget.shown(cfg.time_budget)}; continue it with a new "
            f"--time-budget of at least {budget.shown(least)}"
        )
    raise ConfigError(
        f"--time-budget {budget.shown(cfg.time_budget)} is too short: a sweep needs about "
        f"{budget.shown(least)} to start Ray, train a trial and write its results; give at "
        f"least {budget.shown(least)}"
    )


def user_code_of(cfg: SweepConfig) -> list[str]:
    """The references of the sweep's model, data loader and search space."""
    return [cfg.model, cfg.dataset, cfg.space]


def runtime_env(cfg: SweepConfig) -> dict[str, Any]:
    """The user's model and data code, shipped to every worker of a cluster (``py_modules``).

    On the local Ray the workers read the same files (and the driver's folder is on their
    path); installed code is on every node already. The search space runs in the driver only.
    """
    if not cfg.joins_cluster:
        return {}
    references = [ref for ref in (cfg.model, cfg.dataset) if user_code.is_reference(ref)]
    shipped = {str(path) for ref in references if (path := user_code.source_file(ref))}
    return {"py_modules": sorted(shipped)} if shipped else {}


def run(plan: Plan) -> SweepResults:
    cfg, folder = plan.cfg, plan.folder
    imported = in_background(import_modules, SWEEP_MODULES)
    with ray_session(cfg, plan.runtime_env):
        imported.result()
        from sweeps.tune import tuner

        cluster.check_resources(cfg)  # first: nodes it waits for are probed too
        cluster.check_shared_storage(folder)
        # A larger --num-trials is saved too: a sweep resumed again continues the larger one.
        folder.write_bytes(SAVED_CONFIG, cfg.model_dump_json(indent=2).encode())
        folder.write_code(plan.code)
        if plan.space.text is not None and not cfg.resume:
            folder.write_bytes(SAVED_SPACE, plan.space.text.encode())
        # The search, then its best confirmed over seeds and its pruning audited.
        sweep = tuner.build(cfg, folder, plan.space, plan.code, plan.budget)
        try:
            if sweep is not None:
                tuner.fit(sweep)
        finally:
            cluster.withdraw(cfg)
        # Ray's shutdown is mostly waiting for its processes to exit; the results need no Ray,
        # so they are written meanwhile.
        from sweeps import outputs

        written = in_background(outputs.write, cfg, folder)
    results = written.result()
    if plan.budget is not None:  # what the whole run spent, for a --resume
        record = SweepRecord(folder)
        noted = record.time_spent or {}
        closed = (noted.get("search_closed", False), noted.get("phases_closed", False))
        record.note_time(cfg.time_budget, plan.budget.spent(), *closed)
    return results


def summary(outcome: SweepResults, folder: SweepFolder) -> str:
    statuses = outcome.trials.column("status").to_pylist()
    reasons = outcome.trials.column("stop_reason").to_pylist()
    counts = ", ".join(f"{reasons.count(r)} {r}" for r in sorted(set(reasons)))
    if outcome.stopped_on is not None:
        return "\n".join([
            f"\nSweep stopped: {len(statuses)} trials started ({counts}); results so far are in "
            f"{folder.uri}.",
            f"Fix the error, then continue it with: python -m sweeps.run --name {folder.name} "
            f"--storage {folder.storage} --resume",
            f"Report: {folder.file_uri(REPORT)}",
            watch(folder),
            stopped_on(outcome.stopped_on),
        ])  # fmt: skip
    if outcome.interrupted:
        return (
            f"\nSweep interrupted: {len(statuses)} trials started ({counts}); results so far are "
            f"in {folder.uri}.\nContinue it with: python -m sweeps.run --name {folder.name} "
            f"--storage {folder.storage} --resume"
        )
    lines = [f"\nSweep finished: {len(statuses)} trials ({counts})."]
    best = outcome.best
    if best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(best["config"].items()))
        lines += [
            f"Best trial {best['trial_index']} ({best['trial_id']}): {params}",
            *budgeted(best),
            *confirmed(best),
            *audited(best),
            f"  best epoch {best['best_epoch']}: val_loss {best['val_loss']:.4f}, "
            f"val_acc {best['val_acc']:.4f}",
            f"  test not read: {best['test_refused']}"
            if "test_refused" in best
            else f"  test (evaluated once): loss {best['test_loss']:.4f}, "
            f"acc {best['test_acc']:.4f}",
        ]
    else:
        lines.append("No trial produced a usable model.")
    lines += [f"Results: {folder.uri}", f"Report: {folder.file_uri(REPORT)}", watch(folder)]
    return "\n".join(lines)


def stopped_on(stopped: StoppedOn) -> str:
    """The last line of a sweep that ``--fail-fast`` stopped: the error and the trials it ended."""
    *others, last = stopped.trials
    trials = f"{', '.join(others)} and {last} each" if others else last
    return f"Sweep stopped (--fail-fast): {trials} ended with {stopped.error}"


def exit_code(outcome: SweepResults) -> int:
    """0: a usable model; 1: none, or stopped on an error that repeats; 130: interrupted."""
    if outcome.stopped_on is not None:
        return 1
    if outcome.interrupted:
        return 130
    return 0 if outcome.best else 1


def confirmed(best: dict[str, Any]) -> list[str]:
    """What confirmation found, in a line or two (none without confirmation)."""
    if "confirmation" not in best:
        return []
    winner = best["confirmation"][0]
    low, high = winner["ci95"]
    lines = [
        f"  confirmed over {len(winner['runs'])} fresh seeds: mean best val_loss "
        f"{_fmt(winner['mean'])} (95% interval {_fmt(low)} to {_fmt(high)}); "
        f"tested: its run {best['replicate']}"
    ]
    if not best["search_winner_held"]:
        lines.append(
            f"  the search's best, trial {best['search_winner']}, did not hold up over seeds"
        )
    return lines


def budgeted(best: dict[str, Any]) -> list[str]:
    """What the time budget spent and changed, in a line or two (none without a budget)."""
    from sweeps.results import time_budget_lines  # imported with the sweep's modules

    return [f"  {line}" for line in time_budget_lines(best.get("time_budget"))]


def audited(best: dict[str, Any]) -> list[str]:
    """What the pruner audit found, in a line (none without an audit)."""
    if "audit" not in best:
        return []
    found = best["audit"]
    return [
        f"  pruner audit: {found['would_have_won']} of {len(found['audited'])} pruned trials "
        f"continued to the full budget would have beaten the search's best"
    ]


def started(folder: SweepFolder) -> str:
    return f"Sweep {folder.name} in {folder.uri}\n{watch(folder)}"


def watch(folder: SweepFolder) -> str:
    return f"TensorBoard: python -m sweeps.tensorboard {folder.uri}"


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    begun = time.monotonic()
    # Once the process exits, everything is written: the interpreter need not collect the
    # cycles of torch's, Ray's and Optuna's objects on its way out, which takes a while.
    atexit.register(gc.freeze)
    try:
        plan = prepare(config.parse(argv), begun)
        print(started(plan.folder), flush=True)
        outcome = run(plan)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary(outcome, plan.folder))
    return exit_code(outcome)


if __name__ == "__main__":
    sys.exit(main())
