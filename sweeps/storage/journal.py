"""The sweep's Optuna study, stored in the journal file of its sweep folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from sweeps.storage.layout import JOURNAL, STUDY

if TYPE_CHECKING:
    from sweeps.storage.folder import SweepFolder

__all__ = [
    "JOURNAL",
    "JOURNAL_LOCK_GRACE_S",
    "STUDY",
    "SweepJournal",
    "journal_storage",
    "load_study",
]

# Only the sweep's driver writes its journal, and holds the lock for milliseconds: a lock older
# than this was left by a killed driver (Optuna's default waits 30 s before breaking it).
JOURNAL_LOCK_GRACE_S = 5


def journal_storage(folder: SweepFolder) -> JournalStorage:
    """Optuna's storage over the sweep's journal file."""
    return JournalStorage(SweepJournal(folder))


def load_study(folder: SweepFolder) -> optuna.Study | None:
    """The sweep's Optuna study, or None before the searcher first wrote the journal."""
    if not folder.has(JOURNAL):
        return None
    try:
        return optuna.load_study(study_name=STUDY, storage=journal_storage(folder))
    except KeyError:  # a journal without the study yet
        return None


class SweepJournal(JournalFileBackend):
    """The journal file of a sweep folder, on the machine that opens it.

    It pickles as its folder, not as a file path: Ray's snapshot of the searcher (and of the
    stopper), restored on another machine or under another HOME, then opens that machine's
    copy (fetched from the object store when it has none) instead of a cache path that
    existed only where the snapshot was taken.
    """

    def __init__(self, folder: SweepFolder) -> None:
        self.folder = folder
        path = folder.journal()
        lock = JournalFileSymlinkLock(path, grace_period=JOURNAL_LOCK_GRACE_S)
        super().__init__(path, lock_obj=lock)

    def __reduce__(self) -> tuple[type, tuple[SweepFolder]]:
        return SweepJournal, (self.folder,)
