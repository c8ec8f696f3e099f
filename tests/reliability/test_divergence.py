"""Trials whose loss turns NaN/inf end as `diverged` without crashing the sweep; with no usable
model the sweep exits 1."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from sweeps.run import main

pytestmark = pytest.mark.slow

EXPLODING = """params:
  optimizer: {type: categorical, choices: [sgd]}
  lr: {type: float, low: 1.0e+20, high: 1.0e+30, log: true}
  activation: {type: categorical, choices: [relu]}
"""


def test_diverging_trials_are_pruned_and_the_sweep_finishes_with_exit_1(
    ray_cluster, tmp_path, capsys, figures
):
    space = tmp_path / "exploding.yaml"
    space.write_text(EXPLODING)
    args = ["--space", str(space), "--num-trials", "2", "--max-epochs", "4", "--hidden", "16"]
    assert main(["--name", "boom", "--storage", str(tmp_path), *args]) == 1  # no usable model
    trials = pq.read_table(tmp_path / "boom" / "trials.parquet").to_pylist()
    assert [(t["status"], t["stop_reason"]) for t in trials] == [("PRUNED", "diverged")] * 2
    assert all(t["epochs"] < 4 for t in trials)
    assert not (tmp_path / "boom" / "best.json").exists()
    assert (
        "No trial reached a finite validation loss"
        in (tmp_path / "boom" / "report.html").read_text()
    )
    assert "No trial produced a usable model." in capsys.readouterr().out
    figures.record(
        "NaN/inf loss", faults_injected=len(trials), trials_finished=len(trials),
        ended_as="diverged", sweep_exit_code=1,
    )  # fmt: skip
