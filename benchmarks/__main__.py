"""``python -m benchmarks [--quick] [--seeds S,...] [--workloads ...] [--contenders ...]
[--sections ...] [--trials N] [--json FILE] [--plots DIR]``.

Prints one table per workload and section, writes every figure, with the machine and versions,
to a JSON file, and draws each workload's anytime plot. Figures are measured side by side in
this one invocation; no target is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from benchmarks import compare, plots, sections
from benchmarks.workload import WORKLOADS

SECTIONS: dict[str, Callable[[argparse.Namespace, Callable[[str], None]], list[dict]]] = {
    "scale": lambda a, log: sections.scale(a.quick, log),
    "loop": lambda a, log: sections.training_loop(a.quick),
    "checkpoint": lambda a, log: sections.checkpoint_cost(a.quick),
    "warm": lambda a, log: sections.warm_head(a.quick, log),
    "budget": lambda a, log: sections.time_budget(a.quick, log),
    "asha": lambda a, log: sections.asha(a.workload_names, a.seeds, a.quick, log),
}
COMPARE = "compare"  # the section that runs the contenders on each of --workloads
# Sections outside the default run: asha's grid is 7 settings x the seeds x the workloads.
OPT_IN = ("asha",)


def machine() -> dict:
    return {
        "date": datetime.date.today().isoformat(), "cpus": os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(),
        **{name: version(name) for name in ("torch", "ray", "optuna")},
    }  # fmt: skip


def table(rows: list[dict]) -> str:
    """Rows as an aligned text table (floats to 3 significant figures)."""
    if not rows:
        return "(no rows)"
    cells = [[_cell(row[key]) for key in rows[0]] for row in rows]
    header = list(rows[0])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [header, ["-" * w for w in widths], *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "never" if value == math.inf else "-"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _plain(value: object) -> object:
    """``value`` for strict JSON: a figure that is infinite (never reached) or absent is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def headline(rows: list[dict]) -> str:
    """The figures the targets are set on: ours against Optuna alone and the Ray docs style."""
    by = {row["contender"]: row for row in rows}
    ours, docs = (
        by.get(compare.CONTENDERS["ours"].label),
        by.get(compare.CONTENDERS["ray-docs"].label),
    )
    if ours is None or "wall_ratio" not in ours:
        return ""
    parts = [f"wall ratio ours/Optuna alone {ours['wall_ratio']:.2f}",
             f"quality ratio {ours['quality_ratio']:.2f}",
             f"first result {ours['first_result_s']:.1f} s",
             f"Optuna alone's quality (same seed) at {_cell(ours['to_target_s'])} s"]  # fmt: skip
    if docs is not None:
        parts.append(f"wall ratio ours/Ray docs style {ours['wall_s'] / docs['wall_s']:.2f}")
    return "; ".join(parts)


def _names(text: str, valid: dict, kind: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")
    return names


def _seeds(text: str) -> list[int]:
    seeds = [part.strip() for part in text.split(",") if part.strip()]
    if not seeds or not all(seed.isdigit() for seed in seeds):
        raise argparse.ArgumentTypeError(f"expected seeds such as 0,1,2, got {text!r}")
    return [int(seed) for seed in seeds]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short version of every section")
    parser.add_argument(
        "--seeds", type=_seeds, default=None, help="compare, asha: sweep seeds (0,1,2; quick: 0)"
    )
    parser.add_argument(
        "--sections",
        default=",".join([COMPARE, *(s for s in SECTIONS if s not in OPT_IN)]),
        help=f"comma-separated sections ({', '.join(OPT_IN)}: only when named)",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="compare, asha: comma-separated workloads"
    )
    parser.add_argument(
        "--trials", type=_positive, default=None,
        help="compare: trials per sweep (the workload's; quick: 8)",
    )  # fmt: skip
    parser.add_argument(
        "--contenders", default=",".join(compare.CONTENDERS), help="compare: comma-separated"
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks.json"), help="output file")
    parser.add_argument(
        "--plots", type=Path, default=Path("."), help="folder of the anytime plots (WORKLOAD.png)"
    )
    args = parser.parse_args(argv)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    try:
        chosen = _names(args.sections, {COMPARE: None, **SECTIONS}, "section")
        workloads = args.workload_names = _names(args.workloads, WORKLOADS, "workload")
        args.contenders = _names(args.contenders, compare.CONTENDERS, "contender")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = {"machine": machine(), "quick": args.quick, "seeds": args.seeds}
    print(" ".join(f"{k}={v}" for k, v in report["machine"].items()), flush=True)
    log = lambda line: print(line, flush=True)  # noqa: E731
    for name in chosen:
        if name == COMPARE:
            report[name] = {}
            for workload in workloads:
                report[name][workload] = _compare(args, workload, log)
                _write(args.json, report)
            continue
        print(f"\n== {name} ==", flush=True)
        report[name] = SECTIONS[name](args, log)
        print(table(report[name]), flush=True)
        _write(args.json, report)
    print(f"\nfigures: {args.json}")
    return 0


def _write(path: Path, report: dict) -> None:
    """The figures so far: a section that fails later loses none of the earlier ones."""
    path.write_text(json.dumps(_plain(report), indent=2))


def _compare(args: argparse.Namespace, name: str, log: Callable[[str], None]) -> dict:
    workload = WORKLOADS[name].sized(args.quick, args.trials)
    print(f"\n== {COMPARE}: {name} ({workload.num_trials} trials of up to "
          f"{workload.max_epochs} epochs, seeds {args.seeds}) ==", flush=True)  # fmt: skip
    figures = compare.run(workload, args.seeds, log, args.contenders)
    print(table(figures["rows"]), flush=True)
    if line := headline(figures["rows"]):
        print(line, flush=True)
    args.plots.mkdir(parents=True, exist_ok=True)
    print(f"anytime plot: {plots.anytime(name, figures, args.plots / f'{name}.png')}", flush=True)
    return figures


if __name__ == "__main__":
    sys.exit(main())
