"""The sweep's tables, written from its record: trials.parquet, epochs.parquet and best.json.

Every row comes from the journal (:mod:`sweeps.record`), which holds every trial of every run of
the sweep, so the tables of a sweep resumed after any kill are those of one that never stopped.
The best trial is the one with the lowest validation loss; its best-validation weights are
evaluated on the test split here, once, after every trial has ended.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from sweeps import budget, lockbox, phases
from sweeps.config import SweepConfig
from sweeps.record import (
    BUDGET,
    ERROR,
    REPORTED_AT,
    StoppedOn,
    SweepRecord,
    TrialRecord,
    best_trial,
    timeouts,
)
from sweeps.storage import BEST, CONFIRM, EPOCHS, TRIALS, SweepFolder
from trainable.checkpoint import CheckpointError

EPOCH_COLUMNS = (
    "epoch", "train_loss", "train_acc", "train_rows", "val_loss", "val_acc", "lr", REPORTED_AT
)  # fmt: skip
COUNTED = ("epoch", "train_rows")  # the integer columns
# The columns of trials.parquet besides the hyperparameters, which sit after the first two.
TRIAL_COLUMNS = (
    "trial_id", "trial_index", "status", "stop_reason", "epochs", "best_val_loss", "best_epoch",
    "error",
)  # fmt: skip


@dataclass(frozen=True)
class SweepResults:
    trials: pa.Table
    epochs: pa.Table
    best: dict[str, Any] | None
    interrupted: bool  # trials left to run: no model was chosen or tested
    folder: str  # the sweep folder's URI
    # The sweep stopped on an error that repeats (--fail-fast): the error and the trials it ended.
    stopped_on: StoppedOn | None = None


def trial_row(trial: TrialRecord, cfg: SweepConfig, hung: dict[str, int]) -> dict[str, Any]:
    """A trial's row; ``hung`` names the Ray trial folders ``--trial-timeout`` stopped: a trial
    that ended in error after that is recorded as stopped by the timeout."""
    last = trial.last
    reason, error = trial.stop_reason, trial.error
    stopped = sum(hung.get(folder, 0) for folder in trial.folders)
    if trial.status == ERROR and stopped:
        reason = "timeout"
        error = f"no result for {cfg.trial_timeout:g}s (--trial-timeout), {stopped}x"
    return {
        "trial_id": trial.trial_id,
        "trial_index": trial.number,
        **trial.params,
        "status": trial.status,
        "stop_reason": reason,
        "epochs": len(trial.epochs),
        "best_val_loss": last.best_val_loss if last else None,
        "best_epoch": last.best_epoch if last else None,
        "error": error,
    }


def evaluate_best(
    trial: TrialRecord, cfg: SweepConfig, folder: SweepFolder, searched: list[str]
) -> dict[str, Any]:
    """The best trial's entry, with the test metrics of its best-validation weights (each of
    its checkpoints holds them; the newest that loads is used), through the lockbox: a sweep
    that has tested another trial gets the entry with ``test_refused`` instead, unless
    ``--retest``. A confirmation run is named by its configuration's search trial."""
    settings = cfg.trial_settings()
    best_epoch = trial.last.best_epoch
    at_best = next((e for e in trial.epochs if e.epoch == best_epoch), None)
    entry = {
        "trial_id": trial.trial_id,
        "trial_index": trial.index,
        "replicate": trial.replicate,
        "config": {name: trial.params[name] for name in searched if name in trial.params},
        **{key: settings[key] for key in ("model", "model_args", "dataset")},
        "best_epoch": best_epoch,
        "val_loss": trial.last.best_val_loss,
        "val_acc": at_best.val_acc if at_best else None,
    }
    problems = []
    for path in trial.checkpoints:
        uri = folder.file_uri(path)
        try:
            with local_copy(folder, path) as directory:
                test = lockbox.read_test(folder, trial.index, directory, path, retest=cfg.retest)
        except (CheckpointError, OSError, pa.ArrowException) as err:
            problems.append(str(err).splitlines()[0])
            continue
        except lockbox.TestSplitLocked as refused:
            return {**entry, "test_loss": None, "test_acc": None, "test_refused": str(refused),
                    "checkpoint": uri}  # fmt: skip
        return {**entry, "test_loss": test["test_loss"], "test_acc": test["test_acc"],
                "checkpoint": uri}  # fmt: skip
    raise CheckpointError(f"no checkpoint of {trial.name} loads: " + "; ".join(problems))


@contextlib.contextmanager
def local_copy(folder: SweepFolder, path: str) -> Iterator[str]:
    """A folder of the sweep as a local directory: itself, or a temporary copy of an object
    store's."""
    if folder.is_local:
        yield folder.file(path)
        return
    with tempfile.TemporaryDirectory(prefix="sweeps-") as local:
        pafs.copy_files(
            folder.file(path), local,
            source_filesystem=folder.filesystem, destination_filesystem=pafs.LocalFileSystem(),
        )  # fmt: skip
        yield local


def write(cfg: SweepConfig, folder: SweepFolder, record: SweepRecord) -> SweepResults:
    """Write the tables and, for a finished sweep, test its best trial: the search's best, or
    what a later phase chose instead (with confirmation, the best run of the configuration with
    the best mean)."""
    trials = record.trials()
    hung = timeouts(folder)
    rows = [trial_row(trial, cfg, hung) for trial in trials]
    epoch_rows = [
        {"trial_id": trial.trial_id, **{name: getattr(epoch, name) for name in EPOCH_COLUMNS}}
        for trial in trials
        for epoch in trial.epochs
    ]
    table = _table(rows)
    epochs = pa.Table.from_pylist(epoch_rows, schema=_epoch_schema())
    folder.write_bytes(TRIALS, _parquet(table))
    folder.write_bytes(EPOCHS, _parquet(epochs))
    interrupted = _search_left(cfg, record, trials)
    # The time budget stopped the later phases' runs: those cut are ended, the rest never ran.
    cut_short = (record.time_spent or {}).get("phases_closed", False)
    searched = list(record.distributions())
    chosen, found, planned = best_trial(trials), {}, {}
    for phase in phases.of(cfg)[1:]:  # each phase's runs follow from the ended ones before
        if interrupted:
            break
        phase_record = phase.record(folder)
        if phase_record.planned is not None:  # planned to fit a time budget
            planned[phase.study] = phase_record.planned
            phase = phase.sized(phase_record.planned)
        runs = phase_record.trials()
        if phase.table:
            folder.write_bytes(phase.table, _parquet(_table([run_row(r, cfg, hung) for r in runs])))
        left = len(runs) < len(phase.runs(trials)) or not all(_ended(r) for r in runs)
        interrupted = left and not cut_short
        chosen, extra = phase.findings(trials, runs, chosen, searched)
        found.update(extra)
    if record.time_spent is not None:
        found["time_budget"] = {**record.time_spent, "planned": planned}
    # The test split is read once, for the final choice: never for an unfinished sweep.
    best = None if interrupted else _best(chosen, found, cfg, folder, searched)
    return SweepResults(table, epochs, best, interrupted, folder.uri, record.stopped_on)


def _ended(trial: TrialRecord) -> bool:
    """Ended, or never started because the time budget was spent (it stays unfinished)."""
    return trial.finished or trial.stop_reason == BUDGET


def _search_left(cfg: SweepConfig, record: SweepRecord, trials: list[TrialRecord]) -> bool:
    """Whether the search has trials left to run: fewer than ``--num-trials`` (or, with a time
    budget, its share not spent), or one unfinished but for those the budget never started."""
    closed = (record.time_spent or {}).get("search_closed", False)
    limit = cfg.trial_limit
    short = not closed and (limit is None or len(trials) < limit)
    return short or not all(_ended(t) for t in trials)


def run_row(run: TrialRecord, cfg: SweepConfig, hung: dict[str, int]) -> dict[str, Any]:
    """A later phase's run's row: named by its search trial, and which of its runs it is."""
    return {**trial_row(run, cfg, hung), "trial_index": run.index, "replicate": run.replicate}


def _best(
    chosen: TrialRecord | None,
    found: dict[str, Any],
    cfg: SweepConfig,
    folder: SweepFolder,
    searched: list[str],
) -> dict[str, Any] | None:
    """The model to test, tested once: a best.json that already names it, tested, keeps its
    entry (a sweep extended with more trials, or one stopped after it wrote best.json); what
    the later phases found is written beside it."""
    earlier = json.loads(folder.read_text(BEST)) if folder.has(BEST) else None
    if chosen is None:
        return earlier
    kept = (
        earlier
        and "test_refused" not in earlier
        and (earlier["trial_index"], earlier.get("replicate", 0))
        == (chosen.index, chosen.replicate)
    )
    best = {**(earlier if kept else evaluate_best(chosen, cfg, folder, searched)), **_finite(found)}
    if best != earlier:
        folder.write_bytes(BEST, json.dumps(best, indent=2).encode())
    return best


def _finite(value: Any) -> Any:
    """JSON has no infinity: a configuration with no finite run has no mean (null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def time_budget_lines(noted: dict[str, Any] | None) -> list[str]:
    """What a time budget spent and changed (``best.json``'s ``time_budget``), in a line or
    two; none without a budget."""
    if not noted:
        return []
    closed = "; it closed the search" if noted["search_closed"] else ""
    spent = f"{budget.shown(noted['spent_s'])} spent"
    lines = [f"time budget {budget.shown(noted['budget_s'])}: {spent}{closed}"]
    confirm = noted.get("planned", {}).get(CONFIRM)
    if confirm and confirm.get("confirm_seeds") == 0:
        lines.append("confirmation skipped: not one run to the full budget fitted in the time "
                     "left; the search's best is the model")  # fmt: skip
    elif confirm:
        lines.append(f"confirmation cut to fit the time left: {confirm['confirm_top']} "
                     f"configurations x {confirm['confirm_seeds']} seeds")  # fmt: skip
    return lines


def read_table(folder: SweepFolder, filename: str) -> list[dict[str, Any]]:
    """The rows of one of the sweep's tables, or none before it is first written."""
    if not folder.has(filename):
        return []
    return pq.read_table(io.BytesIO(folder.read_bytes(filename))).to_pylist()


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows to a table with every column any row has (conditional hyperparameters: null)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    params = [key for key in keys if key not in TRIAL_COLUMNS]
    columns = keys[:2] + params + [key for key in keys[2:] if key not in params]
    return pa.Table.from_pylist([{key: row.get(key) for key in columns} for row in rows])


def _epoch_schema() -> pa.Schema:
    columns = [(name, pa.int64() if name in COUNTED else pa.float64()) for name in EPOCH_COLUMNS]
    return pa.schema([pa.field("trial_id", pa.string())] + [pa.field(*c) for c in columns])


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
