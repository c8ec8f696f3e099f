"""``python -m benchmarks [--quick] [--repeats N] [--sections ...] [--trials N] [--contenders ...]
[--json FILE]``.

Prints one table per section and writes every figure, with the machine and versions, to a
JSON file. Figures are measured side by side in this one invocation; no target is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from benchmarks import compare, sections
from benchmarks.workload import Workload

SECTIONS: dict[str, Callable[[argparse.Namespace, Callable[[str], None]], list[dict]]] = {
    "compare": lambda a, log: compare.run(
        Workload().sized(a.quick, a.trials), a.repeats, log, a.contenders
    ),
    "loop": lambda a, log: sections.training_loop(a.quick),
    "checkpoint": lambda a, log: sections.checkpoint_cost(a.quick),
    "scale": lambda a, log: sections.scale(a.quick, log),
    "efficiency": lambda a, log: sections.sample_efficiency(a.quick, log),
}


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
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _names(text: str, valid: dict, kind: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown {kind} {name!r}; valid: {', '.join(valid)}")
    return names


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short version of every section")
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per contender (3; quick: 1)"
    )
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument(
        "--trials", type=_positive, default=None, help="compare: trials per sweep (32; quick: 8)"
    )
    parser.add_argument(
        "--contenders", default=",".join(compare.CONTENDERS), help="compare: comma-separated"
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks.json"), help="output file")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    try:
        chosen = _names(args.sections, SECTIONS, "section")
        args.contenders = _names(args.contenders, compare.CONTENDERS, "contender")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = {"machine": machine(), "quick": args.quick, "repeats": args.repeats}
    print(" ".join(f"{k}={v}" for k, v in report["machine"].items()), flush=True)
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        rows = SECTIONS[name](args, lambda line: print(line, flush=True))
        report[name] = rows
        print(table(rows), flush=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nfigures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
