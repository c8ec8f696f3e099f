"""What a sweep leaves behind, written from its record once its trials have ended: the tables
and the one test reading (:mod:`sweeps.results`), the manifest, every trial's TensorBoard run
and the report. Nothing here needs Ray.
"""

from __future__ import annotations

from pathlib import Path

from sweeps import manifest, phases, report, results
from sweeps.config import SweepConfig
from sweeps.results import SweepResults
from sweeps.storage import SweepFolder
from sweeps.tensorboard_runs import write_runs


def write(cfg: SweepConfig, folder: SweepFolder) -> SweepResults:
    """The tables, the manifest, the TensorBoard runs and the report, all from the sweep's
    record."""
    search, *later = phases.of(cfg)
    record = search.record(folder)
    outcome = results.write(cfg, folder, record)
    manifest.write(cfg, folder, record)
    runs = [run for phase in later for run in phase.record(folder).trials()]
    write_runs(Path(folder.tensorboard_dir()), record.trials() + runs, record.distributions())
    folder.publish()
    if outcome.epochs.num_rows:
        report.write(folder)
    return outcome
