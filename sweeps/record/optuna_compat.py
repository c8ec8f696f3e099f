"""Every use of a private name of Optuna, in one place.

Optuna's public API gives a running trial's ``optuna.Trial`` only from ``study.ask()``; a
sweep resumed after a crash must reopen the trials the journal has already asked, and read
what a trial has reported, by the storage's trial id. ``tests/sweeps/test_compat.py`` checks
these against the installed Optuna and fails naming its version when they change.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial


def storage_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (unlike ``number``, unique across the storage's studies)."""
    return trial._trial_id


def reopen(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A live ``optuna.Trial`` for a trial the study asked earlier and has not finished."""
    return optuna.Trial(study, storage_id(frozen))


def stored(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """The trial as the storage has it now (its intermediate values, state, ...), without
    copying every trial of the study as ``study.get_trials`` does."""
    return study._storage.get_trial(storage_id(trial))
