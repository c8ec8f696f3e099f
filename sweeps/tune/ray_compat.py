"""Every use of a private name of Ray, in one place: what each relies on, and why no public
mechanism serves.

``tests/sweeps/test_compat.py`` checks each against the installed Ray and fails naming its
version when Ray renames or reshapes one, before a user meets the change as a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sweep's checks import this module, and Ray Tune only later
    import optuna
    from ray.tune.experiment import Trial
    from ray.tune.search.optuna import OptunaSearch

# Ray's experiment snapshot (``experiment_state-*.json``) keeps, under ``runner_data``, the
# scheduler decisions that wait for a trial's checkpoint save to finish.
PENDING_DECISIONS = ("_cached_trial_decisions", "_queued_trial_decisions")


def listen_on_loopback() -> None:
    """Make the Ray that ``ray.init`` starts here bind every server to 127.0.0.1.

    Ray binds its servers to the node's IP, which it finds by routing towards the internet
    unless Ray clusters are switched off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the macOS and
    Windows default): then the node is 127.0.0.1. Ray reads that variable when it is imported,
    which a notebook may have done before the sweep, so the switch it sets is set directly.
    """
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def forget_pending_decisions(state: dict[str, Any]) -> bool:
    """Empty the pending scheduler decisions of a parsed experiment snapshot; whether it held
    any. Tune has no public way to drop them (see ``sweeps.tune.tuner.restore`` for why)."""
    runner = state["runner_data"]
    if not any(runner.get(key) for key in PENDING_DECISIONS):
        return False
    runner.update({key: {} for key in PENDING_DECISIONS})
    return True


def trial_actor(trial: Trial) -> Any | None:
    """The actor running ``trial`` (None when it has none): Tune lets callbacks see trials but
    not stop a hung one, which only killing its actor does."""
    return trial.temporary_state.ray_actor


@dataclass(frozen=True)
class OptunaSearchState:
    """The parts of Ray's OptunaSearch that its subclass ``sweeps.tune.search.SweepSearch`` reads
    and writes: OptunaSearch tells Optuna every trial ended COMPLETE, and keeps its study and
    its Ray-trial -> Optuna-trial map to itself, so reporting PRUNED trials and adopting trials
    from the journal after a crash needs them."""

    searcher: OptunaSearch

    @property
    def study(self) -> optuna.Study:
        return self.searcher._ot_study

    @property
    def trials(self) -> dict[str, optuna.Trial]:
        """Ray trial id -> the Optuna trial it was given."""
        return self.searcher._ot_trials

    @property
    def completed(self) -> set[str]:
        """Ray trial ids already told to Optuna."""
        return self.searcher._completed_trials

    def replace_sampler(self, sampler: optuna.samplers.BaseSampler) -> None:
        self.searcher._sampler = self.study.sampler = sampler
