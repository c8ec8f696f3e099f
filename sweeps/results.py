"""A finished sweep as tables: trials.parquet, epochs.parquet and best.json in the sweep folder.

The best trial is the one with the lowest validation loss; its best-validation weights are
evaluated on the test split here, once, after every trial has ended.
"""

from __future__ import annotations

import io
import json
import math
import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from ray.tune import Result, ResultGrid

from sweeps.config import SweepConfig
from sweeps.storage import SweepFolder, load_study
from sweeps.tune.stopping import ERROR, INCOMPLETE, Outcome, outcome
from sweeps.tune.watchdog import timeouts
from trainable import user_code
from trainable.run import checkpoint_test_metrics

TRIALS, EPOCHS, BEST = "trials.parquet", "epochs.parquet", "best.json"
PROGRESS = "progress.csv"  # Ray's CSV log of a trial's reports
EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
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


def collect(
    grid: ResultGrid, cfg: SweepConfig, hung: dict[str, int], searched: list[str]
) -> tuple[list[tuple[Result, dict]], list[dict]]:
    """(Ray result, trial row) pairs and the epoch rows, ordered by trial index then epoch.

    ``hung`` names the trials that ``--trial-timeout`` stopped (by folder): one that ended in
    error after that is recorded as stopped by the timeout. ``searched`` names the
    hyperparameters, which get a column each.
    """
    trials, epoch_rows = [], []
    for result in grid:
        trial_dir = PurePosixPath(result.path).name
        trial_id = result.metrics.get("trial_id") or trial_dir
        ended = outcome(result.metrics, result.error is not None, cfg.max_epochs, cfg.patience)
        error = error_line(result.error) if result.error else None
        if ended.status == ERROR and trial_dir in hung:
            ended = Outcome(ERROR, "timeout")
            error = f"no result for {cfg.trial_timeout:g}s (--trial-timeout), {hung[trial_dir]}x"
        history = _history(result)
        config = result.config or {}  # None for a trial interrupted before it started
        trials.append((result, {
            "trial_id": trial_id,
            "trial_index": config.get("trial_index"),
            **hyperparameters(config, searched),
            "status": ended.status,
            "stop_reason": ended.reason,
            "epochs": len(history),
            "best_val_loss": result.metrics.get("best_val_loss"),
            "best_epoch": result.metrics.get("best_epoch"),
            "error": error,
        }))  # fmt: skip
        epoch_rows += [{"trial_id": trial_id, **row} for row in history]
    return trials, epoch_rows


def error_line(error: BaseException) -> str:
    """What a trial raised, in one line, with the user's file:line where the error came from
    the user's code; the traceback is in ``error.txt`` in its folder."""
    cause = getattr(error, "cause", None) or error  # Ray wraps it in a RayTaskError
    lines = str(cause).strip().splitlines()
    where = user_code.where_in(str(error))
    return f"{type(cause).__name__}: {lines[0] if lines else ''}" + (f" ({where})" if where else "")


def hyperparameters(config: dict[str, Any], searched: list[str]) -> dict[str, Any]:
    """The searched part of a trial config (a conditional one it lacks is left out)."""
    return {name: config[name] for name in searched if name in config}


def searched_names(folder: SweepFolder) -> list[str]:
    """The hyperparameters the study's trials were given, in the order the space suggests
    them: the journal is the record of what was searched (``batch_size``, say, is a setting
    of every trial config whether searched or not)."""
    study = load_study(folder)
    trials = study.get_trials(deepcopy=False) if study else []
    return list(dict.fromkeys(name for trial in trials for name in trial.distributions))


def _history(result: Result) -> list[dict[str, Any]]:
    """The trial's epochs; a resumed trial may report an epoch twice, the last report wins.

    ``metrics_dataframe`` is Ray's ``result.json``. When Tune restarts a failed trial, its JSON
    and CSV loggers first copy both files back from the storage, and that copy can drop a row
    written since the last sync from one of them (seen: epoch 16 in ``progress.csv`` only), so
    the rows of ``progress.csv`` count too.
    """
    frame = result.metrics_dataframe
    reported = _progress_rows(result)
    if frame is not None and "epoch" in frame:
        reported += frame[list(EPOCH_COLUMNS)].to_dict("records")
    by_epoch = {int(row["epoch"]): {**row, "epoch": int(row["epoch"])} for row in reported}
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def _progress_rows(result: Result) -> list[dict[str, Any]]:
    """The epoch columns of the trial's ``progress.csv`` (none if it has no such file)."""
    path = posixpath.join(result.path, PROGRESS)
    if result.filesystem.get_file_info(path).type != pafs.FileType.File:
        return []
    with result.filesystem.open_input_stream(path) as stream:
        table = pacsv.read_csv(stream)
    if "epoch" not in table.column_names or not table.num_rows:
        return []
    rows = table.select(list(EPOCH_COLUMNS)).to_pylist()
    return [row for row in rows if row["epoch"] is not None]


def best_trial(trials: list[tuple[Result, dict]]) -> tuple[Result, dict] | None:
    """The trial with the lowest finite best_val_loss that left a checkpoint."""
    candidates = [
        (result, row)
        for result, row in trials
        if row["status"] != ERROR
        and result.checkpoint is not None
        and math.isfinite(row["best_val_loss"] or math.inf)
    ]
    return min(candidates, key=lambda pair: pair[1]["best_val_loss"], default=None)


def evaluate_best(
    result: Result, row: dict, epoch_rows: list[dict], folder: SweepFolder, searched: list[str]
) -> dict[str, Any]:
    """Test the best trial's best-validation weights: the only time the test split is read."""
    with result.checkpoint.as_directory() as directory:
        test = checkpoint_test_metrics(directory)
    at_best = next(
        (
            e
            for e in epoch_rows
            if e["trial_id"] == row["trial_id"] and e["epoch"] == row["best_epoch"]
        ),
        {},
    )
    return {
        "trial_id": row["trial_id"],
        "trial_index": row["trial_index"],
        "config": hyperparameters(result.config, searched),
        "model": result.config["model"],
        "model_args": result.config["model_args"],
        "dataset": result.config["dataset"],
        "best_epoch": row["best_epoch"],
        "val_loss": row["best_val_loss"],
        "val_acc": at_best.get("val_acc"),
        **test,
        "checkpoint": folder.uri_for_path(result.checkpoint.path),
    }


def write(grid: ResultGrid, cfg: SweepConfig, folder: SweepFolder) -> SweepResults:
    """Write the tables (with the rows of trials from before an extension) and the best trial.

    A sweep extended with a larger ``--num-trials`` runs its new trials as a new Ray
    experiment in the same folder; the trials of the earlier runs keep their rows.
    """
    searched = searched_names(folder)
    pairs, new_epochs = collect(grid, cfg, timeouts(folder), searched)
    ran = {row["trial_id"] for _, row in pairs}
    earlier = [row for row in read_table(folder, TRIALS) if row["trial_id"] not in ran]
    rows = sorted(
        earlier + [row for _, row in pairs],
        key=lambda row: (row["trial_index"] is None, row["trial_index"]),
    )
    order = {row["trial_id"]: i for i, row in enumerate(rows)}
    epoch_rows = sorted(
        [row for row in read_table(folder, EPOCHS) if row["trial_id"] not in ran] + new_epochs,
        key=lambda row: (order[row["trial_id"]], row["epoch"]),
    )
    trials = _table(rows)
    epochs = pa.Table.from_pylist(epoch_rows, schema=_epoch_schema())
    folder.write_bytes(TRIALS, _parquet(trials))
    folder.write_bytes(EPOCHS, _parquet(epochs))
    statuses = [row["status"] for row in rows]
    interrupted = len(statuses) < cfg.num_trials or INCOMPLETE in statuses
    # The test split is read once, for the final choice: never for an unfinished sweep.
    best = None if interrupted else _best(pairs, epoch_rows, folder, searched)
    return SweepResults(trials, epochs, best, interrupted, folder.uri)


def _best(
    pairs: list[tuple[Result, dict]],
    epoch_rows: list[dict],
    folder: SweepFolder,
    searched: list[str],
) -> dict[str, Any] | None:
    """The best trial of this run, unless an earlier run of the sweep already found better."""
    earlier = json.loads(folder.read_text(BEST)) if folder.has(BEST) else None
    chosen = best_trial(pairs)
    if earlier and (chosen is None or earlier["val_loss"] <= chosen[1]["best_val_loss"]):
        return earlier  # already tested; the test split is not read again
    if chosen is None:
        return None
    best = evaluate_best(*chosen, epoch_rows, folder, searched)
    folder.write_bytes(BEST, json.dumps(best, indent=2).encode())
    return best


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
    fields = [pa.field("trial_id", pa.string()), pa.field("epoch", pa.int64())]
    return pa.schema(fields + [pa.field(name, pa.float64()) for name in EPOCH_COLUMNS[1:]])


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
