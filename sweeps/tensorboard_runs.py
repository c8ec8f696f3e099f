"""A trial's TensorBoard run: the experiment's HParams config, the trial's hyperparameters and
its epochs' scalars, written as the trials report (:mod:`sweeps.tune.logger`) and anew from the
record at the sweep's end (:func:`write_runs`); ``python -m sweeps.tensorboard`` serves them.

The experiment's hparams config is written once, from the search space, so conditional
hyperparameters such as momentum keep their column, with one more, why each trial ended
(written from the record); the only scalars are the ones a researcher reads.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from tensorboard.plugins.hparams import summary_v2 as hp

from sweeps.record import REASONS

if TYPE_CHECKING:
    from sweeps.record import TrialRecord
    from trainable.result import EpochResult

# result field -> scalar tag
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
# An HParams column of every run written from the record: why the trial ended.
STOP_REASON = "stop_reason"
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


def write_config(
    logdir: Path, distributions: dict[str, optuna.distributions.BaseDistribution]
) -> None:
    """The experiment's HParams config and chart layout, once per sweep."""
    if logdir.is_dir() and any(logdir.glob("events.out.tfevents.*")):
        return
    config = hp.hparams_config_pb(
        hparams=[hparam(name, d) for name, d in sorted(distributions.items())]
        + [hp.HParam(STOP_REASON, hp.Discrete(list(REASONS)))],
        metrics=[hp.Metric(tag, display_name=shown) for tag, shown in METRICS],
    )
    with open_writer(logdir) as writer:
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
    for stale in [path for path in logdir.iterdir() if path.is_dir()] if logdir.is_dir() else []:
        if stale.name not in names:  # every folder of the logdir is a trial's run
            shutil.rmtree(stale)
    for trial in trials:
        run = logdir / trial.name
        shutil.rmtree(run, ignore_errors=True)
        with open_writer(run) as writer:
            start_run(writer, trial.name, trial.params, distributions, trial.stop_reason)
            for epoch in trial.epochs:
                log_epoch(writer, epoch)


def start_run(
    writer: Any, name: str, config: dict[str, Any], distributions: dict, reason: str | None = None
) -> None:
    """The run's HParams session: its hyperparameters, and why it ended once it has."""
    values = {k: v for k, v in config.items() if k in distributions}
    if reason is not None:
        values[STOP_REASON] = reason
    writer.file_writer.add_summary(hp.hparams_pb(values, trial_id=name))
    writer.flush()


def log_epoch(writer: Any, result: EpochResult) -> None:
    epoch = int(result.epoch)
    for key, tag in SCALARS.items():
        if getattr(result, key) is not None:
            writer.add_scalar(tag, getattr(result, key), epoch)
    if result.best_epoch == epoch and math.isfinite(result.best_val_loss):
        writer.add_scalar(BEST_VAL_LOSS, result.best_val_loss, epoch)
        writer.add_scalar(BEST_VAL_ACC, result.val_acc, epoch)
        writer.add_scalar(BEST_EPOCH, epoch, epoch)


def open_writer(directory: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(directory), flush_secs=5)
