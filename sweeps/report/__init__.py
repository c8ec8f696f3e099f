"""``python -m sweeps.report FOLDER``: one self-contained HTML page (and PNGs) about a sweep.

It answers "which choices mattered, and where did each run start to overfit?" from the sweep's
own files: trials.parquet, epochs.parquet, sweep.json and the Optuna journal. The run writes it
at the end of every sweep; this command rewrites it, for instance after a ``--resume``.

:mod:`~sweeps.report.data` reads the folder, :mod:`~sweeps.report.analysis` computes what the
page states, :mod:`~sweeps.report.figures` draws it and :mod:`~sweeps.report.page` writes the
HTML. Importing the package imports all four, and so matplotlib and Optuna's fANOVA: the run
imports it on a thread while Ray starts so that writing the report does not wait for them.
"""

from __future__ import annotations

import argparse
import json
import sys

import optuna

from sweeps import lockbox
from sweeps.config import ConfigError
from sweeps.report.analysis import (
    FULL_FOREST_TRIALS,
    GRID_PAIR,
    ONE_COLUMN,
    SMALL_FOREST,
    grid,
    grid_params,
    importances,
    pruning,
    rungs,
)
from sweeps.report.data import Sweep, read
from sweeps.report.figures import (
    REASON_STYLE,
    best_figure,
    curves_figure,
    importance_figure,
    parallel_figure,
    to_png,
)
from sweeps.report.page import STYLE, page
from sweeps.storage import BEST, MANIFEST, REPORT, SweepFolder

__all__ = [
    "FIGURES",
    "FULL_FOREST_TRIALS",
    "GRID_PAIR",
    "ONE_COLUMN",
    "REASON_STYLE",
    "REPORT",
    "SMALL_FOREST",
    "STYLE",
    "Sweep",
    "best_figure",
    "curves_figure",
    "grid",
    "grid_params",
    "importance_figure",
    "importances",
    "main",
    "page",
    "parallel_figure",
    "pruning",
    "read",
    "rungs",
    "write",
]

FIGURES = {
    "curves": "val_loss_curves.png",
    "best": "best_trial.png",
    "parallel": "parallel_coordinates.png",
    "importance": "importances.png",
}


def write(folder: SweepFolder) -> str:
    """Render the report and its PNGs into the sweep folder; returns the report's location."""
    sweep = read(folder)
    importance = importances(sweep)  # slow for a large sweep; the figure and the grid share it
    figures = {
        "curves": curves_figure(sweep),
        "best": best_figure(sweep),
        "parallel": parallel_figure(sweep),
        "importance": importance_figure(importance),
    }
    images = {key: to_png(fig) for key, fig in figures.items()}
    for key, png in images.items():
        folder.write_bytes(FIGURES[key], png)
    best_json = json.loads(folder.read_text(BEST)) if folder.has(BEST) else None
    tested = lockbox.readings(folder)
    manifest = json.loads(folder.read_text(MANIFEST)) if folder.has(MANIFEST) else None
    html = page(sweep, images, best_json, importance, tested, manifest, folder.uri)
    folder.write_bytes(REPORT, html.encode())
    return folder.file_uri(REPORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.report",
        description="Write report.html and PNGs about a sweep into its folder.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="sweep folder or URI")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        folder = SweepFolder.from_location(args.folder)
        if not folder.exists():
            raise ConfigError(f"no sweep folder at {args.folder}")
        print(f"Report: {write(folder)}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
