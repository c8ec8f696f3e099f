"""The sweep's record: what every run of the sweep has done, read and written with no Ray.

It lies beneath both the Ray run (:mod:`sweeps.tune`), which writes it as trials report, and
the outputs (tables, manifest, report, TensorBoard runs, lockbox, replay), which read it:

- :mod:`~sweeps.record.study`: :class:`SweepRecord`, a phase's Optuna study in the journal,
  the one truth about its trials;
- :mod:`~sweeps.record.trials`: :class:`TrialRecord`, one trial as the journal has it, and the
  user attributes that hold it there;
- :mod:`~sweeps.record.outcome`: the one rule of how a trial ended (:class:`StoppingRule`);
- :mod:`~sweeps.record.timeouts`: the trials ``--trial-timeout`` stopped;
- :mod:`~sweeps.record.optuna_compat`: every private name of Optuna it needs.

The folder's layout, every file and study name, is :mod:`sweeps.storage.layout`.
"""

from sweeps.record.outcome import (
    BUDGET,
    COMPLETE,
    ERROR,
    INCOMPLETE,
    PRUNED,
    REASONS,
    Outcome,
    StoppedOn,
    StoppingRule,
    error_line,
)
from sweeps.record.study import SweepRecord
from sweeps.record.timeouts import record_timeout, timeouts
from sweeps.record.trials import (
    REPLICATE_ATTR,
    REPORTED_AT,
    RUNG,
    RecordedEpoch,
    TrialRecord,
    best_trial,
    ranked,
)

__all__ = [
    "BUDGET",
    "COMPLETE",
    "ERROR",
    "INCOMPLETE",
    "PRUNED",
    "REASONS",
    "REPLICATE_ATTR",
    "REPORTED_AT",
    "RUNG",
    "Outcome",
    "RecordedEpoch",
    "StoppedOn",
    "StoppingRule",
    "SweepRecord",
    "TrialRecord",
    "best_trial",
    "error_line",
    "ranked",
    "record_timeout",
    "timeouts",
]
