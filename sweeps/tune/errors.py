"""What a failed Ray trial raised, read where Ray has just written it, in one line and as the
signature :mod:`sweeps.tune.failures` compares.

Ray hands callbacks the trial, not its exception. When a trial fails, Ray
(``Trial.handle_error``, before any callback hears of it) pickles the exception to
``error.pkl`` and appends its text to ``error.txt`` in the trial's staging folder on the
driver (``Trial.local_path``), and copies that folder to the sweep folder later, in the
background, with its experiment snapshots. ``Trial.get_pickled_error`` and ``get_error`` read
the copy, which may not be there yet: then they return None (or an earlier failure's error,
where Ray retried the trial itself), and the record said ``error``. So the staging folder's
files are read first.
"""

from __future__ import annotations

import os
from typing import Any

from ray import cloudpickle
from ray.exceptions import RayError
from ray.tune.experiment import Trial

from sweeps.record import error_line

FAILURE_HEADER = "Failure # "  # how Ray starts each failure's text in error.txt


def raised(trial: Trial) -> BaseException | str | None:
    """The exception of the trial's latest failure, or its text where Ray wrote only that (an
    error of Tune's own, or one this process cannot unpickle); None where Ray wrote neither."""
    pickled, text = _staged(trial)
    if pickled is not None:
        try:
            with open(pickled, "rb") as handle:
                return cloudpickle.load(handle)
        except Exception:  # a class this process cannot import: the text says it all
            pass
    if text is not None:
        with open(text, errors="replace") as handle:
            latest = handle.read().rpartition(FAILURE_HEADER)[2]
        return latest.partition("\n")[2].strip() or None
    try:  # the sweep folder's copy: a trial whose staging folder is gone
        return trial.get_pickled_error() or trial.get_error()
    except Exception:
        return None


def described(trial: Trial) -> tuple[str, str | None]:
    """The trial's latest failure in one line (see :func:`~sweeps.record.error_line`), and its
    signature: the same line where the trial raised the exception itself, None where it did
    not (its worker process or node was lost, or the watchdog killed it)."""
    error = raised(trial)
    if error is None:
        return "error (Ray kept no record of it)", None
    line = error_line(error)
    return line, None if lost_worker(error) else line


def lost_worker(error: BaseException | str) -> bool:
    """Whether Ray, not the trial's code, raised ``error``: the trial's actor died (its node
    or process lost, killed, out of memory) or Ray could not run it."""
    cause: Any = getattr(error, "cause", None) or error
    return isinstance(cause, RayError)


def _staged(trial: Trial) -> tuple[str | None, str | None]:
    """The trial's error.pkl and error.txt in its staging folder, where they exist."""
    if trial.storage is None:  # a trial Tune never ran
        return None, None
    pickled, text = trial.pickled_error_file, trial.error_file
    return (
        pickled if pickled and os.path.isfile(pickled) else None,
        text if text and os.path.isfile(text) else None,
    )
