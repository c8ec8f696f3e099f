"""Bad input next to a finished sweep: one clear line, exit code 2, and the sweep untouched."""

from __future__ import annotations

import pickle

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sweeps.run import main
from sweeps.space import SweepSpace


def write(path, text):
    path.write_text(text)
    return str(path)


def one_class_table(tmp):
    path = tmp / "one_class.parquet"
    pq.write_table(pa.table({"x": [float(i) for i in range(20)], "y": ["a"] * 20}), path)
    return str(path)


SECRET = "wJalrXUtnFEMI-K7MDENG"
NEGATIVE_LR = "params:\n  lr: {type: float, low: -1, high: 1}\n"
LBFGS = "params:\n  optimizer: {type: categorical, choices: [sgd, lbfgs]}\n"

# case: (extra arguments given a scratch folder, text the error line must contain)
NEW_SWEEP = {
    "batch size 0": (lambda t: ["--batch-size", "0"], "batch_size"),
    "negative epochs": (lambda t: ["--max-epochs", "-1"], "max_epochs"),
    "grace period past max epochs": (
        lambda t: ["--max-epochs", "3", "--grace-period", "5"],
        "grace_period (5) exceeds max_epochs (3)",
    ),
    "reduction factor 1": (lambda t: ["--reduction-factor", "1"], "reduction_factor"),
    "hidden sizes not numbers": (lambda t: ["--hidden", "a,b"], "hidden"),
    "unknown flag": (lambda t: ["--num-trial", "3"], "did you mean --num-trials"),
    "unknown YAML key": (
        lambda t: ["--config", write(t / "c.yaml", "num_trails: 3\n")],
        "did you mean 'num_trials'",
    ),
    "bad YAML value": (lambda t: ["--config", write(t / "c.yaml", "seed: -1\n")], "seed"),
    "YAML syntax": (lambda t: ["--config", write(t / "c.yaml", "seed: [1\n")], "YAML syntax"),
    "space lr range": (lambda t: ["--space", write(t / "s.yaml", NEGATIVE_LR)], "lr"),
    "space unknown optimizer": (lambda t: ["--space", write(t / "s.yaml", LBFGS)], "lbfgs"),
    "missing data file": (lambda t: ["--dataset", str(t / "no.csv"), "--label", "y"], "not found"),
    "unreadable data file": (
        lambda t: ["--dataset", write(t / "x.parquet", "not parquet"), "--label", "y"],
        "cannot read dataset",
    ),
    "empty data file": (
        lambda t: ["--dataset", write(t / "empty.csv", ""), "--label", "y"],
        "Empty CSV file",
    ),
    "one-class label": (lambda t: ["--dataset", one_class_table(t), "--label", "y"], "one class"),
    "storage not writable": (
        lambda t: ["--storage", str(t / write(t / "file", "x") / "runs")],
        "is not writable",
    ),
    "secret in a storage URI": (
        lambda t: ["--storage", f"s3://bucket/runs?access_key=AKIA&secret_key={SECRET}"],
        "credentials in a URI",
    ),
    "password in a dataset URI": (
        lambda t: ["--dataset", f"s3://user:{SECRET}@bucket/d.parquet", "--label", "y"],
        "credentials in a URI",
    ),
    "name with a path": (lambda t: ["--name", "../escape"], "invalid sweep name"),
    "absolute name": (lambda t: ["--name", "/tmp/escape"], "invalid sweep name"),
    "name with odd characters": (lambda t: ["--name", "a b;c"], "invalid sweep name"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", NEW_SWEEP)
def test_bad_input_exits_2_and_leaves_the_sweep_folder_alone(
    case, finished_sweep, snapshot, tmp_path, capsys, figures
):
    storage, name, _ = finished_sweep
    before, sweeps_before = snapshot(storage / name), sorted(p.name for p in storage.iterdir())
    make_args, expected = NEW_SWEEP[case]
    code = main(["--storage", str(storage), "--name", "fresh", *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected in err and SECRET not in err
    assert snapshot(storage / name) == before
    assert sorted(p.name for p in storage.iterdir()) == sweeps_before
    figures.record(f"bad input [{case}]", exit_code=code, files_changed=0)


RESUME = {
    "resume of a sweep that does not exist": (["--name", "ghost"], "no sweep 'ghost' to resume"),
    "resume with a changed option": (["--name", "done", "--seed", "7"], "seed differs"),
    "resume with fewer trials": (["--name", "done", "--num-trials", "1"], "can only grow"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", RESUME)
def test_bad_resume_exits_2_and_leaves_the_sweep_folder_alone(
    case, finished_sweep, snapshot, capsys, figures
):
    storage, name, _ = finished_sweep
    before = snapshot(storage / name)
    args, expected = RESUME[case]
    assert main(["--storage", str(storage), "--resume", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert snapshot(storage / name) == before
    figures.record(f"bad input [{case}]", exit_code=2, files_changed=0)


@pytest.mark.slow
def test_resume_after_the_search_space_file_was_edited_is_refused(
    finished_sweep, snapshot, capsys, figures
):
    storage, name, space = finished_sweep
    before, original = snapshot(storage / name), space.read_text()
    space.write_text(original.replace("[sgd, adam]", "[sgd, adam, rmsprop]"))
    try:
        assert main(["--storage", str(storage), "--name", name, "--resume"]) == 2
    finally:
        space.write_text(original)
    err = capsys.readouterr().err
    assert f"search space file {space} changed since sweep 'done' started" in err
    assert snapshot(storage / name) == before
    figures.record("bad input [edited search space on resume]", exit_code=2, files_changed=0)


def test_a_resumed_searcher_keeps_the_space_it_started_with(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  optimizer: {type: categorical, choices: [sgd]}\n")
    pickled = pickle.dumps(SweepSpace(str(space)))
    space.write_text("params:\n  optimizer: {type: categorical, choices: [adam]}\n")
    restored = pickle.loads(pickled)
    trial = optuna.create_study().ask()
    restored(trial)
    assert trial.params == {"optimizer": "sgd"}
