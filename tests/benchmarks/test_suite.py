"""A short run of the benchmark suite: it runs every contender and prints well-formed tables.

No timing is asserted here; the figures belong to ``python -m benchmarks`` (see the README).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from benchmarks.__main__ import table

pytestmark = pytest.mark.slow


def test_quick_suite_prints_a_table_per_section_and_writes_the_figures(tmp_path):
    out = tmp_path / "figures.json"
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--sections", "compare,loop,checkpoint",
         "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert {"torch", "ray", "optuna", "cpus", "date"} <= set(figures["machine"])

    contenders = figures["compare"]
    assert [row["contender"] for row in contenders] == [
        "sweeps (ours, defaults)", "Optuna alone (TPE + SHA)", "Ray Tune docs style",
        "random search, no pruning",
    ]  # fmt: skip
    for row in contenders:
        assert row["trials"] == 8
        assert 0 < row["epochs"] <= 8 * 8
        assert row["wall_s"] > 0 and row["compute_s"] > 0 and row["overhead"] > 0
        assert 0 < row["test_acc"] <= 1 and row["best_val_loss"] > 0
        assert row["driver_rss_mb"] > 0 and row["worker_rss_mb"] > 0
    random_search = contenders[3]
    assert random_search["epochs"] == 8 * 8  # no pruning: every trial to its last epoch

    loops = {row["loop"]: row for row in figures["loop"]}
    assert list(loops) == [
        "ours (trainable.loop)", "hand-written slicing", "DataLoader", "TrainingRun, resident",
        "TrainingRun, Dataset", "DataLoader, Dataset",
    ]  # fmt: skip
    assert [row["vs"] for row in loops.values()] == [
        *["hand-written slicing"] * 3, "TrainingRun, Dataset", *["DataLoader, Dataset"] * 2,
    ]  # fmt: skip
    assert [row["epoch"] for row in loops.values()] == ["train"] * 3 + ["train + validate"] * 3
    for row in loops.values():
        assert row["epoch_ms"] > 0
        assert row["ratio"] == pytest.approx(row["epoch_ms"] / loops[row["vs"]]["epoch_ms"])
    sizes = [row["weights_mb"] for row in figures["checkpoint"]]
    assert sizes[0] < 1 and 45 < sizes[1] < 55

    for section in ("compare", "loop", "checkpoint"):
        assert f"== {section} ==" in proc.stdout and table(figures[section]) in proc.stdout


def test_the_dataset_path_trains_on_the_rows_of_the_resident_path():
    from benchmarks.sections import DIGITS_DATASET
    from trainable.data import DatasetSplit, load

    resident, on_dataset = load("digits", seed=0), load(DIGITS_DATASET, seed=0)
    assert isinstance(on_dataset, DatasetSplit) and on_dataset.facts == resident.facts
    for part in ("train", "val"):
        labels = [int(y) for _, y in getattr(on_dataset, part)]
        assert labels == getattr(resident, f"y_{part}").tolist()


def test_table_aligns_columns():
    text = table([{"a": 1.23456, "name": "x"}, {"a": 12345.6, "name": "longer"}])
    assert text.splitlines() == ["a      name", "-----  ------", "1.23   x", "12346  longer"]


def test_an_unknown_section_is_refused(capsys):
    from benchmarks.__main__ import main

    assert main(["--sections", "loop,bogus"]) == 2
    assert "unknown section 'bogus'" in capsys.readouterr().err


def test_compare_runs_the_chosen_contenders_with_the_chosen_trials(tmp_path):
    from benchmarks.__main__ import main

    out = tmp_path / "figures.json"
    args = ["--quick", "--sections", "compare", "--contenders", "random,optuna", "--trials", "3"]
    assert main([*args, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["compare"]
    assert [row["contender"] for row in rows] == [
        "random search, no pruning", "Optuna alone (TPE + SHA)",
    ]  # fmt: skip
    assert [row["trials"] for row in rows] == [3, 3]
    assert rows[0]["epochs"] == 3 * 8  # the quick workload's 8 epochs, every trial to the end


def test_an_unknown_contender_is_refused(capsys):
    from benchmarks.__main__ import main

    assert main(["--sections", "compare", "--contenders", "ours,bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown contender 'bogus'" in err and "ours, optuna, ray-docs, random" in err
