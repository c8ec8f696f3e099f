"""What a phase of a sweep is (see :mod:`sweeps.phases`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from sweeps.record import REPLICATE_ATTR, SweepRecord, TrialRecord

if TYPE_CHECKING:
    from sweeps.config import SweepConfig
    from sweeps.storage import SweepFolder


class Phase:
    """One phase of a sweep: its study, and how its trials are planned, resumed and judged."""

    study: ClassVar[str]  # its study in the journal (see sweeps.storage.layout)
    origin: ClassVar[str | None] = None  # the attribute of a run that names its search trial
    judged: ClassVar[bool] = False  # ASHA and the stopper may end its trials early
    table: ClassVar[str | None] = None  # a table of its own runs in the sweep folder

    def __init__(self, cfg: SweepConfig) -> None:
        self.cfg = cfg

    def record(self, folder: SweepFolder) -> SweepRecord:
        return SweepRecord(folder, self.study, self.origin)

    def runs(self, search: list[TrialRecord], running: int = 0) -> list[tuple[TrialRecord, int]]:
        """The runs it has in all, planned from the ``search``: each a search trial whose
        parameters it trains, and which of that trial's runs it is (0: the only one). With
        ``running`` of the search's trials still running, those of its runs that no way those
        trials end can change (the search's tail, see ``sweeps.tune.search.PhasedSearch``)."""
        raise NotImplementedError

    def plan(self, record: SweepRecord, search: list[TrialRecord], running: int = 0) -> int:
        """Enqueue in ``record`` the runs it does not hold yet; how many trials the phase has in
        all (with ``running`` of the search's trials still running: so far). A run is its
        search trial and its replicate, so a plan enqueued in part before a kill, or at the
        search's tail, is completed, not repeated."""
        runs = self.runs(search, running)
        have = {(a.get(self.origin), a.get(REPLICATE_ATTR, 0)) for a in record.attributes()}
        for trial, replicate in runs:
            if (trial.number, replicate) not in have:
                again = {REPLICATE_ATTR: replicate} if replicate else {}
                record.enqueue(trial.params, {self.origin: trial.number, **again})
        return len(runs)

    def fit(self, search: list[TrialRecord], fitting: int) -> dict[str, Any]:
        """The options that size its runs to at most ``fitting`` runs to the full budget (a
        time budget's share), planned from the ended ``search``: none if all it asks fit."""
        return {}

    def sized(self, options: dict[str, Any] | None) -> Phase:
        """The phase with its runs planned by ``options`` (see :meth:`fit`)."""
        return type(self)(self.cfg.model_copy(update=options)) if options else self

    def resumes(self, trial: TrialRecord, search: SweepRecord) -> list[TrialRecord]:
        """The trials whose checkpoints and recorded epochs ``trial`` goes on from: its own."""
        return [trial]

    def findings(
        self,
        search: list[TrialRecord],
        runs: list[TrialRecord],
        chosen: TrialRecord | None,
        searched: list[str],
    ) -> tuple[TrialRecord | None, dict[str, Any]]:
        """The model to test once its ``runs`` have ended (``chosen`` so far), and what it found,
        for best.json; ``searched``: the hyperparameters the search drew."""
        return chosen, {}
