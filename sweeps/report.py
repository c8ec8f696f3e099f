"""``python -m sweeps.report FOLDER``: one self-contained HTML page (and PNGs) about a sweep.

It answers "which choices mattered, and where did each run start to overfit?" from the sweep's
own files: trials.parquet, epochs.parquet, sweep.json and the Optuna journal. The run writes it
at the end of every sweep; this command rewrites it, for instance after a ``--resume``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import matplotlib
import optuna
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from sweeps.config import ConfigError, SweepConfig
from sweeps.results import BEST, EPOCHS, TRIAL_COLUMNS, TRIALS, read_table
from sweeps.storage import JOURNAL, STUDY, SweepFolder, journal_storage

REPORT = "report.html"
FIGURES = {
    "curves": "val_loss_curves.png",
    "best": "best_trial.png",
    "parallel": "parallel_coordinates.png",
    "importance": "importances.png",
}
REASON_STYLE = {  # how a curve ends: why the trial stopped
    "completed": ("o", "completed"),
    "asha": ("x", "pruned by ASHA"),
    "stalled": ("s", "stopped: no improvement"),
    "diverged": ("^", "diverged (NaN/inf)"),
    "error": ("D", "error"),
    "timeout": ("v", "stopped: no result in --trial-timeout"),
    "interrupted": (".", "interrupted"),
}
# Optuna's fANOVA forest (64 trees up to 64 deep) grows with the trials and takes seconds past
# a hundred of them; a smaller one ranks the hyperparameters alike (400 trials: 11.5 -> 0.9 s).
FULL_FOREST_TRIALS = 100
SMALL_FOREST = {"n_trees": 32, "max_depth": 8}
GRID_PAIR = ("optimizer", "activation")  # the built-in spaces' choices, tabulated where searched
ONE_COLUMN = "best val_loss"  # the grid's column when the sweep has a single categorical


@dataclass(frozen=True)
class Sweep:
    """What the report reads from a sweep folder."""

    name: str
    cfg: SweepConfig
    trials: list[dict[str, Any]]  # rows of trials.parquet, by trial index
    epochs: dict[str, list[dict[str, Any]]]  # epochs.parquet rows per trial id, by epoch
    study: optuna.Study | None

    @property
    def params(self) -> list[str]:
        """The searched hyperparameters, in the order the space declares them."""
        names = [k for k in self.trials[0] if k not in TRIAL_COLUMNS]
        return [k for k in names if any(t[k] is not None for t in self.trials)]

    @cached_property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Each hyperparameter's Optuna distribution; a conditional one is in some trials only."""
        if self.study is None:
            return {}
        found: dict[str, BaseDistribution] = {}
        for trial in self.study.get_trials(deepcopy=False):
            found.update(trial.distributions)
        return found

    @property
    def log_scaled(self) -> set[str]:
        """The hyperparameters the space samples on a log scale (none known without a study)."""
        numeric = (FloatDistribution, IntDistribution)
        return {n for n, d in self.distributions.items() if isinstance(d, numeric) and d.log}

    @property
    def categorical(self) -> list[str]:
        """The hyperparameters drawn as categories: categorical in the space, or text/bool."""
        return [
            p
            for p in self.params
            if isinstance(self.distributions.get(p), CategoricalDistribution)
            or any(isinstance(t[p], (str, bool)) for t in self.trials)
        ]

    @property
    def best(self) -> dict[str, Any] | None:
        finite = [t for t in self.trials if _finite(t["best_val_loss"])]
        return min(finite, key=lambda t: t["best_val_loss"], default=None)


def read(folder: SweepFolder) -> Sweep:
    for needed in ("sweep.json", TRIALS, EPOCHS):
        if not folder.has(needed):
            raise ConfigError(f"{folder.uri} has no {needed}: not a finished sweep folder")
    cfg = SweepConfig.model_validate_json(folder.read_text("sweep.json"))
    trials = read_table(folder, TRIALS)
    epochs: dict[str, list[dict[str, Any]]] = {}
    for row in read_table(folder, EPOCHS):
        epochs.setdefault(row["trial_id"], []).append(row)
    if not trials or not epochs:
        raise ConfigError(f"{folder.uri} has no trial that trained an epoch yet")
    return Sweep(folder.name, cfg, trials, epochs, _study(folder))


def _study(folder: SweepFolder) -> optuna.Study | None:
    if not folder.has(JOURNAL):
        return None
    return optuna.load_study(study_name=STUDY, storage=journal_storage(folder))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


# ---- numbers -------------------------------------------------------------------------------


def rungs(cfg: SweepConfig) -> list[int]:
    """ASHA's milestones: grace_period x reduction_factor^k below max_epochs."""
    marks, t = [], float(cfg.grace_period)
    while t < cfg.max_epochs:
        marks.append(int(t))
        t *= cfg.reduction_factor
    return marks


def pruning(sweep: Sweep) -> dict[str, Any]:
    """Trials pruned at each ASHA rung, other early stops, and the epochs saved by all of them."""
    by_rung = {rung: 0 for rung in rungs(sweep.cfg)}
    for trial in sweep.trials:
        if trial["stop_reason"] == "asha":
            rung = max((r for r in by_rung if r <= trial["epochs"]), default=trial["epochs"])
            by_rung[rung] = by_rung.get(rung, 0) + 1
    trained = sum(t["epochs"] for t in sweep.trials)
    budget = len(sweep.trials) * sweep.cfg.max_epochs
    reasons: dict[str, int] = {}
    for trial in sweep.trials:
        reasons[trial["stop_reason"]] = reasons.get(trial["stop_reason"], 0) + 1
    return {
        "by_rung": by_rung,
        "reasons": reasons,
        "trained": trained,
        "budget": budget,
        "saved": budget - trained,
    }


def grid_params(sweep: Sweep, importance: dict[str, float]) -> list[str]:
    """The (up to) two categorical hyperparameters to tabulate: optimizer and activation where
    the sweep searched both, so that sweeps of the built-in spaces compare, else those that
    mattered most (conditional ones have no importance and come last)."""
    categorical = sweep.categorical
    if set(GRID_PAIR) <= set(categorical):
        return list(GRID_PAIR)
    return sorted(categorical, key=lambda p: -importance.get(p, 0.0))[:2]


def grid(sweep: Sweep, importance: dict[str, float]) -> dict[str, Any]:
    """Best val_loss for each pair of choices of :func:`grid_params` tried; with one of them,
    for each of its choices, in the column ``ONE_COLUMN``."""
    names = grid_params(sweep, importance)
    cells: dict[tuple[Any, Any], float] = {}
    for t in sweep.trials:
        choices = [t[n] for n in names]
        if names and None not in choices and _finite(t["best_val_loss"]):
            key = (choices[0], choices[1] if len(names) == 2 else ONE_COLUMN)
            cells[key] = min(cells.get(key, math.inf), t["best_val_loss"])
    return {
        "names": names,
        "rows": _sorted(r for r, _ in cells),
        "columns": _sorted(c for _, c in cells),
        "cells": cells,
    }


def _sorted(values: Iterable[Any]) -> list[Any]:
    """The distinct values in order; by their text where they don't compare (1 and "a")."""
    distinct = set(values)
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def importances(sweep: Sweep) -> dict[str, float]:
    """Optuna's fANOVA importances of the hyperparameters for the best val_loss a trial reached.

    Pruned trials count with their best value before they stopped (else TPE + ASHA leave only
    a handful of complete trials). Hyperparameters that some trials lack are left out, as
    Optuna's evaluators need every trial to have them.
    """
    if sweep.study is None:
        return {}
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    scored = optuna.create_study(direction="minimize")
    for trial in sweep.study.get_trials(deepcopy=False, states=finished):
        values = [v for v in trial.intermediate_values.values() if math.isfinite(v)]
        value = trial.value if trial.value is not None else min(values, default=None)
        if value is not None and trial.params:
            scored.add_trial(
                optuna.trial.create_trial(
                    params=trial.params, distributions=trial.distributions, value=value
                )
            )
    if len(scored.trials) < 2:
        return {}
    forest = SMALL_FOREST if len(scored.trials) > FULL_FOREST_TRIALS else {}
    evaluator = FanovaImportanceEvaluator(seed=sweep.cfg.seed, **forest)
    return get_param_importances(scored, evaluator=evaluator)


# ---- figures -------------------------------------------------------------------------------


def curves_figure(sweep: Sweep) -> Figure:
    """Validation loss of every trial against epoch, ending where it was stopped."""
    fig, ax = _figure((9, 5.2))
    best = sweep.best
    if best is None:
        return _no_finite_loss(fig, ax)
    for trial in sweep.trials:
        rows = sweep.epochs.get(trial["trial_id"], [])
        points = [(r["epoch"], r["val_loss"]) for r in rows if _finite(r["val_loss"])]
        if not points or trial["trial_id"] == best["trial_id"]:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, color="0.6", lw=1, alpha=0.8)
        marker, _ = REASON_STYLE[trial["stop_reason"]]
        ax.plot(xs[-1], ys[-1], marker=marker, color="0.35", ms=5, ls="none")
    rows = sweep.epochs[best["trial_id"]]
    ax.plot(
        [r["epoch"] for r in rows],
        [r["val_loss"] for r in rows],
        color="C3",
        lw=2.5,
        label=f"best: trial {best['trial_index']} ({_describe(best, sweep.params)})",
    )
    for marker, label in REASON_STYLE.values():
        if any(REASON_STYLE[t["stop_reason"]][1] == label for t in sweep.trials):
            ax.plot([], [], marker=marker, color="0.35", ls="none", label=label)
    for rung in rungs(sweep.cfg):
        ax.axvline(rung, color="C0", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="validation loss (log scale)",
           title="Validation loss of every trial (dotted: ASHA rungs)")  # fmt: skip
    ax.set_xlim(0.5, sweep.cfg.max_epochs + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def best_figure(sweep: Sweep) -> Figure:
    """The best trial's training and validation loss; after the best epoch it overfits."""
    fig, ax = _figure((9, 4.5))
    best = sweep.best
    if best is None:
        return _no_finite_loss(fig, ax)
    rows = sweep.epochs[best["trial_id"]]
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["train_loss"] for r in rows], "o-", color="C0", label="training loss")
    ax.plot(epochs, [r["val_loss"] for r in rows], "o-", color="C3", label="validation loss")
    ax.axvline(best["best_epoch"], color="k", ls="--", lw=1)
    ax.annotate(
        f"best epoch {best['best_epoch']}\nval_loss {best['best_val_loss']:.4f}",
        xy=(best["best_epoch"], best["best_val_loss"]), xytext=(-40, 40),
        textcoords="offset points", arrowprops={"arrowstyle": "->"}, fontsize=9,
    )  # fmt: skip
    ax.set(xlabel="epoch", ylabel="cross-entropy loss",
           title=f"Best trial {best['trial_index']}: {_describe(best, sweep.params)}")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def parallel_figure(sweep: Sweep) -> Figure:
    """One axis per hyperparameter and one for val_loss; a line per trial, coloured by loss."""
    params = sweep.params
    trials = [t for t in sweep.trials if _finite(t["best_val_loss"])]
    axes = [*params, "best_val_loss"]
    fig, ax = _figure((max(8.0, 1.9 * len(axes)), 5.2))
    if not trials:
        return _no_finite_loss(fig, ax)
    logs, categorical = {*sweep.log_scaled, "best_val_loss"}, set(sweep.categorical)
    scales = {
        name: _axis_scale([t[name] for t in trials], name in logs, name in categorical)
        for name in axes
    }
    losses = [t["best_val_loss"] for t in trials]
    norm = matplotlib.colors.LogNorm(min(losses), max(max(losses), min(losses) * 1.0001))
    cmap = matplotlib.colormaps["viridis_r"]
    best = sweep.best
    for trial in sorted(trials, key=lambda t: -t["best_val_loss"]):
        ys = [scales[name][0](trial[name]) for name in axes]
        is_best = best is not None and trial["trial_id"] == best["trial_id"]
        ax.plot(
            range(len(axes)),
            ys,
            color="C3" if is_best else cmap(norm(trial["best_val_loss"])),
            lw=3 if is_best else 1.2,
            alpha=1 if is_best else 0.75,
            zorder=3 if is_best else 2,
        )
    for i, name in enumerate(axes):
        ax.axvline(i, color="k", lw=0.8)
        for position, label in scales[name][1]:
            ax.text(i + 0.03, position, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), axes)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.05)
    ax.set_xlim(-0.2, len(axes) - 0.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax, label="best val_loss",
                 pad=0.01)  # fmt: skip
    ax.set_title("Hyperparameters against best validation loss (red: best trial; "
                 "'n/a': not used by that trial)")  # fmt: skip
    return fig


def _figure(size: tuple[float, float]) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots()


def _no_finite_loss(fig: Figure, ax: Any) -> Figure:
    ax.text(0.5, 0.5, "no trial reached a finite validation loss", ha="center")
    ax.set_axis_off()
    return fig


def _axis_scale(
    values: list[Any], log: bool, categories: bool
) -> tuple[Any, list[tuple[float, str]]]:
    """(value -> position in [0, 1], tick labels) for one parallel-coordinates axis."""
    present = [v for v in values if v is not None]
    labels: list[tuple[float, str]] = [(-0.08, "n/a")] if len(present) < len(values) else []
    if categories or not present:  # with no value, an axis of no category: all at "n/a"
        choices = _sorted(present)
        step = 1 / max(1, len(choices) - 1)
        spots = {c: i * step if len(choices) > 1 else 0.5 for i, c in enumerate(choices)}
        return (lambda v: -0.08 if v is None else spots[v]), labels + [
            (spots[c], str(c)) for c in choices
        ]
    log = log and all(v > 0 for v in present)
    warp = math.log10 if log else float
    low, high = min(map(warp, present)), max(map(warp, present))
    span = (high - low) or 1.0

    def position(v: Any) -> float:
        return -0.08 if v is None else (warp(v) - low) / span

    ticks = [low + span * f for f in (0, 0.5, 1)]
    return position, labels + [((t - low) / span, f"{(10**t if log else t):.3g}") for t in ticks]


def importance_figure(values: dict[str, float]) -> Figure:
    fig, ax = _figure((7, 0.5 + 0.5 * max(1, len(values))))
    if not values:
        ax.text(0.5, 0.5, "too few finished trials for importances", ha="center")
        ax.set_axis_off()
        return fig
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="C0")
    for i, name in enumerate(names):
        ax.text(values[name], i, f" {values[name]:.2f}", va="center", fontsize=9)
    ax.set(xlabel="importance (fANOVA, sums to 1)", xlim=(0, 1.1),
           title="Which hyperparameters mattered for val_loss")  # fmt: skip
    return fig


def _describe(trial: dict[str, Any], params: Iterable[str]) -> str:
    return ", ".join(f"{p}={_fmt(trial[p])}" for p in params if trial.get(p) is not None)


def _fmt(value: Any) -> str:
    if value is None:
        return "\N{EM DASH}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _png(fig: Figure) -> bytes:
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110)
    return sink.getvalue()


# ---- the page ------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f3f3f3}
td.best{background:#ffd9d2;font-weight:bold} img{max-width:100%} .muted{color:#777}
code{background:#f3f3f3;padding:1px 4px}
"""


def page(
    sweep: Sweep,
    images: dict[str, bytes],
    best_json: dict[str, Any] | None,
    importance: dict[str, float],
) -> str:
    p, g = pruning(sweep), grid(sweep, importance)
    parts = [
        f"<h1>Sweep {html.escape(sweep.name)}</h1>",
        f"<p class=muted>{len(sweep.trials)} trials, space <code>{html.escape(sweep.cfg.space)}"
        f"</code>, dataset <code>{html.escape(sweep.cfg.dataset)}</code>, up to "
        f"{sweep.cfg.max_epochs} epochs, seed {sweep.cfg.seed}.</p>",
        _best_section(sweep, best_json),
        "<h2>Validation loss of every trial</h2>",
        _img(images["curves"], "validation loss curves"),
        "<h2>Best trial: where it starts to overfit</h2>",
        "<p>Training loss keeps falling; once validation loss stops falling and rises, the model "
        "is fitting noise in the training split. The weights kept are those of the best epoch."
        "</p>",
        _img(images["best"], "best trial training and validation loss"),
        "<h2>Which choices mattered</h2>",
        _img(images["parallel"], "parallel coordinates"),
        _img(images["importance"], "hyperparameter importances"),
        "<p class=muted>Importances from Optuna's fANOVA over the best val_loss of every "
        "finished trial (pruned ones with the best value they reached); hyperparameters that "
        "only some trials have, such as momentum, are left out.</p>",
        _grid_heading(g["names"]),
        _grid_table(g),
        "<h2>Pruning</h2>",
        _pruning_table(p),
        f"<p>Trained {p['trained']} epochs out of {p['budget']} for every trial to reach "
        f"epoch {sweep.cfg.max_epochs}: pruning saved <b>{p['saved']} epochs "
        f"({p['saved'] / p['budget']:.0%})</b>.</p>",
        "<h2>All trials</h2>",
        _trials_table(sweep),
    ]
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>Sweep {html.escape(sweep.name)}"
        f"</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _best_section(sweep: Sweep, best_json: dict[str, Any] | None) -> str:
    best = sweep.best
    if best is None:
        return "<p>No trial reached a finite validation loss.</p>"
    lines = [
        f"<p><b>Best trial {best['trial_index']}</b> ({best['trial_id']}): "
        f"{html.escape(_describe(best, sweep.params))}<br>best epoch {best['best_epoch']}, "
        f"val_loss {best['best_val_loss']:.4f}"
    ]
    if best_json and best_json.get("trial_id") == best["trial_id"]:
        lines.append(
            f"<br>test split (evaluated once, after the sweep): loss "
            f"{best_json['test_loss']:.4f}, accuracy {best_json['test_acc']:.4f}"
        )
    else:
        lines.append("<br><span class=muted>not tested: the sweep has not finished</span>")
    return "".join(lines) + "</p>"


def _grid_heading(names: list[str]) -> str:
    by = " &times; ".join(map(html.escape, names)) or "categorical hyperparameter"
    return f"<h3>Best val_loss by {by}</h3>"


def _grid_table(g: dict[str, Any]) -> str:
    if not g["names"]:
        return "<p class=muted>no categorical hyperparameter to tabulate</p>"
    if not g["cells"]:
        return "<p class=muted>no finite results</p>"
    lowest = min(g["cells"].values())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in g["columns"])
    rows = []
    for r in g["rows"]:
        cells = []
        for c in g["columns"]:
            value = g["cells"].get((r, c))
            css = " class=best" if value == lowest else ""
            cells.append(f"<td{css}>{'&mdash;' if value is None else f'{value:.4f}'}</td>")
        rows.append(f"<tr><th>{html.escape(str(r))}</th>{''.join(cells)}</tr>")
    corner = " \\ ".join(map(html.escape, g["names"]))
    return f"<table><tr><th>{corner}</th>{head}</tr>{''.join(rows)}</table>"


def _pruning_table(p: dict[str, Any]) -> str:
    rows = [
        f"<tr><td>ASHA rung at epoch {rung}</td><td>{count}</td></tr>"
        for rung, count in sorted(p["by_rung"].items())
    ]
    for reason in ("stalled", "diverged", "error", "interrupted", "completed"):
        if reason in p["reasons"]:
            rows.append(
                f"<tr><td>{REASON_STYLE[reason][1]}</td><td>{p['reasons'][reason]}</td></tr>"
            )
    return f"<table><tr><th>ended at</th><th>trials</th></tr>{''.join(rows)}</table>"


def _trials_table(sweep: Sweep) -> str:
    columns = ["trial_index", *sweep.params, "stop_reason", "epochs", "best_epoch",
               "best_val_loss"]  # fmt: skip
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    ordered = sorted(sweep.trials, key=lambda t: (not _finite(t["best_val_loss"]),
                                                  t["best_val_loss"] or 0))  # fmt: skip
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(_fmt(t.get(c, '')))}</td>" for c in columns) + "</tr>"
        for t in ordered
    ]
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write(folder: SweepFolder) -> str:
    """Render the report and its PNGs into the sweep folder; returns the report's location."""
    sweep = read(folder)
    importance = importances(sweep)  # seconds for a large sweep: for the figure and the grid
    figures = {
        "curves": curves_figure(sweep),
        "best": best_figure(sweep),
        "parallel": parallel_figure(sweep),
        "importance": importance_figure(importance),
    }
    images = {key: _png(fig) for key, fig in figures.items()}
    for key, png in images.items():
        folder.write_bytes(FIGURES[key], png)
    best_json = json.loads(folder.read_text(BEST)) if folder.has(BEST) else None
    folder.write_bytes(REPORT, page(sweep, images, best_json, importance).encode())
    return folder.uri_of(REPORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.report",
        description="Write report.html and PNGs about a sweep into its folder.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="sweep folder or URI")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        folder = SweepFolder.at(args.folder)
        if not folder.exists():
            raise ConfigError(f"no sweep folder at {args.folder}")
        print(f"Report: {write(folder)}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
