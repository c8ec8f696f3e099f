"""Build the Ray Tune run of a sweep: a new one, or the rest of one that stopped.

Both are the same: the sweep's record (:mod:`sweeps.record`) says which trials are left, and a
new Ray experiment in the sweep folder runs them, the search's and then those of confirmation
and the audit (see :class:`~sweeps.tune.search.PhasedSearch`). Ray's experiment snapshots are
written as Ray writes them, and never restored.

The pieces are Ray's and Optuna's own: a Searcher over the Optuna study (the seeded sampler of
``--sampler`` on the journal, behind a ConcurrencyLimiter whose limit follows the cluster's
size, so each proposal sees the latest results; one trial waits queued, see
:mod:`sweeps.tune.capacity`), ASHA on ``val_loss`` with the epoch as time unit, a stopper
(patience, and the sweep's stop on an error that repeats), and a CheckpointConfig that keeps
the best checkpoints by ``val_loss``. Trials reuse actors, so a worker process keeps its
threads and cached dataset from one trial to the next. A failed trial is retried by the sweep,
not by Ray's FailureConfig (``max_failures=0``): Ray decides a retry before any callback sees
the error, so it could not leave an error that repeats unretried (see
:mod:`sweeps.tune.failures`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pyarrow.fs
import ray
from ray import tune
from ray.tune import CLIReporter
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from sweeps import phases
from sweeps.budget import TimeBudget
from sweeps.config import SweepConfig
from sweeps.phases import Confirmation, Phase
from sweeps.record import ERROR, INCOMPLETE, StoppingRule, SweepRecord
from sweeps.space import SpaceInfo, SweepSpace
from sweeps.storage import SweepFolder
from sweeps.tune import ray_compat
from sweeps.tune.capacity import ClusterLimiter, slots
from sweeps.tune.deadline import Deadline
from sweeps.tune.failures import FailureRule
from sweeps.tune.logger import loggers, no_automatic_loggers
from sweeps.tune.recorder import JournalRecorder, recorded
from sweeps.tune.search import PhasedSearch, SweepSearch, sampler_for
from sweeps.tune.watchdog import HangWatchdog
from trainable.result import EpochResult
from trainable.tune_adapter import SweepTrainable

logger = logging.getLogger(__name__)
EXPERIMENT_ANALYSIS = "ray.tune.analysis.experiment_analysis"  # Ray's logger of the result grid


class SweepASHA(ASHAScheduler):
    """ASHA that hands a free worker the oldest pending trial whose actor is not starting, and
    lets a resumed trial re-train the epochs the record has without judging them again; a
    pending trial the time budget ``cuts`` never starts.

    With actor reuse, Ray Tune gives the trial it picks a worker that has just freed up, and
    kills the actor that was starting for that trial. Ray picks the oldest pending trial: the
    one whose actor is already starting (a process importing torch, a node that joined late).
    With trials shorter than a worker's start, each new worker arrived to find its trial taken
    and was killed, and the sweep ran in one process while others kept starting. So the pick is
    among the trials whose actor is at most a request waiting for resources, which costs
    nothing to drop (``ray_compat.starting_trials``; ``tests/reliability/test_slow_worker.py``).
    Among those, the oldest: the searcher proposes a trial for each that starts, and taking
    the newest left an older one waiting for the whole search.

    The record's epochs of a resumed trial went on the first time (an epoch that ended the
    trial ends it in the record at once; see ``SweepRecord.settle``), and re-trained from a
    checkpoint they are the same: ASHA, which starts empty in each run, could otherwise stop
    the trial at one of them this time, short of where the record already has it.

    Each result ASHA judged at a rung leaves the rung in :attr:`judged`, keyed by Ray trial id
    and epoch, for :class:`~sweeps.tune.recorder.JournalRecorder` to record with the epoch.
    """

    def __init__(
        self,
        judges: Callable[[str], bool] = lambda trial_id: True,
        cuts: Callable[[str], bool] = lambda trial_id: False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.judges = judges  # whether it decides on a trial, by Ray trial id
        self.cuts = cuts  # whether the time budget stops a trial, by Ray trial id
        self.judged: dict[tuple[str, int], float] = {}  # the rung of each result it judged

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        starting = ray_compat.starting_trials(tune_controller)
        pending = [t for t in tune_controller.get_trials() if t.status == Trial.PENDING]
        for trial in [t for t in pending if self.cuts(t.trial_id)]:
            tune_controller.stop_trial(trial)  # proposed, never trained: the budget is spent
            pending.remove(trial)
        waiting = [t for t in pending if t not in starting]
        if waiting:
            return waiting[0]
        return None if pending else super().choose_trial_to_run(tune_controller)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        if not self.judges(trial.trial_id) or result.get("epoch", 0) <= recorded(trial):
            return TrialScheduler.CONTINUE
        before = ray_compat.asha_milestones(self, trial)
        decision = super().on_trial_result(tune_controller, trial, result)
        for milestone in ray_compat.asha_milestones(self, trial) - before:  # one at most
            self.judged[trial.trial_id, int(result["epoch"])] = milestone
        return decision


class SweepStopper(tune.Stopper):
    """Ends one trial once ``rule`` finds it stalled or the time budget ``cuts`` it (see
    :mod:`sweeps.tune.deadline`), and the sweep once ``stopping`` says so (an error that
    repeats, see :mod:`sweeps.tune.failures`): Tune then stops every trial that runs, which
    stays unfinished in the record."""

    def __init__(
        self,
        rule: StoppingRule,
        judges: Callable[[str], bool] = lambda trial_id: True,
        stopping: Callable[[], bool] = lambda: False,
        cuts: Callable[[str], bool] = lambda trial_id: False,
    ) -> None:
        self.rule, self.judges, self.stopping, self.cuts = rule, judges, stopping, cuts

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        stalled = self.judges(trial_id) and self.rule.stalled(EpochResult.of(result))
        return stalled or self.cuts(trial_id)

    def stop_all(self) -> bool:
        return self.stopping()


class ProgressTable(CLIReporter):
    """Ray's classic one-table progress view, best trials first, leaving out the trials that
    ended without a result: Ray sorts the ended trials by ``val_loss`` and fails on two that
    have none, as the trials that the sweep's stop (``--fail-fast``) ends before they trained.
    """

    def __init__(self, *args: Any, status: Callable[[], str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.status = status  # a line above the table: the time budget spent and left

    def report(self, trials: list[Trial], done: bool, *sys_info: str) -> None:
        shown = [t for t in trials if t.status != Trial.TERMINATED or "val_loss" in t.last_result]
        status = (self.status(),) if self.status else ()
        super().report(shown, done, *status, *sys_info)


def progress_table(columns: list[str], status: Callable[[], str] | None = None) -> CLIReporter:
    """Ray's classic one-table progress view, best trials first, the metrics that matter;
    ``status``: a line above it (a time budget's)."""
    return ProgressTable(
        status=status,
        metric_columns=["epoch", "train_loss", "val_loss", "val_acc", "best_val_loss"],
        parameter_columns=columns,
        sort_by_metric=True,
        max_report_frequency=10,
        max_progress_rows=12,
    )


def _trainable(cfg: SweepConfig, code: bytes | None) -> Any:
    """The trial's class with its resources, and ``code``, the user's objects that travel by
    value (from a notebook: see :mod:`trainable.by_value`), put once in Ray's object store for
    every worker."""
    trainable = SweepTrainable
    if code is not None:
        trainable = tune.with_parameters(SweepTrainable, code=code)
    return tune.with_resources(trainable, {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})


def build(
    cfg: SweepConfig,
    folder: SweepFolder,
    space: SpaceInfo,
    code: bytes | None = None,
    budget: TimeBudget | None = None,
) -> tune.Tuner | None:
    """One new Ray experiment for what the record has left of the sweep: each phase's trials
    in turn (see :mod:`sweeps.phases` and :class:`~sweeps.tune.search.PhasedSearch`); None
    when it has nothing left (a sweep stopped while it wrote its tables).

    ASHA and the stopper judge the trials of a judged phase (the search's) only: the later
    phases' runs go to the full budget. ``code``: the user's objects that travel by value,
    serialised (see :func:`trainable.user_code.payload`), for every worker; ``budget``: the
    clock of a sweep with a time budget (see :mod:`sweeps.tune.deadline`).
    """
    rule = StoppingRule(cfg.max_epochs, cfg.patience)
    search, *later = phases.of(cfg)
    record = search.record(folder)
    record.seed_sampler(sampler_for(cfg.sampler, space), cfg.seed)
    deadline = None
    if budget is not None:  # the search leaves time for confirmation's runs at full size
        records = [(phase, phase.record(folder)) for phase in later]
        held = sum(_confirmation_left(phase, phase_record) for phase, phase_record in records)
        budget.trials = len(record) + sum(len(phase_record) for _, phase_record in records)
        deadline = Deadline(budget, cfg, record, _workers(cfg), held)
    planned = PhasedSearch(
        _phase(search, record, record, cfg, space, deadline),
        [lambda running, phase=phase: _phase(phase, phase.record(folder), record, cfg, space,
                                             deadline, running)
         for phase in later],
        folder,
    )  # fmt: skip
    if not planned.pending:
        return None
    if record.stopped_on is not None:  # an earlier run stopped on an error: this one starts
        record.stop_on(None)
    cuts = (lambda trial_id: False) if deadline is None else (
        lambda trial_id: deadline.stops(trial_id, planned.judges(trial_id))
    )  # fmt: skip
    scheduler = SweepASHA(
        judges=planned.judges, cuts=cuts, time_attr="epoch", max_t=cfg.max_epochs,
        grace_period=cfg.grace_period, reduction_factor=cfg.reduction_factor,
    )  # fmt: skip
    stopper = SweepStopper(rule, planned.judges, lambda: planned.stopped, cuts)
    trainable = _trainable(cfg, code)
    failures = _failures(cfg, record)
    return _tuner(
        trainable, cfg, folder, space, planned, scheduler, stopper, rule, failures, deadline
    )


def _confirmation_left(phase: Phase, record: SweepRecord) -> int:
    """The runs ``phase`` (its ``record``), if it is confirmation, has left: as many as it asks,
    or was planned with to fit a time budget, less those it has ended (a resumed sweep's)."""
    if not isinstance(phase, Confirmation):
        return 0
    sized = phase.sized(record.planned).cfg
    ended = sum(trial.finished for trial in record.trials())
    return max(0, sized.confirm_top * sized.confirm_seeds - ended)


def _workers(cfg: SweepConfig) -> Callable[[], int]:
    """How many trials the cluster runs at once now (``--max-concurrent`` at most)."""

    def workers() -> int:
        held = slots(ray.cluster_resources(), cfg.cpus_per_trial, cfg.gpus_per_trial)
        return min(held, cfg.max_concurrent or held)

    return workers


def _failures(cfg: SweepConfig, record: SweepRecord) -> FailureRule:
    """The rule for this run's failed trials; ``--fail-fast`` cannot stop a sweep one of whose
    trials has already ended without an error."""
    succeeded = any(t.status not in (ERROR, INCOMPLETE) for t in record.trials())
    return FailureRule(cfg.max_failures, cfg.fail_fast, succeeded)


def _phase(
    phase: Phase,
    record: SweepRecord,
    search: SweepRecord,
    cfg: SweepConfig,
    space: SpaceInfo,
    deadline: Deadline | None = None,
    running: int = 0,
) -> SweepSearch | None:
    """The searcher of one phase's trials: those its ``record`` has left unfinished, then the
    rest of its plan, made from the ``search`` record with ``running`` of its trials still
    running (see :class:`~sweeps.tune.search.PhasedSearch`); None when it has none to run.

    With a time budget (``deadline``), a later phase is planned, once, to fit the time left
    (see :meth:`~sweeps.phases.Phase.fit`); its record keeps the plan for a ``--resume``.
    """
    record.settle(StoppingRule(cfg.max_epochs, cfg.patience))
    ended = search.trials()
    if deadline is not None and not phase.judged and record.planned is None:
        deadline.plan(phase, record, ended)
    phase = phase.sized(record.planned)
    num_trials = phase.plan(record, ended, running)
    unfinished = [trial for trial in record.trials() if not trial.finished]
    if not unfinished and num_trials is not None and len(record) >= num_trials:
        return None
    if deadline is None:
        may_propose = lambda: True  # noqa: E731
    else:
        may_propose = deadline.search_open if phase.judged else deadline.later_open
    return SweepSearch(
        record, SweepSpace(cfg.space, space.vocabulary, space.text),
        folder=record.folder, num_trials=num_trials, unfinished=unfinished, phase=phase,
        search=search, may_propose=may_propose,
        replan=lambda now_running: phase.plan(record, search.trials(), now_running),
    )  # fmt: skip


def _tuner(
    trainable: Any,
    cfg: SweepConfig,
    folder: SweepFolder,
    space: SpaceInfo,
    searcher: PhasedSearch,
    scheduler: SweepASHA,
    stopper: tune.Stopper,
    rule: StoppingRule,
    failures: FailureRule,
    deadline: Deadline | None = None,
) -> tune.Tuner:
    cut = set() if deadline is None else deadline.cut
    return tune.Tuner(
        trainable,
        param_space=cfg.trial_settings(),
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            search_alg=ClusterLimiter(searcher, cfg, left=searcher.left),
            scheduler=scheduler,
            num_samples=-1,  # as many as the phases propose: the searcher says when it is done
            reuse_actors=True,
            trial_name_creator=searcher.trial_name,
            trial_dirname_creator=searcher.trial_name,
        ),
        run_config=tune.RunConfig(
            name=cfg.name,
            storage_path=folder.storage,
            storage_filesystem=ray_filesystem(folder),
            stop=stopper,
            failure_config=tune.FailureConfig(max_failures=0),  # the sweep retries itself
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=cfg.keep_checkpoints,
                checkpoint_score_attribute="val_loss",
                checkpoint_score_order="min",
                checkpoint_frequency=cfg.checkpoint_every,
                checkpoint_at_end=True,
            ),
            callbacks=[
                JournalRecorder(searcher, folder, rule, scheduler.judged, failures, cut),
                *([] if deadline is None else [deadline]),
                *loggers(folder.tensorboard_dir(), space.distributions),
                *([HangWatchdog(cfg.trial_timeout, folder)] if cfg.trial_timeout else []),
            ],
            progress_reporter=progress_table(space.always, deadline and deadline.status),
            verbose=1,
        ),
    )


def fit(sweep: tune.Tuner) -> tune.ResultGrid:
    """Run the sweep with the loggers it passes, and none that Tune would add.

    Tune's result grid, which the sweep does not read (its record is the truth), warns of each
    trial that left no result file: those a time budget or ``--fail-fast`` stopped before
    they trained, which the record and the summary already name; its warning is left out.
    """
    analysis = logging.getLogger(EXPERIMENT_ANALYSIS)
    level = analysis.level
    analysis.setLevel(logging.ERROR)
    try:
        with no_automatic_loggers():
            return sweep.fit()
    finally:
        analysis.setLevel(level)


def ray_filesystem(folder: SweepFolder) -> pyarrow.fs.FileSystem | None:
    """Local (or NFS) storage through the folder's filesystem, which writes each file
    atomically, so a driver or worker killed mid-copy leaves no half-written checkpoint or log;
    an object store's own (Ray's default: S3 puts an object whole)."""
    return folder.filesystem if folder.is_local else None
