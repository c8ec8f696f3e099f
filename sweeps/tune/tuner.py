"""Build the Ray Tune run of a sweep, or restore an interrupted one.

The pieces are Ray's and Optuna's own: OptunaSearch (seeded TPE on a journal file, behind a
ConcurrencyLimiter so each proposal sees the latest results; one trial waits queued), ASHA on
``val_loss`` with the epoch as time unit, a stopper (patience, and the journal's record after a
crash), FailureConfig retries from the last checkpoint, and a CheckpointConfig that keeps the
best checkpoints by ``val_loss``. Trials reuse actors, so a worker process keeps its threads
and cached dataset from one trial to the next.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs
import ray
from ray import tune
from ray.tune import CLIReporter
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter

from sweeps.config import SweepConfig
from sweeps.space import SpaceInfo, SweepSpace
from sweeps.storage import STUDY, SweepFolder
from sweeps.tune import ray_compat
from sweeps.tune.logger import loggers, no_automatic_loggers
from sweeps.tune.search import SweepSearch
from sweeps.tune.stopping import SweepStopper
from sweeps.tune.watchdog import HangWatchdog
from trainable.tune_adapter import SweepTrainable


def proposed_at_once(cfg: SweepConfig) -> int:
    """How many trials the searcher keeps proposed: those that run at once, plus one queued.

    Trials run at once as the cluster's CPUs (and GPUs) hold them, or ``--max-concurrent``.
    The queued trial is the one a worker that frees up takes (see :class:`NewestFirstASHA`),
    and the searcher stays a proposal ahead of the workers. A ``--max-concurrent`` below the
    cluster's capacity gets no queued trial, which could run alongside.
    """
    resources = ray.cluster_resources()
    slots = resources.get("CPU", 1) // cfg.cpus_per_trial
    if cfg.gpus_per_trial:
        slots = min(slots, resources.get("GPU", 0) // cfg.gpus_per_trial)
    slots = max(1, int(slots))
    if cfg.max_concurrent and cfg.max_concurrent < slots:
        return cfg.max_concurrent
    return slots + 1


class NewestFirstASHA(ASHAScheduler):
    """ASHA that hands a free worker the newest pending trial, not the oldest.

    With actor reuse, Ray Tune gives the trial it picks a worker that has just freed up, and
    kills the actor that was starting for that trial. Ray picks the oldest pending trial: the
    one whose actor is already starting (a process importing torch). With trials shorter than
    a worker's start, each new worker arrived to find its trial taken and was killed, and the
    sweep ran in one process while others kept starting. The newest trial's actor is at most a
    request waiting for a CPU, which costs nothing to drop, so the starting worker keeps its
    trial (``tests/reliability/test_slow_worker.py``).
    """

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        pending = [t for t in tune_controller.get_trials() if t.status == Trial.PENDING]
        return pending[-1] if pending else super().choose_trial_to_run(tune_controller)


def progress_table(columns: list[str]) -> CLIReporter:
    """Ray's classic one-table progress view, best trials first, the metrics that matter."""
    return CLIReporter(
        metric_columns=["epoch", "train_loss", "val_loss", "val_acc", "best_val_loss"],
        parameter_columns=columns,
        sort_by_metric=True,
        max_report_frequency=10,
        max_progress_rows=12,
    )


def trial_name(trial: Trial) -> str:
    """``trial_007_3fa2b1c0``: the Optuna trial number first, so folders sort by proposal."""
    return f"trial_{trial.config.get('trial_index', 0):03d}_{trial.trial_id}"


class JournalPublisher(tune.Callback):
    """Copies the Optuna journal to an object store each time a trial ends.

    There the journal lives in the driver's local cache (Optuna's file lock needs a local
    file). Published as trials end, a driver lost with its machine (a KubeRay head pod, a spot
    instance) leaves the study in the bucket, and ``--resume`` on another machine continues it.
    """

    def __init__(self, folder: SweepFolder) -> None:
        self.folder = folder

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info):
        self.folder.publish_journal()

    on_trial_error = on_trial_complete


def _trainable(cfg: SweepConfig) -> Any:
    return tune.with_resources(
        SweepTrainable, {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial}
    )


def build(cfg: SweepConfig, folder: SweepFolder, space: SpaceInfo, num_trials: int) -> tune.Tuner:
    """A new Ray experiment proposing ``num_trials`` trials: all of a new sweep's, or the ones
    a larger ``--num-trials`` adds; the searcher continues the study in the sweep's journal.
    """
    searcher = SweepSearch(
        SweepSpace(cfg.space, space.vocabulary, space.text),
        seed=cfg.seed, folder=folder, study_name=STUDY,
        max_epochs=cfg.max_epochs, patience=cfg.patience,
    )  # fmt: skip
    scheduler = NewestFirstASHA(
        time_attr="epoch", max_t=cfg.max_epochs,
        grace_period=cfg.grace_period, reduction_factor=cfg.reduction_factor,
    )  # fmt: skip
    return tune.Tuner(
        _trainable(cfg),
        param_space=cfg.trial_settings(),
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            search_alg=ConcurrencyLimiter(searcher, max_concurrent=proposed_at_once(cfg)),
            scheduler=scheduler,
            num_samples=num_trials,
            reuse_actors=True,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=cfg.name,
            storage_path=folder.storage,
            storage_filesystem=ray_filesystem(folder),
            stop=SweepStopper(cfg.patience, folder, STUDY),
            failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=cfg.keep_checkpoints,
                checkpoint_score_attribute="val_loss",
                checkpoint_score_order="min",
                checkpoint_frequency=cfg.checkpoint_every,
                checkpoint_at_end=True,
            ),
            callbacks=[
                *loggers(folder.tensorboard_dir(), space.distributions),
                *([] if folder.is_local else [JournalPublisher(folder)]),
                *([HangWatchdog(cfg.trial_timeout, folder)] if cfg.trial_timeout else []),
            ],
            progress_reporter=progress_table(space.always),
            verbose=1,
        ),
    )


def fit(sweep: tune.Tuner) -> tune.ResultGrid:
    """Run the sweep with the loggers it passes, and none that Tune would add."""
    with no_automatic_loggers():
        return sweep.fit()


EXPERIMENT_STATE = "experiment_state-*.json"  # Ray's snapshots; it restores the newest


def restore(cfg: SweepConfig, folder: SweepFolder) -> tune.Tuner:
    """Continue where the sweep stopped: unfinished trials resume from their checkpoints.

    Errored trials stay errored: they used up their retries (``--max-failures``) already.
    """
    forget_pending_decisions(folder)
    return tune.Tuner.restore(
        folder.uri, _trainable(cfg), resume_unfinished=True, resume_errored=False,
        storage_filesystem=ray_filesystem(folder),
    )  # fmt: skip


def ray_filesystem(folder: SweepFolder) -> pyarrow.fs.FileSystem | None:
    """Local (or NFS) storage through the folder's filesystem, which writes each file
    atomically, so a driver killed mid-snapshot leaves the previous snapshot whole; an object
    store's own (Ray's default: S3 puts an object whole)."""
    return folder.filesystem if folder.is_local else None


def forget_pending_decisions(folder: SweepFolder) -> None:
    """Drop the scheduler decisions Ray's snapshot holds for trials that were saving then.

    Ray snapshots a decision (ASHA's STOP at epoch 3, say) that waits for a checkpoint save to
    finish, and after a driver crash applies it at the first save of the trial restarted from
    an older checkpoint: the trial then stops at an arbitrary epoch, its last result not
    marked done, and the sweep can never finish. The restarted trial reports its epochs again
    and the scheduler decides afresh, so the stale decisions are not needed.
    """
    newest = folder.newest(EXPERIMENT_STATE)
    if newest is None:
        return
    state = json.loads(folder.read_text(newest))
    if ray_compat.forget_pending_decisions(state):
        folder.write_bytes(newest, json.dumps(state).encode())
