"""Run a contender as its own process group and measure wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    wall_s: float
    driver_rss_mb: float  # peak resident memory of the contender's main process
    worker_rss_mb: float  # the largest peak among its trial workers (Ray actors or processes)
    output: str


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _is_worker(pid: int) -> bool:
    """Ray renames trial workers ``ray::<class or function>``; our baselines tag theirs."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return argv[0].startswith(b"ray::") or b"--worker" in argv


REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], out: Path, timeout: float = 1800) -> Measured:
    """``python -m <args>`` from the repository, in a new session, its output in ``out``.

    Peak memory is sampled every 50 ms.
    """
    log = out / "output.log"
    started = time.perf_counter()
    with log.open("w") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )  # fmt: skip
        driver = worker = 0.0
        while proc.poll() is None:
            if time.perf_counter() - started > timeout:
                proc.kill()
                raise TimeoutError(f"{args[0]} ran past {timeout}s; see {log}")
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                try:
                    if os.getpgid(pid) != proc.pid:
                        continue
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
    return Measured(wall, driver, worker, text)
