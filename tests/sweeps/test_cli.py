"""Bad input: one clear line on stderr and exit code 2, before Ray starts, nothing lost."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sweeps import config, run
from sweeps.config import SweepConfig


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if the CLI gets as far as starting Ray."""

    def forbidden(cfg, runtime_env):
        raise AssertionError("Ray was started for bad input")

    monkeypatch.setattr(run, "ray_session", forbidden)


def space_file(tmp_path, body):
    path = tmp_path / "space.yaml"
    path.write_text("params:\n" + body)
    return str(path)


def labelled_table(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x1": [0.1 * i for i in range(20)], "y": ["a", "b"] * 10}), path)
    return str(path)


CASES = {
    "unknown optimizer": (
        lambda t: [
            "--space",
            space_file(t, "  optimizer: {type: categorical, choices: [sgd, adamm]}\n"),
        ],
        "adamm",
    ),
    "unknown activation": (
        lambda t: [
            "--space",
            space_file(t, "  activation: {type: categorical, choices: [relu, swish]}\n"),
        ],
        "swish",
    ),
    "lr not positive": (
        lambda t: ["--space", space_file(t, "  lr: {type: float, low: 0.0, high: 0.1}\n")],
        "lr",
    ),
    "gamma above one": (
        lambda t: ["--space", space_file(t, "  gamma: {type: float, low: 0.9, high: 1.5}\n")],
        "gamma",
    ),
    "unknown space": (lambda t: ["--space", "defualt"], "did you mean 'default'"),
    "unknown dataset": (lambda t: ["--dataset", "mnist"], "unknown dataset 'mnist'"),
    "missing data file": (
        lambda t: ["--dataset", str(t / "nope.csv"), "--label", "y"],
        "not found",
    ),
    "missing label column": (
        lambda t: ["--dataset", labelled_table(t), "--label", "target"],
        "label column 'target' not in",
    ),
    "unknown flag": (lambda t: ["--max-epoch", "3"], "did you mean --max-epochs"),
    "bad number": (lambda t: ["--batch-size", "0"], "batch_size"),
    "unknown sampler": (
        lambda t: ["--sampler", "foo"],
        "sampler: unknown sampler 'foo'; valid: tpe, gp, random, auto",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys, no_ray):
    make_args, expected = CASES[case]
    code = run.main(["--storage", str(tmp_path / "runs"), *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # nothing written before the input was checked


def test_storage_that_cannot_be_created_is_refused(tmp_path, capsys, no_ray):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run.main(["--storage", str(blocker / "runs")]) == 2
    assert "is not writable" in capsys.readouterr().err


@pytest.mark.slow
def test_more_gpus_per_trial_than_the_cluster_has_is_refused(ray_cluster, tmp_path, capsys):
    code = run.main(["--storage", str(tmp_path), "--name", "gpu", "--gpus-per-trial", "0.5"])
    assert code == 2
    assert "--gpus-per-trial 0.5 but the Ray cluster has 0 GPUs" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists()


def test_resume_of_a_missing_sweep_lists_existing_ones(tmp_path, capsys, no_ray):
    (tmp_path / "runs" / "earlier").mkdir(parents=True)
    code = run.main(["--storage", str(tmp_path / "runs"), "--name", "later", "--resume"])
    assert code == 2
    assert "no sweep 'later' to resume" in capsys.readouterr().err


def test_resume_of_a_sweep_whose_saved_config_is_unreadable_is_refused(tmp_path, capsys, no_ray):
    (tmp_path / "early").mkdir()
    (tmp_path / "early" / "sweep.json").write_text('{"num_trials": "many"')
    assert run.main(["--storage", str(tmp_path), "--name", "early", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: sweep 'early' has an unreadable sweep.json")
    assert err.count("\n") == 1 and err.endswith("\n")


def test_resume_keeps_the_sweeps_sampler_and_refuses_another(tmp_path, capsys, no_ray):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(
        SweepConfig(name="s", sampler="gp").model_dump_json()
    )
    resume = ["--storage", str(tmp_path), "--name", "s", "--resume"]
    assert run.prepare(config.parse(resume)).cfg.sampler == "gp"
    assert run.main([*resume, "--sampler", "tpe"]) == 2
    assert capsys.readouterr().err == (
        "error: --resume continues sweep 's' as it was started; "
        "sampler differs ('gp' there, 'tpe' now)\n"
    )


def test_resume_may_turn_fail_fast_off_and_keeps_it_otherwise(tmp_path, no_ray):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_text(SweepConfig(name="s", fail_fast=2).model_dump_json())
    resume = ["--storage", str(tmp_path), "--name", "s", "--resume"]
    assert run.prepare(config.parse(resume)).cfg.fail_fast == 2
    assert run.prepare(config.parse([*resume, "--fail-fast", "0"])).cfg.fail_fast == 0


def test_the_real_cli_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.run", "--dataset", "mnist", "--storage", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown dataset 'mnist'; valid: digits, digit_images, synthetic, "
        "a .parquet/.csv/.feather/.arrow file with --label, "
        "or a loader: package.module:attr or path/to/file.py:attr"
    ]


def test_help_documents_every_option():
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.run", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for flag in ("--num-trials", "--gpus-per-trial", "--resume", "--smoke", "--address"):
        assert flag in proc.stdout
