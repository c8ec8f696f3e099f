"""The contenders on one workload, each in its own process group, over several sweep seeds.

Each run gives its wall time, the best val_loss it found, the test accuracy of the model it
chose, and its anytime curve: every epoch's val_loss with the wall time since the command
started, from which come the time to the first result and the time to reach Optuna alone's
median final quality.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import pyarrow.parquet as pq

from benchmarks import measure
from benchmarks.workload import Workload
from sweeps.record import SweepRecord
from sweeps.storage import CONFIRM, STUDY, SweepFolder

optuna.logging.set_verbosity(optuna.logging.WARNING)
BASELINE = "optuna"  # the ratios' denominator: what a user would write instead of a service


def ours(*flags: str) -> Callable[[Path, Workload], dict]:
    def contender(out: Path, workload: Workload) -> dict:
        """``python -m sweeps.run`` with its shipped defaults but ``flags``, on the workload."""
        args = ["sweeps.run", "--name", "bench", "--storage", str(out), *workload.sweep_options()]
        measured = measure.run([*args, *flags], out)
        folder = out / "bench"
        best = json.loads((folder / "best.json").read_text())
        result = {
            "trials": pq.read_metadata(folder / "trials.parquet").num_rows,
            "epochs": pq.read_metadata(folder / "epochs.parquet").num_rows,
            "compute_s": epoch_compute_s(folder), "test_acc": best["test_acc"],
            "curve": curve(SweepFolder.in_storage(str(out), "bench")),
        }  # fmt: skip
        return {**result, **_measured(measured)}

    return contender


def curve(folder: SweepFolder) -> list[tuple[float, float]]:
    """(Unix time recorded, val_loss) of every epoch of the sweep: search and confirmation."""
    return sorted(
        (epoch.reported_at, epoch.val_loss)
        for study in (STUDY, CONFIRM)
        for trial in SweepRecord(folder, study).trials()
        for epoch in trial.epochs
    )


def epoch_compute_s(folder: Path) -> float:
    """Σ of the epochs' training time in a sweep folder (Ray's ``time_this_iter_s``: one
    ``step``, one epoch of training and validation)."""
    return sum(
        json.loads(line)["time_this_iter_s"]
        for path in folder.glob("*_*/result.json")
        for line in path.open()
    )


def _module(name: str, *flags: str) -> Callable[[Path, Workload], dict]:
    def contender(out: Path, workload: Workload) -> dict:
        measured = measure.run([name, str(out), *flags, *workload.options()], out)
        return {**json.loads((out / "result.json").read_text()), **_measured(measured)}

    return contender


def _measured(measured: measure.Measured) -> dict:
    return {
        "started_at": measured.started_at, "wall_s": measured.wall_s,
        "driver_rss_mb": measured.driver_rss_mb, "worker_rss_mb": measured.worker_rss_mb,
    }  # fmt: skip


@dataclass(frozen=True)
class Contender:
    label: str
    run: Callable[[Path, Workload], dict]


CONTENDERS = {  # by the names --contenders takes
    "ours": Contender("sweeps (ours, defaults)", ours()),
    "ours-search": Contender("sweeps, no confirmation", ours("--confirm-seeds", "0")),
    "ours-gp": Contender("sweeps, --sampler gp", ours("--sampler", "gp")),
    "optuna": Contender("Optuna alone (TPE + SHA)", _module("benchmarks.optuna_alone")),
    "ray-docs": Contender("Ray Tune docs style", _module("benchmarks.ray_docs")),
    "random": Contender(
        "random search, no pruning", _module("benchmarks.optuna_alone", "--sampler", "random")
    ),
}


def run(
    workload: Workload, seeds: list[int], log: Callable[[str], None], chosen: list[str]
) -> dict[str, Any]:
    """``rows``: one per contender in ``chosen``, the medians over ``seeds`` of its figures;
    ``runs``: every run's figures and its curve (seconds since its command started);
    ``target_val_loss``: Optuna alone's median final best val_loss (None without it).

    For each seed the contenders take turns, the order rotating from seed to seed, so that a
    machine whose speed drifts over the minutes (this one's did, by tens of %) slows them alike.
    """
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for round_, seed in enumerate(seeds):
        turn = round_ % len(chosen)
        for name in chosen[turn:] + chosen[:turn]:
            contender = CONTENDERS[name]
            with tempfile.TemporaryDirectory(prefix="bench-") as out:
                result = contender.run(Path(out), replace(workload, seed=seed))
            runs[name].append({"seed": seed, **anytime(result)})
            log(f"  {workload.name}, seed {seed}, {contender.label}: {result['wall_s']:.1f} s")
    base = {r["seed"]: r for r in runs.get(BASELINE, [])}
    rows = [_row(name, done, workload, base) for name, done in runs.items()]
    flat = [{"contender": name, **r} for name, done in runs.items() for r in done]
    return {"rows": rows, "runs": flat, "target_val_loss": _target(runs)}


def anytime(result: dict) -> dict:
    """The run's curve as (seconds since its command, best val_loss so far), its first result
    and its best val_loss."""
    started, epochs = result.pop("started_at"), result.pop("curve")
    best, points = math.inf, []
    for at, val_loss in epochs:
        if val_loss is not None and math.isfinite(val_loss) and val_loss < best:
            best = val_loss
            points.append((at - started, best))
    first = epochs[0][0] - started if epochs else math.inf
    return {**result, "best_val_loss": best, "first_result_s": first, "best_so_far": points}


def _target(runs: dict[str, list[dict]]) -> float | None:
    """Optuna alone's median final best val_loss, the line the anytime plot draws (each run's
    ``to_target_s`` is taken against Optuna alone's run of the same seed)."""
    if BASELINE not in runs:
        return None
    return statistics.median(r["best_val_loss"] for r in runs[BASELINE])


def reached(points: list[tuple[float, float]], target: float | None) -> float:
    """Seconds until the best val_loss so far was at or below ``target`` (inf: never)."""
    if target is None:
        return math.nan
    return next((at for at, best in points if best <= target), math.inf)


def _row(name: str, done: list[dict], workload: Workload, base: dict[int, dict]) -> dict:
    """The medians over the seeds of a contender's figures, and its figures against Optuna
    alone's (``base``, by seed) paired by seed: each seed draws its own data split, and the
    best val_loss of one split can be three times another's, so a ratio or a target is only
    taken between runs of the same seed."""
    median = {key: statistics.median(r[key] for r in done) for key in FIGURES}
    row = {
        "contender": CONTENDERS[name].label, **median,
        "to_target_s": math.nan,
        "overhead": median["wall_s"] / (median["compute_s"] / workload.workers),
    }  # fmt: skip
    if base:
        row.update(paired(done, base))  # to_target_s keeps its column, the ratios come last
    return row


def paired(done: list[dict], base: dict[int, dict]) -> dict[str, float]:
    """Runs against ``base``'s run of the same seed, medians over the runs: when each first
    reached that run's final best val_loss, and the ratios of their walls and best val_losses."""
    return {
        "to_target_s": statistics.median(
            reached(r["best_so_far"], base[r["seed"]]["best_val_loss"]) for r in done
        ),
        "wall_ratio": statistics.median(r["wall_s"] / base[r["seed"]]["wall_s"] for r in done),
        "quality_ratio": statistics.median(
            r["best_val_loss"] / base[r["seed"]]["best_val_loss"] for r in done
        ),
    }


# The figures of a row, each the median over the seeds.
FIGURES = ("trials", "epochs", "wall_s", "first_result_s", "best_val_loss", "test_acc",
           "compute_s", "driver_rss_mb", "worker_rss_mb")  # fmt: skip
