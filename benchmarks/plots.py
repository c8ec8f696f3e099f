"""The anytime plot of a workload: best val_loss so far against wall time, every contender."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.compare import CONTENDERS


def anytime(name: str, figures: dict, path: Path) -> Path:
    """One line per run (a contender's seeds share its colour), from the command's start to
    its end; the dashed line is Optuna alone's median final best val_loss."""
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    colours = dict(zip(CONTENDERS, plt.get_cmap("tab10").colors, strict=False))
    labelled = set()
    for run in figures["runs"]:
        points = run["best_so_far"]
        if not points:
            continue
        times = [at for at, _ in points] + [run["wall_s"]]
        values = [best for _, best in points] + [points[-1][1]]
        label = None if run["contender"] in labelled else CONTENDERS[run["contender"]].label
        labelled.add(run["contender"])
        ax.step(times, values, where="post", color=colours[run["contender"]], alpha=0.8,
                linewidth=1.3, label=label)  # fmt: skip
        ax.plot(times[-1], values[-1], "o", color=colours[run["contender"]], markersize=3)
    target = figures.get("target_val_loss")
    if target is not None and math.isfinite(target):
        ax.axhline(target, color="grey", linestyle="--", linewidth=1,
                   label="Optuna alone's median final best val_loss")  # fmt: skip
    ax.set_yscale("log")
    finals = [run["best_so_far"][-1][1] for run in figures["runs"] if run["best_so_far"]]
    if finals:  # the race near the end, not the first epochs' losses of hundreds
        top = 10 * (target if target is not None and math.isfinite(target) else min(finals))
        ax.set_ylim(0.8 * min(finals), top)
    ax.set_xlabel("wall time since the command started (s)")
    ax.set_ylabel("best val_loss so far")
    seeds = sorted({run["seed"] for run in figures["runs"]})
    ax.set_title(f"{name}: one line per contender and sweep seed ({', '.join(map(str, seeds))})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
