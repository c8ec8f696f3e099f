"""The report's figures (loss curves, the best trial, parallel coordinates, importances), as PNGs.

They are matplotlib ``Figure`` objects, not pyplot's: no GUI backend and no global state, so the
run can draw them on a background thread.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sweeps.report.analysis import rungs
from sweeps.report.data import Sweep, describe, distinct_sorted, is_finite

REASON_STYLE = {  # how a curve ends: why the trial stopped
    "completed": ("o", "completed"),
    "asha": ("x", "pruned by ASHA"),
    "stalled": ("s", "stopped: no improvement"),
    "diverged": ("^", "diverged (NaN/inf)"),
    "budget": ("|", "stopped: --time-budget spent"),
    "error": ("D", "error"),
    "timeout": ("v", "stopped: no result in --trial-timeout"),
    "interrupted": (".", "interrupted"),
}


def curves_figure(sweep: Sweep) -> Figure:
    """Validation loss of every trial against epoch, ending where it was stopped."""
    fig, ax = _figure((9, 5.2))
    best = sweep.best
    if best is None:
        return _no_finite_loss(fig, ax)
    for trial in sweep.trials:
        rows = sweep.epochs.get(trial["trial_id"], [])
        points = [(r["epoch"], r["val_loss"]) for r in rows if is_finite(r["val_loss"])]
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
        label=f"best: trial {best['trial_index']} ({describe(best, sweep.params)})",
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
           title=f"Best trial {best['trial_index']}: {describe(best, sweep.params)}")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def parallel_figure(sweep: Sweep) -> Figure:
    """One axis per hyperparameter and one for val_loss; a line per trial, coloured by loss."""
    params = sweep.params
    trials = [t for t in sweep.trials if is_finite(t["best_val_loss"])]
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


def to_png(fig: Figure) -> bytes:
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110)
    return sink.getvalue()


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
        choices = distinct_sorted(present)
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
