"""TensorBoard for sweeps: per-epoch curves and an HParams table that fills in while trials run.

``TensorBoardLogger`` replaces Ray's TBX logger (see :func:`loggers`: the sweep passes Ray's CSV
and JSON loggers itself and tells Tune to add none of its own). Ray's writes hparams only when a
trial ends, derives the experiment's columns from whichever
trials it saw, and mixes in bookkeeping fields (done, time_this_iter_s, ...). Here the
experiment's hparams config is written once, from the search space, so conditional
hyperparameters such as momentum keep their column; each trial starts its HParams session when
it starts; and the only scalars are the ones a researcher reads.

``python -m sweeps.tensorboard`` serves what it writes (see :mod:`sweeps.tensorboard`).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from ray.tune.experiment import Trial
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, LoggerCallback
from tensorboard.plugins.hparams import summary_v2 as hp

if TYPE_CHECKING:
    from sweeps.record import TrialRecord

# result key -> scalar tag
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "lr": "lr",
}
# The Custom Scalars tab overlays each trial's training and validation curves in one chart.
OVERLAYS = {
    "train vs val": {
        "loss": ["Multiline", ["loss/train", "loss/val"]],
        "accuracy": ["Multiline", ["accuracy/train", "accuracy/val"]],
    }
}
# HParams metrics: the trial's best epoch, written whenever an epoch improves on it.
BEST_VAL_LOSS, BEST_VAL_ACC, BEST_EPOCH = "best/val_loss", "best/val_acc", "best/epoch"
METRICS = ((BEST_VAL_LOSS, "val_loss"), (BEST_VAL_ACC, "val_acc"), (BEST_EPOCH, "best_epoch"))


def hparam(name: str, distribution: optuna.distributions.BaseDistribution) -> hp.HParam:
    """An HParams column with the domain the search space gives the hyperparameter."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return hp.HParam(name, hp.Discrete(list(distribution.choices)))
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return hp.HParam(name, hp.IntInterval(distribution.low, distribution.high))
    return hp.HParam(name, hp.RealInterval(float(distribution.low), float(distribution.high)))


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
    on in the same run; at the sweep's end :func:`write_runs` writes every run anew from the
    record, which the live view may lack epochs of (a killed driver's unflushed events).
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
        writer = self._writers[name] = _writer(run)
        if not resumed:
            _start_run(writer, name, trial.config, self.distributions)

    def log_trial_result(self, iteration: int, trial: Trial, result: dict[str, Any]) -> None:
        writer = self._writers.get(_run_name(trial))
        if writer is not None and "epoch" in result:
            _log_epoch(writer, result)

    def log_trial_end(self, trial: Trial, failed: bool = False) -> None:
        writer = self._writers.pop(_run_name(trial), None)
        if writer is not None:
            writer.close()

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        while self._writers:
            self._writers.popitem()[1].close()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writers": {}}


def write_config(
    logdir: Path, distributions: dict[str, optuna.distributions.BaseDistribution]
) -> None:
    """The experiment's HParams config and chart layout, once per sweep."""
    if logdir.is_dir() and any(logdir.glob("events.out.tfevents.*")):
        return
    config = hp.hparams_config_pb(
        hparams=[hparam(name, d) for name, d in sorted(distributions.items())],
        metrics=[hp.Metric(tag, display_name=shown) for tag, shown in METRICS],
    )
    with _writer(logdir) as writer:
        writer.file_writer.add_summary(config)
        writer.add_custom_scalars(OVERLAYS)


def write_runs(
    logdir: Path,
    trials: list[TrialRecord],
    distributions: dict[str, optuna.distributions.BaseDistribution],
) -> None:
    """Every trial's run written anew from the record, and no run of a trial it lacks."""
    write_config(logdir, distributions)
    names = {trial.name for trial in trials}
    for stale in [*logdir.glob("trial_*"), *logdir.glob("confirm_*"), *logdir.glob("audit_*")]:
        if stale.name not in names:
            shutil.rmtree(stale)
    for trial in trials:
        run = logdir / trial.name
        shutil.rmtree(run, ignore_errors=True)
        with _writer(run) as writer:
            _start_run(writer, trial.name, trial.params, distributions)
            for epoch in trial.epochs:
                _log_epoch(writer, epoch)


def _start_run(writer: Any, name: str, config: dict[str, Any], distributions: dict) -> None:
    values = {k: v for k, v in config.items() if k in distributions}
    writer.file_writer.add_summary(hp.hparams_pb(values, trial_id=name))
    writer.flush()


def _log_epoch(writer: Any, result: dict[str, Any]) -> None:
    epoch = int(result["epoch"])
    for key, tag in SCALARS.items():
        if result.get(key) is not None:
            writer.add_scalar(tag, result[key], epoch)
    if result.get("best_epoch") == epoch and math.isfinite(result["best_val_loss"]):
        writer.add_scalar(BEST_VAL_LOSS, result["best_val_loss"], epoch)
        writer.add_scalar(BEST_VAL_ACC, result["val_acc"], epoch)
        writer.add_scalar(BEST_EPOCH, epoch, epoch)


def _writer(directory: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(directory), flush_secs=5)


def _run_name(trial: Trial) -> str:
    """The record's name of the trial: its folder's name, less the Ray trial id."""
    return Path(trial.path).name.removesuffix(f"_{trial.trial_id}")
