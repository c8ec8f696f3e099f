"""Bad input: one clear line and exit code 2, before Ray starts and before anything is written.

Next to a finished sweep, that sweep is left untouched; a user's model, data or space that
cannot train is found in the driver, and named with the user's file:line where it raised.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import optuna
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from search_spaces import Vocabulary
from sweeps import run
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
    pickled = pickle.dumps(SweepSpace(str(space), Vocabulary.of("mlp")))
    space.write_text("params:\n  optimizer: {type: categorical, choices: [adam]}\n")
    restored = pickle.loads(pickled)
    trial = optuna.create_study().ask()
    restored(trial)
    assert trial.params == {"optimizer": "sgd"}


LOOP_SPACE = "params:\n  lr: {type: float, low: 1.0e-3, high: 0.1, log: true}\n"
DROPOUT_SPACE = "params:\n  dropout: {type: float, low: 0.0, high: 0.5}\n"
RAISING_NET = """\
class Net:
    def __init__(self, num_classes, width: int = 15):
        if width % 2:
            raise ValueError(f"width must be even, got {width}")
"""
NARROW_NET = """\
from torch import nn


def Net(num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
"""
DROPOUT_NET = "def Net(num_classes, dropout: float = 0.0):\n    return None\n"
TYPO_SPACE = "def space(trial):\n    trial.suggest_float('dropuot', 0.0, 0.5)\n"
RAISING_SPACE = """\
def space(trial):
    trial.suggest_float("lr", 1e-3, 0.1, log=True)
    raise RuntimeError("no space today")
"""
FLOAT_LABELS = """\
import numpy as np


def load():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)), rng.random(40)
"""


def code(tmp, name, source, attr):
    """The reference ``<tmp>/<name>.py:<attr>`` of a user's file with ``source``."""
    return f"{write(tmp / f'{name}.py', source)}:{attr}"


def users_model(tmp, name, source):
    """A user's model ``Net``, searched over a space any model takes."""
    return ["--model", code(tmp, name, source, "Net"), "--space", write(tmp / "s.yaml", LOOP_SPACE)]


# case: (arguments given a scratch folder, text the error line must contain; {t}: the folder)
USERS_CODE = {
    "model module not found": (
        lambda t: ["--model", "no_such_package_xyz.models:Net"],
        "model module 'no_such_package_xyz.models' not found",
    ),
    "model file not found": (
        lambda t: ["--model", f"{t}/no_such_model_xyz.py:Net"],
        "model file not found: {t}/no_such_model_xyz.py",
    ),
    "model attribute missing": (
        lambda t: ["--model", code(t, "misnamed_net", DROPOUT_NET, "Nett")],
        "misnamed_net has no attribute 'Nett'; it has: Net",
    ),
    "model attribute not callable": (
        lambda t: ["--model", code(t, "constant_net", "Net = 3\n", "Net")],
        "constant_net.py:Net' is an int, not a callable",
    ),
    "model factory raises": (
        lambda t: users_model(t, "raising_net", RAISING_NET),
        "model {t}/raising_net.py:Net raised ValueError: width must be even, got 15 "
        "({t}/raising_net.py:4)",
    ),
    "required parameter nothing supplies": (
        lambda t: users_model(t, "deep_net", "def Net(num_classes, depth):\n    return None\n"),
        "model {t}/deep_net.py:Net: nothing supplies its parameter 'depth'",
    ),
    "searched name neither takes": (
        lambda t: ["--space", write(t / "s.yaml", DROPOUT_SPACE)],
        "unknown hyperparameter 'dropout': neither the training loop nor model mlp takes it",
    ),
    "searched name the users model lacks": (
        lambda t: [
            *("--model", code(t, "dropout_net", DROPOUT_NET, "Net")),
            *("--space", code(t, "typo_space", TYPO_SPACE, "space")),
        ],
        "unknown hyperparameter 'dropuot': neither the training loop nor model "
        "{t}/dropout_net.py:Net takes it; did you mean 'dropout'?",
    ),
    "model_args the model does not take": (
        lambda t: ["--model", "cnn", "--dataset", "digit_images", "--model-args", "widht=3"],
        "model cnn takes no parameter 'widht' (set by model_args)",
    ),
    "unreadable model_args": (
        lambda t: ["--model-args", "width=64,dropout"],
        "model_args: cannot read 'width=64,dropout'",
    ),
    "hidden set twice": (
        lambda t: ["--hidden", "32", "--model-args", "hidden=[16]"],
        "hidden is set twice",
    ),
    "dataset returns a string": (
        lambda t: ["--dataset", code(t, "text_data", "def load():\n    return 'digits'\n", "load")],
        "dataset {t}/text_data.py:load: its value is a str; return (features, labels)",
    ),
    "labels not class indices": (
        lambda t: ["--dataset", code(t, "float_labels", FLOAT_LABELS, "load")],
        "labels must be class indices (a 1-D array of integers >= 0), got float64",
    ),
    "model output not one score per class": (
        lambda t: users_model(t, "narrow_net", NARROW_NET),
        "model {t}/narrow_net.py:Net gives shape (32, 3) for a batch of 32; it must give one "
        "score per class, shape (batch, num_classes) = (32, 10)",
    ),
    "cnn on flat data": (
        lambda t: ["--model", "cnn"],
        "model cnn raised ValueError: cnn needs image-shaped inputs",
    ),
    "unknown model name": (lambda t: ["--model", "mlpp"], "unknown model 'mlpp'; valid: mlp, cnn"),
    "space function raises": (
        lambda t: ["--space", code(t, "raising_space", RAISING_SPACE, "space")],
        "search space {t}/raising_space.py:space raised RuntimeError: no space today "
        "({t}/raising_space.py:3)",
    ),
}


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if the CLI gets as far as starting Ray."""

    def forbidden(cfg, runtime_env):
        raise AssertionError("Ray was started for bad input")

    monkeypatch.setattr(run, "ray_session", forbidden)


@pytest.fixture
def users_modules(tmp_path, monkeypatch):
    """Forget the user's files the test loaded (modules, and their folder on sys.path)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.mark.parametrize("case", USERS_CODE)
def test_users_code_that_cannot_train_exits_2_before_ray_starts(
    case, tmp_path, capsys, no_ray, users_modules, figures
):
    storage = tmp_path / "runs"
    make_args, expected = USERS_CODE[case]
    code = main(["--storage", str(storage), *make_args(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert expected.format(t=tmp_path) in err
    assert not storage.exists()  # nothing written, not even the storage folder
    figures.record(f"bad input [{case}]", exit_code=code, files_changed=0)


def test_the_real_cli_reports_a_raising_model_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.run", "--storage", str(tmp_path / "runs"),
         *users_model(tmp_path, "raising_net", RAISING_NET)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: model {tmp_path}/raising_net.py:Net raised ValueError: width must be even, "
        f"got 15 ({tmp_path}/raising_net.py:4)"
    ]
    assert proc.stdout == "" and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["hidden_size", "num_layers"])
def test_a_width_or_depth_below_one_of_the_mlp_exits_2(name, tmp_path, capsys, monkeypatch):
    def sweep(plan):
        raise AssertionError("the sweep started")

    monkeypatch.setattr(run, "run", sweep)
    space = write(tmp_path / "s.yaml", f"params:\n  {name}: {{type: int, low: -8, high: 64}}\n")
    assert main(["--storage", str(tmp_path / "runs"), "--space", space]) == 2
    assert name in capsys.readouterr().err
