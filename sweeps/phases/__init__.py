"""The phases of a sweep: the search, then the confirmation of its best over fresh seeds, then
the audit of its pruning. Each is a :class:`Phase`; everything else loops over them.

A phase is a study of its own in the sweep's journal (:mod:`sweeps.record`), whose trials run
as Ray trials of the one experiment, retry and resume as the search's do. What differs, as
Optuna's samplers differ behind one ``BaseSampler``, is what a phase's base class leaves to
it: which trials it runs (:meth:`Phase.runs`: a later phase's follow from how the search
ended), where a run goes on from (:meth:`Phase.resumes`), whether ASHA and the stopper may cut
its trials short (:attr:`Phase.judged`), and what its ended runs change of the sweep's choice
of model (:meth:`Phase.findings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeps.phases.audit import Audit
from sweeps.phases.base import Phase
from sweeps.phases.confirm import Confirmation
from sweeps.phases.search import Search

if TYPE_CHECKING:
    from sweeps.config import SweepConfig

__all__ = ["Audit", "Confirmation", "Phase", "Search", "of"]


def of(cfg: SweepConfig) -> list[Phase]:
    """The sweep's phases, in the order they run: the search, then those ``cfg`` asks for."""
    wanted = ((cfg.confirm_seeds, Confirmation), (cfg.audit_pruned, Audit))
    return [Search(cfg), *(phase(cfg) for asked, phase in wanted if asked)]
