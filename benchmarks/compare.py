"""The four contenders on the reference workload, each in its own process group.

Overhead ratio = wall ÷ (Σ per-epoch training compute ÷ workers): 1.0 would mean the workers
did nothing but train from the first instant to the last.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks import measure
from benchmarks.workload import Workload


def ours(out: Path, workload: Workload) -> dict:
    """``python -m sweeps.run`` with its shipped defaults, sized to the workload."""
    measured = measure.run(
        ["sweeps.run", "--name", "bench", "--storage", str(out), *workload.options()], out
    )
    folder = out / "bench"
    best = json.loads((folder / "best.json").read_text())
    result = {
        "trials": pq.read_metadata(folder / "trials.parquet").num_rows,
        "epochs": pq.read_metadata(folder / "epochs.parquet").num_rows,
        "compute_s": epoch_compute_s(folder), "best_val_loss": best["val_loss"],
        "test_acc": best["test_acc"],
    }  # fmt: skip
    return {**result, **_measured(measured)}


def epoch_compute_s(folder: Path) -> float:
    """Σ of the epochs' training time in a sweep folder (Ray's ``time_this_iter_s``: one
    ``step``, one epoch of training and validation)."""
    return sum(
        json.loads(line)["time_this_iter_s"]
        for path in folder.glob("trial_*/result.json")
        for line in path.open()
    )


def _module(name: str, *flags: str) -> Callable[[Path, Workload], dict]:
    def contender(out: Path, workload: Workload) -> dict:
        measured = measure.run([name, str(out), *flags, *workload.options()], out)
        return {**json.loads((out / "result.json").read_text()), **_measured(measured)}

    return contender


def _measured(measured: measure.Measured) -> dict:
    return {
        "wall_s": measured.wall_s, "driver_rss_mb": measured.driver_rss_mb,
        "worker_rss_mb": measured.worker_rss_mb,
    }  # fmt: skip


@dataclass(frozen=True)
class Contender:
    label: str
    run: Callable[[Path, Workload], dict]


CONTENDERS = {  # by the names --contenders takes
    "ours": Contender("sweeps (ours, defaults)", ours),
    "optuna": Contender("Optuna alone (TPE + SHA)", _module("benchmarks.optuna_alone")),
    "ray-docs": Contender("Ray Tune docs style", _module("benchmarks.ray_docs")),
    "random": Contender(
        "random search, no pruning", _module("benchmarks.optuna_alone", "--sampler", "random")
    ),
}


def run(
    workload: Workload, repeats: int, log: Callable[[str], None], chosen: list[str]
) -> list[dict]:
    """One row per contender in ``chosen``: the median of ``repeats`` runs of each figure.

    The contenders take turns, one run each per round, so that a machine whose speed drifts
    over the minutes (this one's did, by tens of %) slows them alike and the ratios hold.
    """
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for repeat in range(repeats):
        for name in chosen:
            contender = CONTENDERS[name]
            with tempfile.TemporaryDirectory(prefix="bench-") as out:
                result = contender.run(Path(out), workload)
            runs[name].append(result)
            log(f"  {contender.label}: run {repeat + 1}/{repeats}, {result['wall_s']:.1f} s")
    rows = []
    for name, done in runs.items():
        row = {key: statistics.median(r[key] for r in done) for key in done[0]}
        row["ms_per_epoch"] = 1000 * row["wall_s"] / row["epochs"]
        row["overhead"] = row["wall_s"] / (row["compute_s"] / workload.workers)
        rows.append({"contender": CONTENDERS[name].label, **row})
    return rows
