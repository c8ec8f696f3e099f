"""Fault-injection tests: a finished sweep to abuse, and the figures each test reports.

Each test records what it injected and what it saw with ``figures.record(...)``; the lines are
printed in pytest's terminal summary, so a CI log shows them without ``-s``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from sweeps.run import main

sys.path.insert(0, str(Path(__file__).parent))  # soak.py is a command as well as a module
from soak import SweepProcess

RECORDED: list[str] = []

SPACE = """params:
  optimizer: {type: categorical, choices: [sgd, adam]}
  lr: {type: float, low: 1.0e-3, high: 0.1, log: true}
  activation: {type: categorical, choices: [relu, tanh]}
"""


class Figures:
    def record(self, test: str, **figures: object) -> None:
        RECORDED.append(f"{test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter) -> None:
    if RECORDED:
        terminalreporter.section("reliability figures")
        for line in RECORDED:
            terminalreporter.write_line(line)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a digest of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def snapshot():
    return _snapshot


@pytest.fixture(scope="session")
def finished_sweep(ray_cluster, tmp_path_factory):
    """A finished 2-trial sweep over a YAML space: (storage, name, space file)."""
    storage = tmp_path_factory.mktemp("reliability")
    space = storage / "space.yaml"
    space.write_text(SPACE)
    args = ["--space", str(space), "--num-trials", "2", "--max-epochs", "2", "--hidden", "16"]
    assert main(["--name", "done", "--storage", str(storage), *args]) == 0
    return storage, "done", space


@pytest.fixture
def sweep_process(tmp_path):
    """Start sweeps.run subprocesses; each is killed with its session at teardown."""
    started: list[SweepProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> SweepProcess:
        started.append(SweepProcess(list(args), tmp_path / "sweep.log", env))
        return started[-1]

    yield start
    for process in started:
        process.kill()


class Faults:
    """A plan of faults for the trial workers of a sweep subprocess (see ``faults.py``)."""

    def __init__(self, markers: Path) -> None:
        self.markers = markers
        markers.mkdir()

    def env(
        self, start_delay_s: float = 0, every: dict | None = None, **trials: dict | None
    ) -> dict[str, str]:
        """Environment for ``python -m sweeps.run`` whose Ray workers inject ``trials``
        (``t0={"kind": "raise", "epoch": 3, "times": 2}``: trial index 0 raises at epoch 3,
        twice; ``t0=None``: none) and ``every`` into every other trial, through the job runtime
        env the way ``ray job submit`` passes it; ``start_delay_s`` delays the start of every
        second worker process."""
        planned = {name.removeprefix("t"): fault for name, fault in trials.items()}
        plan = {
            "markers": str(self.markers),
            "trials": {**({"*": every} if every else {}), **planned},
            "start_delay_s": start_delay_s,
        }
        # The hook runs before Ray gives a worker the driver's sys.path: both go on PYTHONPATH.
        here, repo = Path(__file__).parent, Path(__file__).parents[2]
        path = [str(here), str(repo), os.environ.get("PYTHONPATH")]
        runtime_env = {"worker_process_setup_hook": "faults.install"}
        return {
            "SWEEPS_TEST_FAULTS": json.dumps(plan),
            "RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"runtime_env": runtime_env}),
            "PYTHONPATH": os.pathsep.join(filter(None, path)),
        }

    def injected(self, trial_index: int) -> list[int]:
        """For each fault injected into a trial, the epoch its run had reached then."""
        return [int(p.read_text()) for p in sorted(self.markers.glob(f"trial{trial_index}-*"))]


@pytest.fixture
def faults(tmp_path) -> Faults:
    return Faults(tmp_path / "fault-markers")
