"""A short run of the benchmark suite: every contender runs and the output is well formed.

No timing is asserted here; the figures belong to ``python -m benchmarks`` (see the README).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from benchmarks import compare, plots
from benchmarks.__main__ import headline, main, table

LABELS = [contender.label for contender in compare.CONTENDERS.values()]


@pytest.mark.slow
def test_quick_suite_prints_a_table_per_section_and_writes_the_figures(tmp_path):
    out = tmp_path / "figures.json"
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--trials", "4", "--workloads", "reference",
         "--sections", "compare,loop,checkpoint", "--json", str(out), "--plots", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())  # strict JSON: never-reached figures are null
    assert {"torch", "ray", "optuna", "cpus", "date"} <= set(figures["machine"])

    reference = figures["compare"]["reference"]
    assert [row["contender"] for row in reference["rows"]] == LABELS
    assert reference["target_val_loss"] == next(
        row["best_val_loss"] for row in reference["rows"] if row["contender"].startswith("Optuna")
    )
    for row in reference["rows"]:
        assert row["trials"] == 4
        assert 0 < row["epochs"] <= 4 * 8 + 3 * 3 * 8  # search, and confirmation's 3 x 3 runs
        assert 0 < row["first_result_s"] < row["wall_s"]
        assert 0 < row["test_acc"] <= 1 and row["best_val_loss"] > 0
        assert row["wall_ratio"] > 0 and row["quality_ratio"] > 0
        assert row["to_target_s"] is None or row["first_result_s"] <= row["to_target_s"]
        assert row["driver_rss_mb"] > 0 and row["worker_rss_mb"] > 0
    by_label = {row["contender"]: row for row in reference["rows"]}
    assert by_label["random search, no pruning"]["epochs"] == 4 * 8  # every trial to the end
    assert by_label["Optuna alone (TPE + SHA)"]["wall_ratio"] == 1
    for run in reference["runs"]:  # every run's curve: best so far, falling, within its wall time
        times = [at for at, _ in run["best_so_far"]]
        bests = [best for _, best in run["best_so_far"]]
        assert times == sorted(times) and times[0] > 0 and times[-1] <= run["wall_s"]
        assert bests == sorted(bests, reverse=True) and bests[-1] == run["best_val_loss"]
    assert (tmp_path / "reference.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wall ratio ours/Optuna alone" in proc.stdout

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

    for section in ("loop", "checkpoint"):
        assert f"== {section} ==" in proc.stdout and table(figures[section]) in proc.stdout


def test_the_dataset_path_trains_on_the_rows_of_the_resident_path():
    from benchmarks.sections import DIGITS_DATASET
    from trainable.data import DatasetSplit, load

    resident, on_dataset = load("digits", seed=0), load(DIGITS_DATASET, seed=0)
    assert isinstance(on_dataset, DatasetSplit) and on_dataset.facts == resident.facts
    for part in ("train", "val"):
        labels = [int(y) for _, y in getattr(on_dataset, part)]
        assert labels == getattr(resident, f"y_{part}").tolist()


def test_a_run_becomes_its_best_so_far_curve_from_the_command_start():
    result = {"started_at": 100.0, "wall_s": 9.0, "curve": [
        (104.0, 2.0), (104.5, float("nan")), (105.0, 2.5), (106.0, 1.0), (107.0, 1.5),
    ]}  # fmt: skip
    run = compare.anytime(result)
    assert run["first_result_s"] == 4.0 and run["best_val_loss"] == 1.0
    assert run["best_so_far"] == [(4.0, 2.0), (6.0, 1.0)]
    assert compare.reached(run["best_so_far"], 1.5) == 6.0
    assert compare.reached(run["best_so_far"], 0.5) == math.inf
    assert math.isnan(compare.reached(run["best_so_far"], None))


def test_the_headline_compares_ours_with_optuna_alone_and_the_ray_docs_style():
    def row(name: str, wall: float, **more: float) -> dict:
        return {"contender": compare.CONTENDERS[name].label, "wall_s": wall, **more}

    ours = row("ours", 30.0, wall_ratio=1.5, quality_ratio=0.9, first_result_s=6.0,
               to_target_s=math.inf)  # fmt: skip
    line = headline([ours, row("optuna", 20.0), row("ray-docs", 60.0)])
    assert line == (
        "wall ratio ours/Optuna alone 1.50; quality ratio 0.90; first result 6.0 s; "
        "Optuna alone's quality (same seed) at never s; wall ratio ours/Ray docs style 0.50"
    )
    assert headline([row("optuna", 20.0)]) == ""


def test_the_anytime_plot_draws_every_run(tmp_path):
    figures = {"target_val_loss": 0.5, "runs": [
        {"contender": name, "seed": seed, "wall_s": 10.0 + seed,
         "best_so_far": [(3.0 + seed, 2.0), (5.0, 0.4 + seed / 10)]}
        for name in ("ours", "optuna") for seed in (0, 1)
    ] + [{"contender": "random", "seed": 0, "wall_s": 4.0, "best_so_far": []}]}  # fmt: skip
    path = plots.anytime("reference", figures, tmp_path / "reference.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_table_aligns_columns_and_spells_out_what_was_never_reached():
    text = table([{"a": 1.23456, "name": "x"}, {"a": 12345.6, "name": "longer"},
                  {"a": math.inf, "name": "z"}])  # fmt: skip
    assert text.splitlines() == [
        "a      name", "-----  ------", "1.23   x", "12346  longer", "never  z",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sections", "loop,bogus"], "unknown section 'bogus'"),
        (["--workloads", "huge"], "unknown workload 'huge'; valid: reference, medium, large"),
        (["--contenders", "ours,bogus"], "unknown contender 'bogus'; valid: ours, ours-search,"),
    ],
)
def test_an_unknown_name_is_refused_with_the_valid_ones(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_compare_runs_the_chosen_contenders_with_the_chosen_trials(tmp_path):
    out = tmp_path / "figures.json"
    args = ["--quick", "--sections", "compare", "--contenders", "random,optuna", "--trials", "3"]
    args += ["--workloads", "reference", "--json", str(out), "--plots", str(tmp_path)]
    assert main(args) == 0
    rows = json.loads(out.read_text())["compare"]["reference"]["rows"]
    assert [row["contender"] for row in rows] == [
        "random search, no pruning", "Optuna alone (TPE + SHA)",
    ]  # fmt: skip
    assert [row["trials"] for row in rows] == [3, 3]
    assert rows[0]["epochs"] == 3 * 8  # the quick workload's 8 epochs, every trial to the end


def test_ratios_and_the_target_pair_each_run_with_optuna_alones_of_the_same_seed(monkeypatch):
    # Seed 0's split has losses near 0.1, seed 1's near 0.03: ours is better on both, which
    # a ratio of the medians over seeds (0.09 / 0.05 > 1 here) would hide.
    figures = {("ours", 0): (20.0, 0.09), ("ours", 1): (30.0, 0.029),
               ("optuna", 0): (10.0, 0.1), ("optuna", 1): (10.0, 0.03)}  # fmt: skip

    def fake(name: str) -> compare.Contender:
        def run(out, workload) -> dict:
            wall, best = figures[name, workload.seed]
            return {"started_at": 100.0, "curve": [(102.0, 1.0), (100.0 + wall / 2, best)],
                    "wall_s": wall, "trials": 2, "epochs": 4, "test_acc": 0.9,
                    "compute_s": 1.0, "driver_rss_mb": 1.0, "worker_rss_mb": 1.0}  # fmt: skip

        return compare.Contender(name, run)

    monkeypatch.setattr(compare, "CONTENDERS", {name: fake(name) for name in ("ours", "optuna")})
    monkeypatch.setattr(compare, "BASELINE", "optuna")
    from benchmarks.workload import WORKLOADS

    result = compare.run(WORKLOADS["reference"], [0, 1], lambda line: None, ["ours", "optuna"])
    ours = next(row for row in result["rows"] if row["contender"] == "ours")
    assert ours["quality_ratio"] == pytest.approx((0.9 + 29 / 30) / 2)
    assert ours["wall_ratio"] == pytest.approx(2.5)  # 2 and 3
    assert ours["to_target_s"] == pytest.approx(12.5)  # each seed's Optuna best at wall / 2
    assert result["target_val_loss"] == pytest.approx(0.065)  # the plot's line: the median


def test_the_asha_section_pairs_each_setting_with_the_shipped_one_of_the_same_seed(monkeypatch):
    from benchmarks import sections

    def fake(*flags: str):
        patience = int(flags[flags.index("--patience") + 1])

        def run(out, workload) -> dict:
            setting = (workload.grace_period, workload.reduction_factor, patience)
            shipped = setting == sections.ASHA_SETTINGS[0]
            best = (0.1 if workload.seed == 0 else 0.03) * (1.0 if shipped else 0.9)
            return {"started_at": 0.0, "curve": [(1.0, 1.0), (5.0, best)], "wall_s": 10.0,
                    "epochs": 8, "test_acc": 0.9}  # fmt: skip

        return run

    monkeypatch.setattr(compare, "ours", fake)
    rows = sections.asha(["reference"], [0, 1], True, lambda line: None)
    assert [(r["grace"], r["rf"], r["patience"]) for r in rows] == sections.ASHA_SETTINGS
    assert rows[0]["quality_ratio"] == 1 and rows[0]["wall_ratio"] == 1
    assert all(r["quality_ratio"] == pytest.approx(0.9) for r in rows[1:])
    assert all(r["to_target_s"] == 5.0 for r in rows)
