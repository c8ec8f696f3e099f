"""One trial as the sweep's journal has it, and the user attributes that hold it there.

Each trial of each phase of the sweep (see :mod:`sweeps.phases`) is an Optuna trial of its
phase's study in the journal. What Optuna's trial does not hold itself (its epochs, its
checkpoints, the Ray trials that ran it, why it ended) it holds as user attributes, named
below; a later phase's run holds the search trial it comes from under its phase's own name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from sweeps.record.outcome import COMPLETE, ERROR, INCOMPLETE, PRUNED
from sweeps.space import TRIAL_INDEX
from trainable.result import EpochResult

# Optuna user attributes of a trial.
EPOCH_ATTR = "epoch:"  # + the epoch, 4 digits: that epoch's metrics
CHECKPOINT_ATTR = "checkpoint:"  # + the epoch, 4 digits: its checkpoint, relative to the folder
RAY_TRIALS_ATTR = "ray_trials"  # the ids of the Ray trials that ran it, first one first
STOP_REASON_ATTR = "stop_reason"
ENDED_AT_ATTR = "epochs"  # the epoch it ended at
ERROR_ATTR = "error"  # what it raised, in one line
REPLICATE_ATTR = "replicate"  # a run of a configuration trained several times: which (1, 2, ..)
RUNG = "rung"  # the ASHA milestone the epoch was judged at; None where ASHA did not judge it
# When the driver recorded the epoch (Unix seconds): a sweep's progress against wall time.
REPORTED_AT = "reported_at"
STATUS = {
    TrialState.COMPLETE: COMPLETE,
    TrialState.PRUNED: PRUNED,
    TrialState.FAIL: ERROR,
    TrialState.RUNNING: INCOMPLETE,
}
SEARCH = "trial"  # the search's trials' names: trial_007


@dataclass(frozen=True)
class RecordedEpoch(EpochResult):
    """An epoch as the record holds it: the trial's result, whose ``done`` says the sweep's
    decision on it was STOP (by ASHA, the stopper or the trial), the ASHA rung it was judged at
    (None where ASHA did not judge it), and when the driver recorded it (Unix seconds)."""

    rung: float | None = None
    reported_at: float | None = None

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> RecordedEpoch:
        result = EpochResult.of(mapping).as_dict()
        return cls(**result, rung=mapping.get(RUNG), reported_at=mapping.get(REPORTED_AT))


def run_name(prefix: str, index: int, replicate: int = 0) -> str:
    """``trial_007``; ``confirm_007_2`` for the second confirmation run of trial 7's
    configuration; ``audit_007`` for the audit run that continues trial 7: its TensorBoard
    run, and the start of its Ray trials' folders."""
    return f"{prefix}_{index:03d}" + (f"_{replicate}" if replicate else "")


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the journal has it."""

    number: int
    params: dict[str, Any]
    state: TrialState
    epochs: list[RecordedEpoch]  # the epochs it trained, in order, up to where it ended
    checkpoints: list[str]  # relative to the sweep folder, newest first
    ray_trials: list[str]
    stop_reason: str  # one of sweeps.record.outcome.REASONS
    error: str | None
    prefix: str = SEARCH  # its phase's, which starts its name
    origin: int | None = None  # a later phase's run: the search trial it comes from
    replicate: int = 0

    @classmethod
    def of(
        cls, frozen: FrozenTrial, prefix: str = SEARCH, origin: str | None = None
    ) -> TrialRecord:
        """The trial of ``frozen``, named with ``prefix``; ``origin``: the attribute that holds
        the search trial a later phase's run comes from."""
        attrs = frozen.user_attrs
        ended_at = attrs.get(ENDED_AT_ATTR, math.inf)
        epochs = [
            RecordedEpoch.of(attrs[key])
            for key in sorted(attrs)
            if key.startswith(EPOCH_ATTR) and attrs[key]["epoch"] <= ended_at
        ]
        checkpoints = [
            attrs[key] for key in sorted(attrs, reverse=True) if key.startswith(CHECKPOINT_ATTR)
        ]
        return cls(
            number=frozen.number,
            params=dict(frozen.params),
            state=frozen.state,
            epochs=epochs,
            checkpoints=checkpoints,
            ray_trials=list(attrs.get(RAY_TRIALS_ATTR, [])),
            stop_reason=attrs.get(STOP_REASON_ATTR) or "interrupted",
            error=attrs.get(ERROR_ATTR),
            prefix=prefix,
            origin=attrs.get(origin) if origin else None,
            replicate=attrs.get(REPLICATE_ATTR, 0),
        )

    @property
    def status(self) -> str:
        return STATUS.get(self.state, INCOMPLETE)

    @property
    def finished(self) -> bool:
        return self.state.is_finished()

    @property
    def last(self) -> RecordedEpoch | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def best_val_loss(self) -> float:
        """The lowest val_loss it reached; infinite for none (no epoch, or all diverged)."""
        value = self.last.best_val_loss if self.last else None
        return value if value is not None and math.isfinite(value) else math.inf

    @property
    def index(self) -> int:
        """Its ``trial_index``: its number, or a later phase's run's search trial's."""
        return self.number if self.origin is None else self.origin

    @property
    def name(self) -> str:
        return run_name(self.prefix, self.index, self.replicate)

    @property
    def config(self) -> dict[str, Any]:
        """What it adds to the sweep's trial settings: its parameters, index and replicate."""
        replicate = {REPLICATE_ATTR: self.replicate} if self.replicate else {}
        return {**self.params, TRIAL_INDEX: self.index, **replicate}

    @property
    def trial_id(self) -> str:
        """The id of the first Ray trial that ran it (its name if none did)."""
        return self.ray_trials[0] if self.ray_trials else self.name

    @property
    def folders(self) -> list[str]:
        """The folders of the Ray trials that ran it (see ``SweepSearch.trial_name``)."""
        return [f"{self.name}_{ray_trial}" for ray_trial in self.ray_trials]


def ranked(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that ended with a finite best val_loss, best first (ties: lowest number)."""
    ended = [
        t for t in trials if t.status not in (ERROR, INCOMPLETE) and t.best_val_loss < math.inf
    ]
    return sorted(ended, key=lambda t: (t.best_val_loss, t.number))


def best_trial(trials: list[TrialRecord]) -> TrialRecord | None:
    """The ended trial with the lowest finite best_val_loss that left a checkpoint."""
    return next((t for t in ranked(trials) if t.checkpoints), None)
