"""Faults injected into the trial workers of a sweep run as a subprocess (tests only).

Ray runs :func:`install` in every worker process it starts (``worker_process_setup_hook`` of
the job's runtime env, passed the way ``ray job submit`` passes it). The plan in
``SWEEPS_TEST_FAULTS`` says which trial index (or ``*``: every other one) fails at which
epoch, how (``raise`` or ``hang``), and how many times; a file per fault in its ``markers``
folder counts them across worker processes and retries. A raised fault's message names the
trial, the epoch and the attempt, so each attempt's error differs, as a transient fault's
would; ``"repeats": true`` leaves the attempt out (the same error each time), and
``"message"`` makes it that text (the same error in every trial). ``start_delay_s`` makes every
second worker process start that much later. The tests build the plan with the ``faults``
fixture.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

PLAN = "SWEEPS_TEST_FAULTS"  # the environment variable holding the plan


def install() -> None:
    from trainable.result import EpochResult
    from trainable.run import TrainingRun

    plan = json.loads(os.environ[PLAN])
    train_epoch = TrainingRun.step
    if plan.get("start_delay_s") and _started(plan["markers"]) % 2:
        time.sleep(plan["start_delay_s"])

    def step(run: TrainingRun) -> EpochResult:
        trials = plan["trials"]
        fault = trials.get(str(run.config.trial_index), trials.get("*"))
        attempt = None
        if fault and run.epoch + 1 == fault["epoch"]:
            attempt = _claim(plan["markers"], run, fault)
        if attempt is not None:
            if fault["kind"] == "raise":
                raise RuntimeError(_message(run, fault, attempt))
            time.sleep(3600)  # hung
        return train_epoch(run)

    TrainingRun.step = step


def _started(markers: str) -> int:
    """How many worker processes started before this one."""
    folder = Path(markers, "started")
    folder.mkdir(exist_ok=True)
    before = len(list(folder.iterdir()))
    Path(folder, str(os.getpid())).touch()
    return before


def _message(run, fault: dict, attempt: int) -> str:
    if "message" in fault:
        return fault["message"]
    message = f"injected fault: trial {run.config.trial_index} epoch {run.epoch + 1}"
    return message if fault.get("repeats") else f"{message} (attempt {attempt + 1})"


def _claim(markers: str, run, fault: dict) -> int | None:
    """Count one more fault for this trial, unless it has had ``times`` already: which fault
    of the trial it is (0 for the first), or None."""
    for attempt in range(fault["times"]):
        marker = Path(markers, f"trial{run.config.trial_index}-{attempt}")
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            continue
        marker.write_text(str(run.epoch))  # the epoch the restored run had reached
        return attempt
    return None
