"""TensorBoard for sweeps: per-epoch curves and an HParams table that fills in while trials run.

``TensorBoardLogger`` replaces Ray's TBX logger (see :func:`loggers`: the sweep passes Ray's CSV
and JSON loggers itself and tells Tune to add none of its own). Ray's writes hparams only when a
trial ends, derives the experiment's columns from whichever
trials it saw, and mixes in bookkeeping fields (done, time_this_iter_s, ...). Here the
experiment's hparams config is written once, from the search space, so conditional
hyperparameters such as momentum keep their column; each trial starts its HParams session when
it starts; and the only scalars are the ones a researcher reads.

What a run holds, and how it is written anew from the record at the sweep's end, is
:mod:`sweeps.tensorboard_runs`; ``python -m sweeps.tensorboard`` serves it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from ray.tune.experiment import Trial
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, LoggerCallback

from sweeps.tensorboard_runs import log_epoch, open_writer, start_run, write_config
from trainable.result import EpochResult

AUTO_LOGGERS = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"


@contextlib.contextmanager
def no_automatic_loggers() -> Iterator[None]:
    """Tune adds a CSV, a JSON and a TBX logger unless it is told not to, by a documented
    variable it reads when a Tuner runs: the sweep passes the CSV and JSON ones itself (the
    results read both), and Tune's TBX logger would write a second, differently shaped copy of
    TensorBoard's data. Only for the sweep's own run: other Tune runs of the process (a
    notebook's, a benchmark's) keep their loggers."""
    before = os.environ.get(AUTO_LOGGERS)
    os.environ[AUTO_LOGGERS] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(AUTO_LOGGERS, None)
        else:
            os.environ[AUTO_LOGGERS] = before


def loggers(
    logdir: str, distributions: dict[str, optuna.distributions.BaseDistribution]
) -> list[LoggerCallback]:
    """The sweep's loggers: Ray's CSV and JSON ones, and TensorBoard's."""
    return [CSVLoggerCallback(), JsonLoggerCallback(), TensorBoardLogger(logdir, distributions)]


class TensorBoardLogger(LoggerCallback):
    """Writes ``<logdir>/trial_NNN/`` event files and the experiment config in ``<logdir>``.

    A run is named by the trial's number, so a trial resumed in a later run of the sweep goes
    on in the same run; at the sweep's end ``sweeps.tensorboard_runs.write_runs`` writes every
    run anew from the record, which the live view may lack epochs of (a killed driver's
    unflushed events).
    """

    def __init__(
        self, logdir: str, distributions: dict[str, optuna.distributions.BaseDistribution]
    ) -> None:
        self.logdir = Path(logdir)
        self.distributions = dict(distributions)
        self._writers: dict[str, Any] = {}  # by trial folder name

    def setup(self, *args: Any, **kwargs: Any) -> None:
        write_config(self.logdir, self.distributions)

    def log_trial_start(self, trial: Trial) -> None:
        self.log_trial_end(trial)
        name = _run_name(trial)
        run = self.logdir / name
        resumed = run.is_dir() and any(run.iterdir())
        writer = self._writers[name] = open_writer(run)
        if not resumed:
            start_run(writer, name, trial.config, self.distributions)

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        writer = self._writers.get(_run_name(trial))
        if writer is not None and "epoch" in result:
            log_epoch(writer, EpochResult.of(result))

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        writer = self._writers.pop(_run_name(trial), None)
        if writer is not None:
            writer.close()

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        while self._writers:
            self._writers.popitem()[1].close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writers": {}}


def _run_name(trial: Trial) -> str:
    """The record's name of the trial: its folder's name, less the Ray trial id."""
    return Path(trial.path).name.removesuffix(f"_{trial.trial_id}")
