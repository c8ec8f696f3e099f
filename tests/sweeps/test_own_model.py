"""Sweeps over a user's own model, data and search space, through a real local Ray cluster.

The user's code lives in files written here (not in the repository): a CNN class, a loader
returning tensors, one returning a map-style Dataset, and spaces in YAML and in Python. Each
module has a name of its own, since a file is loaded as the module ``<file stem>``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import metadata

from sweeps.run import main
from sweeps.storage import SweepFolder, load_study
from trainable.run import TrainingRun

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
TINY = ["--max-epochs", "2", "--grace-period", "1", "--seed", "3"]

CNN = '''
from torch import nn


class OwnCNN(nn.Module):
    """For 1x8x8 images: one convolution, a 2x2 pool, a linear head."""

    def __init__(self, num_classes, width: int = 8, dropout: float = 0.0, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(1, width, kernel_size, padding=kernel_size // 2)
        self.head = nn.Sequential(
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(width * 4 * 4, num_classes),
        )

    def forward(self, x):
        return self.head(self.conv(x))
'''
CNN_SPACE = """params:
  lr: {type: float, low: 1.0e-3, high: 0.1, log: true}
  width: {type: int, low: 4, high: 12}
  dropout: {type: float, low: 0.0, high: 0.5}
  batch_size: {type: categorical, choices: [32, 64]}
"""
CNN_SEARCHED = ["lr", "width", "dropout", "batch_size"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def table(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def study_params(folder: Path) -> dict[int, dict]:
    study = load_study(SweepFolder.from_location(str(folder)))
    return {trial.number: trial.params for trial in study.trials}


def assert_tables_agree_with_the_study(folder: Path, searched: list[str], num_trials: int):
    """trials.parquet has a column per searched name holding what Optuna gave each trial, and
    epochs.parquet a row per epoch each trial ran."""
    trials, epochs = table(folder / "trials.parquet"), table(folder / "epochs.parquet")
    assert sorted(t["trial_index"] for t in trials) == list(range(num_trials))
    params = study_params(folder)
    for trial in trials:
        assert {name: trial[name] for name in params[trial["trial_index"]]} == (
            params[trial["trial_index"]]
        )
        rows = [e["epoch"] for e in epochs if e["trial_id"] == trial["trial_id"]]
        assert rows == list(range(1, trial["epochs"] + 1)) and rows
    assert set(searched) <= set(trials[0])
    assert len(epochs) == sum(t["epochs"] for t in trials)
    return trials


@pytest.fixture(scope="module")
def cnn_sweep(ray_cluster, tmp_path_factory):
    """The user's CNN on digit_images over a YAML space of its width and dropout and the
    loop's batch_size; its kernel_size fixed by ``model_args:`` in a --config file."""
    base = tmp_path_factory.mktemp("own-cnn")
    model = write(base, "own_cnn.py", CNN)
    space = write(base, "own_cnn_space.yaml", CNN_SPACE)
    options = write(base, "sweep.yaml", "model_args: {kernel_size: 5}\nnum_trials: 3\n")
    args = ["--config", str(options), "--model", f"{model}:OwnCNN", "--dataset", "digit_images"]
    args += ["--space", str(space), "--name", "cnn", "--storage", str(base), *TINY]
    assert main(args) == 0
    best = json.loads((base / "cnn" / "best.json").read_text())
    return {"folder": base / "cnn", "model": model, "best": best}


def test_the_users_hyperparameters_are_columns_holding_what_optuna_gave(cnn_sweep):
    trials = assert_tables_agree_with_the_study(cnn_sweep["folder"], CNN_SEARCHED, 3)
    for trial in trials:
        assert 4 <= trial["width"] <= 12 and isinstance(trial["width"], int)
        assert 0.0 <= trial["dropout"] <= 0.5
        assert trial["batch_size"] in (32, 64)


def test_best_json_names_the_users_model_by_its_absolute_file(cnn_sweep):
    best = cnn_sweep["best"]
    assert best["model"] == f"{cnn_sweep['model'].resolve()}:OwnCNN"
    assert best["model_args"] == {"kernel_size": 5}
    assert best["dataset"] == "digit_images"
    assert set(best["config"]) == set(CNN_SEARCHED)


def test_the_best_checkpoint_rebuilds_the_users_model_here(cnn_sweep):
    best = cnn_sweep["best"]
    run = TrainingRun.from_checkpoint(best["checkpoint"])
    model = run.model
    assert type(model).__name__ == "OwnCNN"
    assert Path(sys.modules[type(model).__module__].__file__) == cnn_sweep["model"].resolve()
    assert model.conv.out_channels == best["config"]["width"]
    assert model.conv.kernel_size == (5, 5)
    assert model.head[3].p == pytest.approx(best["config"]["dropout"])
    assert run.config.batch_size == best["config"]["batch_size"]
    tested = run.test()  # the same weights and data as the sweep's one test
    assert tested["test_loss"] == pytest.approx(best["test_loss"], rel=1e-5)
    assert tested["test_acc"] == pytest.approx(best["test_acc"])


def test_tensorboard_lists_the_users_hyperparameters(cnn_sweep):
    accumulator = ea.EventAccumulator(
        str(cnn_sweep["folder"] / "tensorboard"), size_guidance={ea.TENSORS: 0}
    ).Reload()
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    experiment = metadata.parse_experiment_plugin_data(content)
    infos = {info.name: info for info in experiment.hparam_infos}
    assert set(infos) == {*CNN_SEARCHED, "stop_reason"}  # and why each trial ended
    width = infos["width"].domain_interval
    assert (width.min_value, width.max_value) == (4, 12)
    assert list(infos["batch_size"].domain_discrete) == [32, 64]


TENSORS = '''
from pathlib import Path

import torch
from sklearn.datasets import load_digits


def load(seed):
    """The digits as 1x8x8 image tensors, in an order of the sweep seed's; each call logs its
    seed beside this file."""
    with (Path(__file__).parent / "seeds.log").open("a") as log:
        log.write(f"{seed}\\n")
    images, labels = load_digits(return_X_y=True)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    images = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16
    return images[order], torch.tensor(labels)[order]
'''
PY_SPACE = """
def space(trial):
    trial.suggest_categorical("optimizer", ["adam", "nadam"])
    trial.suggest_float("lr", 1e-3, 0.05, log=True)
    trial.suggest_float("dropout", 0.0, 0.3)
    trial.suggest_categorical("batch_size", [64, 128])
"""


def test_a_tensor_loader_with_the_seed_and_a_python_space(ray_cluster, tmp_path):
    """The built-in cnn on the user's image tensors, over a define-by-run space in a file that
    also searches a torch optimizer beyond the lecture's (nadam)."""
    loader = write(tmp_path, "own_tensors.py", TENSORS)
    space = write(tmp_path, "own_py_space.py", PY_SPACE)
    args = ["--model", "cnn", "--model-args", "{channels: [4, 8], hidden: [16]}"]
    args += ["--dataset", f"{loader}:load", "--space", f"{space}:space", "--num-trials", "3"]
    assert main([*args, "--name", "tensors", "--storage", str(tmp_path), *TINY]) == 0
    folder = tmp_path / "tensors"
    searched = ["optimizer", "lr", "dropout", "batch_size"]
    trials = assert_tables_agree_with_the_study(folder, searched, 3)
    assert {t["optimizer"] for t in trials} <= {"adam", "nadam"}
    study = load_study(SweepFolder.from_location(str(folder)))
    assert all(list(t.distributions) == searched for t in study.trials)
    # Called in the driver and in each worker process, always with the sweep seed.
    assert set((tmp_path / "seeds.log").read_text().split()) == {"3"}
    best = json.loads((folder / "best.json").read_text())
    assert best["dataset"] == f"{loader}:load"
    assert best["model_args"] == {"channels": [4, 8], "hidden": [16]}
    assert best["test_acc"] > 0.15  # ten classes, two epochs of a tiny CNN


DATASET = '''
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset


class Digits(Dataset):
    """The digits as flat feature vectors, one item at a time (no classes or targets)."""

    def __init__(self):
        features, labels = load_digits(return_X_y=True)
        self.features = torch.tensor(features, dtype=torch.float32) / 16
        self.labels = labels.tolist()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.features[index], self.labels[index]


def load():
    return Digits()
'''


def test_a_dataset_loader_sweeps_through_a_dataloader(ray_cluster, tmp_path):
    loader = write(tmp_path, "own_dataset.py", DATASET)
    args = ["--dataset", f"{loader}:load", "--space", "small", "--hidden", "16"]
    args += ["--num-trials", "2", "--name", "dataset", "--storage", str(tmp_path), *TINY]
    assert main(args) == 0
    folder = tmp_path / "dataset"
    assert_tables_agree_with_the_study(folder, ["optimizer", "lr", "gamma", "activation"], 2)
    best = json.loads((folder / "best.json").read_text())
    assert best["dataset"] == f"{loader}:load" and best["model"] == "mlp"
    run = TrainingRun.from_checkpoint(best["checkpoint"])
    split = run.split
    assert [len(split.train), len(split.val), len(split.test)] == [1079, 359, 359]
    assert split.classes == tuple(str(c) for c in range(10))
    assert run.model[1].in_features == 64  # num_features of one item
    assert run.test()["test_loss"] == pytest.approx(best["test_loss"], rel=1e-5)


def test_the_gru_example_sweeps_sequences_of_different_lengths(ray_cluster, tmp_path):
    """examples/sequences.py: a Dataset of token sequences of 4 to 24 tokens batched by its own
    padding collate_fn, a GRU called as model(tokens, lengths), its widths searched; the best
    checkpoint rebuilds the model and its batching here."""
    example = REPO / "examples" / "sequences.py"
    args = ["--model", f"{example}:GRUClassifier", "--dataset", f"{example}:load"]
    args += ["--space", f"{example}:space", "--model-args", "{vocab_size: 6}"]
    args += ["--num-trials", "2", "--name", "gru", "--storage", str(tmp_path), *TINY]
    assert main(args) == 0
    folder = tmp_path / "gru"
    assert_tables_agree_with_the_study(folder, ["lr", "embedding", "hidden", "batch_size"], 2)
    best = json.loads((folder / "best.json").read_text())
    assert best["model_args"] == {"vocab_size": 6}
    run = TrainingRun.from_checkpoint(best["checkpoint"])
    assert type(run.model).__name__ == "GRUClassifier"
    assert run.split.collate_fn.__name__ == "pad" and run.split.facts.input_shape == ()
    assert run.model.gru.hidden_size == best["config"]["hidden"]
    assert run.test()["test_loss"] == pytest.approx(best["test_loss"], rel=1e-5)


ENTRY_MODELS = """
from torch import nn


class EntryNet(nn.Module):
    def __init__(self, num_features, num_classes, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(num_features, width), nn.ReLU(), nn.Linear(width, num_classes)
        )

    def forward(self, x):
        return self.net(x)
"""
ENTRY_SCRIPT = """
import json
import sys

import numpy as np
from sklearn.datasets import load_digits

import sweeps
from own_entry_models import EntryNet


def digits():
    features, labels = load_digits(return_X_y=True)
    return features.astype(np.float32), labels


def space(trial):
    trial.suggest_float("lr", 1e-3, 0.1, log=True)
    trial.suggest_int("width", 4, 16)


if __name__ == "__main__":  # workers load this file to find digits: they must not sweep
    results = sweeps.sweep(
        model=EntryNet, dataset=digits, space=space, num_trials=3, max_epochs=2,
        grace_period=1, storage=sys.argv[1], name="entry",
    )
    print("RESULTS " + json.dumps({
        "trials": results.trials.to_pylist(), "epochs": results.epochs.to_pylist(),
        "best": results.best, "folder": results.folder, "interrupted": results.interrupted,
    }))
"""


@pytest.fixture
def ray_tmp():
    """A Ray temp dir for a sweep's own local Ray (short, for its socket paths), removed after."""
    path = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_python_entry_point_takes_the_objects(tmp_path, ray_tmp):
    """``sweeps.sweep`` in a script of its own (Ray takes the driver's sys.path, so this is a
    fresh process): a class imported from a module beside it, functions of the script."""
    write(tmp_path, "own_entry_models.py", ENTRY_MODELS)
    script = write(tmp_path, "own_entry.py", ENTRY_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")], cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS "))
    results = json.loads(line.removeprefix("RESULTS "))
    folder = tmp_path / "runs" / "entry"
    assert results["folder"] == str(folder) and not results["interrupted"]
    assert results["trials"] == table(folder / "trials.parquet")
    assert results["epochs"] == table(folder / "epochs.parquet")
    assert results["best"] == json.loads((folder / "best.json").read_text())
    assert_tables_agree_with_the_study(folder, ["lr", "width"], 3)
    assert results["best"]["model"] == f"{tmp_path / 'own_entry_models.py'}:EntryNet"
    assert results["best"]["dataset"] == f"{script}:digits"


RESUMED = ["--num-trials", "4", "--max-epochs", "3", "--grace-period", "1"]
RESUMED += ["--max-concurrent", "1", "--checkpoint-every", "1", "--name", "again"]


class Driver:
    """``python -m sweeps.run`` in a session of its own, so that a SIGKILL of its process group
    takes its local Ray with it (as in tests/reliability)."""

    def __init__(self, args: list[str], cwd: Path, log: Path) -> None:
        self.ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short socket paths
        with log.open("a") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "sweeps.run", *args], cwd=cwd, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "RAY_TMPDIR": self.ray_tmp},
            )  # fmt: skip

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def wait(self, timeout: float) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.kill()


def first_results_saved(folder: Path) -> bool:
    """A trial has reported, and Ray has saved the experiment (so --resume can restore it)."""
    reported = any(p.stat().st_size for p in folder.glob("trial_*/result.json"))
    return reported and any(folder.glob("experiment_state-*.json"))


def test_resume_of_a_killed_user_model_sweep_finishes_it(tmp_path):
    """Started with a relative model path, SIGKILLed after its first results, resumed from
    another folder: the saved absolute reference still finds the model."""
    write(tmp_path, "own_resumed.py", CNN)
    space = write(tmp_path, "own_resumed_space.yaml", CNN_SPACE)
    # Only code references (file.py:attr) are made absolute; a YAML space path is kept as given.
    own = ["--model", "own_resumed.py:OwnCNN", "--dataset", "digit_images"]
    own += ["--space", str(space), "--storage", "runs"]
    log, folder = tmp_path / "sweep.log", tmp_path / "runs" / "again"
    driver = Driver([*own, *RESUMED], tmp_path, log)
    try:
        deadline = time.monotonic() + 240
        while driver.popen.poll() is None and not first_results_saved(folder):
            assert time.monotonic() < deadline, f"no results in 240 s; see {log}"
            time.sleep(0.02)
        assert driver.popen.poll() is None, f"the sweep ended before the kill; see {log}"
    finally:
        driver.kill()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resume = ["--name", "again", "--storage", str(tmp_path / "runs"), "--resume"]
    assert Driver(resume, elsewhere, log).wait(timeout=300) == 0, log.read_text()[-3000:]

    reference = f"{tmp_path / 'own_resumed.py'}:OwnCNN"
    assert json.loads((folder / "sweep.json").read_text())["model"] == reference
    assert_tables_agree_with_the_study(folder, CNN_SEARCHED, 4)
    assert sorted(study_params(folder)) == [0, 1, 2, 3]
    best = json.loads((folder / "best.json").read_text())
    assert best["model"] == reference
    assert type(TrainingRun.from_checkpoint(best["checkpoint"]).model).__name__ == "OwnCNN"
    assert math.isfinite(best["test_loss"])


WARMING_UP = '''
from torch import nn


class WarmingUp(nn.Module):
    """An MLP that switches on a second branch after its first epoch's batches, and that
    branch has a bug: the check before Ray (one batch, one step) cannot see it."""

    def __init__(self, num_features, num_classes, activation=nn.ReLU, warm_up_batches=34):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(num_features, 16), activation())
        self.head = nn.Linear(16, num_classes)
        self.extra = nn.Linear(num_classes + 1, num_classes)
        self.warm_up_batches, self.seen = warm_up_batches, 0

    def forward(self, x):
        scores = self.head(self.body(x.flatten(1)))
        if self.training:
            self.seen += 1
            if self.seen > self.warm_up_batches:
                scores = scores + self.extra(scores)
        return scores
'''


def test_a_model_failing_the_same_way_in_every_trial_stops_the_sweep(tmp_path, capsys):
    """Every trial raises the same error in its second epoch: the sweep ends at most 3 trials
    in ERROR, writes its tables and exits 1, naming the error and the model's line."""
    path = tmp_path / "warming_up.py"
    path.write_text(WARMING_UP)
    args = [
        "--model",
        f"{path}:WarmingUp",
        "--num-trials",
        "12",
        "--max-epochs",
        "4",
        "--grace-period",
        "4",
        "--name",
        "warm",
        "--storage",
        str(tmp_path / "runs"),
    ]
    assert main(args) == 1
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    line = next(n for n, text in enumerate(WARMING_UP.splitlines(), 1) if "self.extra(" in text)
    assert last.startswith("Sweep stopped (--fail-fast): ") and f"({path}:{line})" in last, last
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in last
    trials = pq.read_table(tmp_path / "runs" / "warm" / "trials.parquet").to_pylist()
    errored = [t for t in trials if t["status"] == "ERROR"]
    assert len(errored) == 3 and all(t["epochs"] == 1 for t in errored), trials
    assert {t["status"] for t in trials} <= {"ERROR", "INCOMPLETE"} and len(trials) < 12
