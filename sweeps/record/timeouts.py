"""The trials ``--trial-timeout`` stopped, by Ray trial folder: a file of the sweep folder
beside the journal (the watchdog that stops them, ``sweeps.tune.watchdog``, runs in the driver,
while the journal's trials outlive the Ray trials that ran them)."""

from __future__ import annotations

import json

from sweeps.storage import TIMEOUTS, SweepFolder


def record_timeout(folder: SweepFolder, trial_dir: str) -> int:
    """Add one timeout of the trial in ``trial_dir`` to the record; how many it has had."""
    record = timeouts(folder)
    record[trial_dir] = record.get(trial_dir, 0) + 1
    folder.write_bytes(TIMEOUTS, json.dumps(record, indent=2).encode())
    return record[trial_dir]


def timeouts(folder: SweepFolder) -> dict[str, int]:
    """Trial folder name: times it was stopped for sending no result in ``--trial-timeout``."""
    return json.loads(folder.read_text(TIMEOUTS)) if folder.has(TIMEOUTS) else {}
