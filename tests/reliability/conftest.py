"""Fault-injection tests: a finished sweep to abuse, and the figures each test reports.

Each test records what it injected and what it saw with ``figures.record(...)``; the lines are
printed in pytest's terminal summary, so a CI log shows them without ``-s``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sweeps.run import main

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
