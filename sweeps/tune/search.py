"""Optuna behind Ray Tune, with the sweep's record as the one truth about its trials.

:class:`SweepSearch` is the Ray searcher: it hands Ray first the trials the record has not
ended (same number, same parameters, resuming from their newest recorded checkpoint), then
trials it asks Optuna's seeded sampler for (``--sampler``: TPE, GP or random search), until the
study holds ``--num-trials``.
:class:`PhasedSearch` runs the sweep's phases (search, confirmation, audit) in one Ray
experiment. What Ray reports of the trials goes into the record through
:class:`~sweeps.tune.recorder.JournalRecorder`, which also hands a failed trial back here to be
retried.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from ray.tune.experiment import Trial
from ray.tune.search import Searcher

from sweeps.phases import Phase
from sweeps.record import SweepRecord, TrialRecord
from sweeps.space import SpaceInfo, SweepSpace
from sweeps.storage import SweepFolder
from trainable.tune_adapter import RESUME, RESUME_CHECKPOINTS, RESUME_RECORDED


def tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    """Multivariate TPE (Optuna's default) over groups of hyperparameters that trials share.

    A space with a conditional hyperparameter (momentum, for two optimizers) otherwise has its
    joint model over the hyperparameters every trial has, and the rest sampled one by one;
    Optuna advises groups for such define-by-run spaces. On the benchmarks' workload the gain
    is within the run-to-run noise (see benchmarks/README.md). Optuna calls the option
    experimental; its warning is kept out of the sweep's output.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, group=True)


def gp_sampler(seed: int) -> optuna.samplers.GPSampler:
    """Optuna's Gaussian-process Bayesian optimization, which learns from COMPLETE trials only.

    What ``GPSampler`` (``optuna/samplers/_gp/sampler.py``, Optuna 5.0) does with a sweep's
    trials:

    - PRUNED trials (those ASHA or the stopper cut short) are ignored. ``sample_relative``
      reads COMPLETE and RUNNING trials (RUNNING ones as pending points of its batch
      acquisition, not as data); its search space is the intersection of the COMPLETE trials'
      (an ``IntersectionSearchSpace`` without pruned ones). Until ``n_startup_trials`` (10)
      trials have completed, every proposal comes from its ``RandomSampler(seed)``, and under
      ASHA's pruning a sweep may end before that.
    - A conditional hyperparameter (the default space's momentum, for two optimizers) is
      missing from some completed trials, so it is not in that intersection: it is drawn at
      random, apart from the model (``sample_independent``), with a warning for every trial
      that draws it. The warning is switched off: it would repeat what the space says.
    - Categorical ones (optimizer, activation) are modelled: the kernel's distance in a
      categorical dimension is 0 for the same choice and 1 for another
      (``optuna/_gp/gp.py``), and the acquisition is searched over every choice
      (``optuna/_gp/optim_mixed.py``).
    """
    return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)


# --sampler's factories of a seeded sampler ("auto" picks one of them, see auto_sampler).
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": tpe_sampler,
    "gp": gp_sampler,
    "random": optuna.samplers.RandomSampler,
}


def auto_sampler(space: SpaceInfo) -> tuple[str, str]:
    """``--sampler auto``: the sampler for the space, and why, by the rule of Optuna's
    AutoSampler (OptunaHub) for one objective: GP where every hyperparameter is a number that
    every trial has, TPE where one is categorical or conditional. The space's draws in
    :func:`~sweeps.space.check_space` tell which (a conditional one is not in every draw)."""
    numeric = (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)
    categorical = [n for n, d in space.distributions.items() if not isinstance(d, numeric)]
    conditional = [n for n in space.distributions if n not in space.always]
    if not categorical and not conditional:
        return "gp", "every hyperparameter is numeric and unconditional"
    found = {"categorical": categorical, "conditional": conditional}
    return "tpe", "; ".join(f"{kind}: {', '.join(names)}" for kind, names in found.items() if names)


def sampler_for(name: str, space: SpaceInfo) -> Callable[[int], optuna.samplers.BaseSampler]:
    """The factory of the sampler ``--sampler name`` asks for; for auto, the one it picks for
    ``space``, and a line on stdout that says which and why."""
    if name == "auto":
        name, why = auto_sampler(space)
        print(f"sampler: auto chose {name} ({why})", flush=True)
    return SAMPLERS[name]


class SweepSearch(Searcher):
    """Proposes the record's unfinished trials, then new ones, up to ``num_trials`` in all;
    a trial it is told to :meth:`retry` goes back among the unfinished ones."""

    def __init__(
        self,
        record: SweepRecord,
        space: SweepSpace,
        *,
        folder: SweepFolder,
        num_trials: int | None,
        unfinished: list[TrialRecord],
        phase: Phase,
        search: SweepRecord,
        may_propose: Callable[[], bool] = lambda: True,
        replan: Callable[[int], int | None] | None = None,
    ) -> None:
        """``phase``: the phase whose trials ``record`` holds; ``search``: the search's record,
        which a later phase's runs come from; ``num_trials``: how many in all (None: no
        limit); ``may_propose``: whether the time budget lets it propose another; ``replan``:
        its phase's plan again, for how many trials of the search still run (see
        :class:`PhasedSearch`), which enqueues the runs it adds and says how many it has."""
        super().__init__(metric="val_loss", mode="min")
        self.record, self.space, self.folder = record, space, folder
        self.phase, self.search = phase, search
        self.num_trials, self.may_propose = num_trials, may_propose
        self._replan = replan
        self.unfinished = sorted(trial.number for trial in unfinished)  # their numbers
        # By Ray trial id: Ray names each trial (its folder too) after it is proposed, and
        # reading the trial back from the journal then cost a sync of the journal each time.
        self.names: dict[str, str] = {}
        self.stopped = False  # the sweep stops (--fail-fast): no trial more

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.stopped or not self.may_propose():
            return Searcher.FINISHED
        if self.unfinished:
            trial = self.record.with_params(self.unfinished.pop(0), self.space)
        elif self.num_trials is None or len(self.record) < self.num_trials:
            trial = self.record.ask(self.space)
        else:
            return Searcher.FINISHED
        resume = self._resume(trial)
        self.record.ran_by(trial.number, trial_id)
        self.names[trial_id] = trial.name
        # In an object store, the bucket's journal knows every trial before Ray writes a
        # folder for it there: a driver lost with its machine leaves no trial the record lacks.
        self.folder.publish_journal()
        config = trial.config
        return {**config, RESUME: resume} if resume else config

    def _resume(self, trial: TrialRecord) -> dict[str, Any] | None:
        """Where the trial goes on from: the newest checkpoints, and the last epoch the record
        has, of the trials its phase resumes it from (its own; an audit run's, then those of the
        pruned trial it continues)."""
        runs = self.phase.resumes(trial, self.search)
        checkpoints = [path for run in runs for path in run.checkpoints]
        recorded = max((run.last.epoch for run in runs if run.last), default=0)
        if not checkpoints and not recorded:
            return None
        return {
            RESUME_CHECKPOINTS: [self.folder.file_uri(path) for path in checkpoints],
            RESUME_RECORDED: recorded,
        }

    def trial_name(self, trial: Trial) -> str:
        """``trial_007_3fa2b1c0`` (``confirm_007_2_...``, ``audit_007_...``): the record's name
        of the trial first, so folders sort by proposal."""
        return f"{self.names[trial.trial_id]}_{trial.trial_id}"

    def name_of(self, trial_id: str) -> str:
        """The record's name of the trial Ray runs as ``trial_id`` (``trial_007``, ...)."""
        return self.names[trial_id]

    def replan(self, running: int) -> None:
        """Plan its phase again with ``running`` trials of the search still running: more runs
        may be certain (all, with none running)."""
        if self._replan is not None:
            self.num_trials = self._replan(running)

    def retry(self, trial_id: str) -> None:
        """Hand Ray the trial that ``trial_id`` ran (and failed) again, before any new one."""
        self.unfinished.append(self.record.number_of(trial_id))

    def stop(self) -> None:
        """Propose nothing more: the sweep stops."""
        self.stopped = True

    def left(self) -> float:
        """How many trials it has still to propose: its unfinished ones, then new ones (no
        limit but the time budget: infinitely many while it lasts)."""
        if self.stopped or not self.may_propose():
            return 0
        limit = math.inf if self.num_trials is None else self.num_trials
        return len(self.unfinished) + max(0, limit - len(self.record))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        """Nothing to do: :class:`JournalRecorder` records every end, errors included."""

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Ray's experiment snapshot: the record is the searcher's whole state, so it only
        publishes the journal (to an object store), and Ray's snapshot holds nothing of it."""
        self.folder.publish_journal()


class PhasedSearch(Searcher):
    """The sweep's phases (:mod:`sweeps.phases`) in one Ray experiment: the search's trials,
    then the next phase's, which start at the search's tail.

    Each phase is a :class:`SweepSearch` over its own study, made when its turn comes, since
    what it runs follows from how the earlier phases ended (confirmation retrains the search's
    best). Once a phase has nothing more to propose, the next one is made with the number of
    its trials still running (:meth:`~sweeps.phases.Phase.runs`): confirmation's configurations
    that those trials can no longer push out of its top are certain, and their runs take the
    workers the tail frees; each trial that ends grows its plan, and the last one completes
    it. The runs are the same as if the phase had waited: only sooner. One experiment, so the
    worker processes started for the search, their imports done and their dataset cached, run
    the later phases too, with Tune's actor reuse (a worker left with no trial to take is let
    go by Tune).
    """

    def __init__(
        self,
        first: SweepSearch | None,
        later: list[Callable[[int], SweepSearch | None]],
        folder: SweepFolder,
    ) -> None:
        """``first``: the first phase's trials left (None: none); ``later``: the later phases,
        each made once the phase before it has nothing more to propose, given how many of the
        search's trials still run (None: nothing to run yet, or at all with none running)."""
        super().__init__(metric="val_loss", mode="min")
        self.later, self.folder = list(later), folder
        self.current = first
        self.early: SweepSearch | None = None  # the next phase, begun at the current's tail
        self._early_at: int | None = None  # how many of the current's trials ran then
        self.of_trial: dict[str, SweepSearch] = {}
        self.live: set[str] = set()  # trials handed out that Tune has not yet ended
        self.stopped = False  # the sweep stops (--fail-fast): no trial more
        self._next_phase()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        while self.current is not None and not self.stopped:
            config = self.current.suggest(trial_id)
            if config is not Searcher.FINISHED:
                return self._handed(trial_id, self.current, config)
            if any(self.of_trial[t] is self.current for t in self.live):
                # the next phase, as far as the search's trials still running leave it certain
                early = self._begun(sum(self.of_trial[t].phase.judged for t in self.live))
                config = Searcher.FINISHED if early is None else early.suggest(trial_id)
                if config is not Searcher.FINISHED:
                    return self._handed(trial_id, early, config)
                return None
            self.current = None
            self._next_phase()
        return Searcher.FINISHED

    def _handed(self, trial_id: str, searcher: SweepSearch, config: dict) -> dict[str, Any]:
        self.of_trial[trial_id] = searcher
        self.live.add(trial_id)
        return config

    def _begun(self, running: int) -> SweepSearch | None:
        """The next phase, made (or its plan grown) for ``running`` trials of the search still
        running; None while it has nothing certain to run."""
        if running == self._early_at or (not self.later and self.early is None):
            return self.early
        self._early_at = running
        if self.early is None:
            self.early = self.later[0](running)
            if self.early is not None:
                self.later.pop(0)
        else:
            self.early.replan(running)
        return self.early

    def _next_phase(self) -> None:
        if self.early is not None:  # begun at the tail of the phase that has just ended
            self.current, self.early, self._early_at = self.early, None, None
            self.current.replan(0)
        while self.later and self.current is None:
            self.current = self.later.pop(0)(0)

    @property
    def pending(self) -> bool:
        """Whether any phase may still have a trial to run."""
        return self.current is not None

    def left(self) -> float:
        """How many trials the current phase, and the next one if it has begun, have still to
        propose (the later phases are planned when their turn comes)."""
        if self.stopped or self.current is None:
            return 0
        return self.current.left() + (self.early.left() if self.early is not None else 0)

    def judges(self, trial_id: str) -> bool:
        """Whether ASHA and the stopper decide on the trial: those of a judged phase (the
        search's) only; the later phases run to the full budget."""
        searcher = self.of_trial.get(trial_id)
        return searcher is not None and searcher.phase.judged

    def record_of(self, trial_id: str) -> SweepRecord:
        """The record that holds the trial Ray runs as ``trial_id``: its phase's."""
        return self.of_trial[trial_id].record

    def name_of(self, trial_id: str) -> str:
        return self.of_trial[trial_id].name_of(trial_id)

    def trial_name(self, trial: Trial) -> str:
        return self.of_trial[trial.trial_id].trial_name(trial)

    def retry(self, trial_id: str) -> None:
        """Hand Ray the trial that ``trial_id`` ran again; its phase is still the current one
        (see :meth:`on_trial_complete`)."""
        self.of_trial[trial_id].retry(trial_id)

    def stop(self) -> None:
        """Propose nothing more: the sweep stops."""
        self.stopped = True

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        """Tune tells the searcher before its callbacks, so :class:`JournalRecorder` has
        recorded the end when the next proposal is asked for. A failed trial's callbacks come
        in the same call of Tune's (``TuneController._process_trial_failure``), before any
        proposal is asked for, so a retry is back in its phase before the phase can end."""
        self.live.discard(trial_id)

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        self.folder.publish_journal()
