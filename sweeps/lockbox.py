"""The test split's lockbox: read for one checkpoint per sweep, and every reading recorded.

Validation picks the model; the test split is read once, for the model picked, so that its
figure is an unbiased estimate. Read it again for another model and pick the better, and it
is one more validation split. So :func:`read_test` is the only way the sweep reads it: each
reading is recorded in ``test_readings.json`` (when, which trial and checkpoint, a SHA-256 of
the test rows as read, the metrics) before its figures are used, a reading of the checkpoint
already read returns the recorded figures, and a reading of another checkpoint is refused
unless the user asks for it (``--retest``); that one is recorded too, and the report shows
every reading. Test metrics reach no trial, so neither Ray, Optuna, TensorBoard nor the
stopper ever sees them.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from sweeps.storage import READINGS, SweepFolder
from trainable.run import checkpoint_test_metrics


class TestSplitLocked(Exception):
    """A second model asked to be tested without ``--retest``."""


def readings(folder: SweepFolder) -> list[dict[str, Any]]:
    """Every reading of the sweep's test split, in order."""
    return json.loads(folder.read_text(READINGS)) if folder.has(READINGS) else []


def read_test(
    folder: SweepFolder, trial_index: int, directory: str, checkpoint: str, *, retest: bool
) -> dict[str, Any]:
    """The test metrics of the best-validation weights in the checkpoint at ``directory``
    (``checkpoint``: where it is in the sweep folder, so that a folder moved or copied keeps
    its readings), read and recorded, or as recorded."""
    earlier = readings(folder)
    for reading in earlier:
        if reading["checkpoint"] == checkpoint:
            return reading
    if earlier and not retest:
        last = earlier[-1]
        raise TestSplitLocked(
            f"the test split was read already, for trial {last['trial_index']} "
            f"({len(earlier)} reading{'s' if len(earlier) > 1 else ''}); --retest reads it "
            f"for trial {trial_index}, and records that reading too"
        )
    metrics = checkpoint_test_metrics(directory)
    reading = {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "trial_index": trial_index,
        "checkpoint": checkpoint,
        "allowed_by": "--retest" if earlier else "first reading",
        **metrics,
    }
    folder.write_bytes(READINGS, json.dumps([*earlier, reading], indent=2).encode())
    return reading
