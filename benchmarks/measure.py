"""Run a contender as its own process group and measure wall time and peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    started_at: float  # Unix time just before the command started: the curves' zero
    wall_s: float
    driver_rss_mb: float  # peak resident memory of the contender's main process
    worker_rss_mb: float  # the largest peak among its trial workers (Ray actors or processes)
    output: str


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (Ray's workers are the raylet's children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _is_worker(pid: int) -> bool:
    """Ray renames trial workers ``ray::<class or function>``; our baselines tag theirs."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return argv[0].startswith(b"ray::") or b"--worker" in argv


REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], out: Path, timeout: float = 1800) -> Measured:
    """``python -m <args>`` from the repository, its output in ``out``.

    Peak memory (VmHWM) of the process and its descendants is sampled every 50 ms.
    """
    log = out / "output.log"
    started_at = time.time()
    started = time.perf_counter()
    with log.open("w") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )  # fmt: skip
        driver = worker = 0.0
        while proc.poll() is None:
            if time.perf_counter() - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"{args[0]} ran past {timeout}s; see {log}")
            for pid in _descendants(proc.pid):
                try:
                    peak = _peak_rss_mb(pid)
                    if pid == proc.pid:
                        driver = max(driver, peak)
                    elif _is_worker(pid):
                        worker = max(worker, peak)
                except (OSError, ValueError):
                    continue
            time.sleep(0.05)
    wall = time.perf_counter() - started
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{text[-2000:]}")
    return Measured(started_at, wall, driver, worker, text)
