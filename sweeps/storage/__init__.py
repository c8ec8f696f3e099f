"""Where a sweep keeps its files: the sweep folder, on a local/NFS path or an object store.

:mod:`~sweeps.storage.layout` names every file and study in it, :mod:`~sweeps.storage.folder`
is the folder itself (``SweepFolder``),
:mod:`~sweeps.storage.journal` the Optuna journal in it, and :mod:`~sweeps.storage.atomic_fs`
the filesystem through which a local folder's files appear whole or not at all.

The names below are imported on first use, not with the package: Ray's workers unpickle the
atomic filesystem, which imports this package first, and must get pyarrow alone (not Optuna,
pydantic and the rest of the sweep's configuration, which ``folder`` and ``journal`` import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.storage.atomic_fs import AtomicLocalHandler, atomic_local_filesystem
    from sweeps.storage.folder import SweepFolder
    from sweeps.storage.journal import (
        JOURNAL_LOCK_GRACE_S,
        SweepJournal,
        journal_storage,
        load_study,
    )
    from sweeps.storage.layout import (
        AUDIT,
        BEST,
        CODE,
        CONFIRM,
        CONFIRMATION,
        EPOCHS,
        JOURNAL,
        MANIFEST,
        READINGS,
        REPORT,
        SAVED_CONFIG,
        SAVED_SPACE,
        STUDY,
        TENSORBOARD,
        TIMEOUTS,
        TRIALS,
    )

# Each public name: the module of this package that defines it.
_MODULES = {
    "AUDIT": "layout",
    "BEST": "layout",
    "CODE": "layout",
    "CONFIRM": "layout",
    "CONFIRMATION": "layout",
    "EPOCHS": "layout",
    "JOURNAL": "layout",
    "JOURNAL_LOCK_GRACE_S": "journal",
    "MANIFEST": "layout",
    "READINGS": "layout",
    "REPORT": "layout",
    "SAVED_CONFIG": "layout",
    "SAVED_SPACE": "layout",
    "STUDY": "layout",
    "TENSORBOARD": "layout",
    "TIMEOUTS": "layout",
    "TRIALS": "layout",
    "atomic_local_filesystem": "atomic_fs",
    "journal_storage": "journal",
    "load_study": "journal",
    "AtomicLocalHandler": "atomic_fs",
    "SweepFolder": "folder",
    "SweepJournal": "journal",
}
__all__ = [
    "AUDIT",
    "BEST",
    "CODE",
    "CONFIRM",
    "CONFIRMATION",
    "EPOCHS",
    "JOURNAL",
    "JOURNAL_LOCK_GRACE_S",
    "MANIFEST",
    "READINGS",
    "REPORT",
    "SAVED_CONFIG",
    "SAVED_SPACE",
    "STUDY",
    "TENSORBOARD",
    "TIMEOUTS",
    "TRIALS",
    "AtomicLocalHandler",
    "SweepFolder",
    "SweepJournal",
    "atomic_local_filesystem",
    "journal_storage",
    "load_study",
]


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it without calling here
    return value
