"""TrainingRun over a user's model file and Dataset loader: seeded, exactly resumable, and
rebuilt from its checkpoint alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainable import checkpoint, data
from trainable.run import TrainingRun, checkpoint_test_metrics

MODEL = """\
from torch import nn


class DropNet(nn.Module):
    '''Dropout draws from torch's global stream, which a checkpoint must carry too.'''

    def __init__(self, num_classes, input_shape, width=8, dropout=0.2, activation=nn.ReLU):
        super().__init__()
        channels = input_shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), activation(), nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(width * input_shape[1] * input_shape[2], num_classes),
        )

    def forward(self, x):
        return self.body(x)
"""

DATASET = """\
import torch
from torch.utils.data import Dataset


class Blobs(Dataset):
    '''Three classes of noisy 1x4x4 images, one bright quadrant each.'''

    def __init__(self, n=150):
        generator = torch.Generator().manual_seed(0)
        self.targets = torch.arange(n) % 3
        self.images = 0.3 * torch.randn(n, 1, 4, 4, generator=generator)
        for label in range(3):
            rows, cols = divmod(label, 2)
            self.images[self.targets == label, :, 2 * rows:2 * rows + 2, 2 * cols:2 * cols + 2] += 1

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.images[index], self.targets[index]


def load():
    return Blobs()
"""


@pytest.fixture
def config(user_file) -> dict:
    model = user_file("drop_net.py", MODEL)
    dataset = user_file("blob_images.py", DATASET)
    return {
        "model": f"{model}:DropNet", "dataset": f"{dataset}:load", "width": 6,
        "activation": "tanh", "optimizer": "nesterov", "lr": 0.05, "gamma": 0.9,
        "batch_size": 16, "max_epochs": 4, "seed": 1, "trial_index": 2,
    }  # fmt: skip


def _train(config: dict, epochs: int, workers: int = 0) -> tuple[TrainingRun, list[dict]]:
    run = TrainingRun(config, workers=workers)
    return run, [run.step() for _ in range(epochs)]


def test_the_users_model_and_dataset_are_what_the_run_trains(config) -> None:
    run = TrainingRun(config)
    assert type(run.model).__name__ == "DropNet"
    assert isinstance(run.model.body[1], torch.nn.Tanh)
    assert run.model.body[0].out_channels == 6
    assert isinstance(run.split, data.DatasetSplit)
    assert (len(run.split.train), len(run.split.val), len(run.split.test)) == (90, 30, 30)


def test_same_config_and_seed_gives_identical_epochs(config) -> None:
    _, first = _train(config, 3)
    torch.rand(10)  # disturb the global stream between runs
    _, second = _train(config, 3)
    assert [m.val_loss for m in first] == [m.val_loss for m in second]
    assert first == second
    assert first[-1].val_loss < first[0].val_loss  # it does learn
    _, other = _train({**config, "trial_index": 3}, 3)
    assert [m.val_loss for m in other] != [m.val_loss for m in first]


def test_dataloader_workers_read_the_same_batches(config) -> None:
    _, in_process = _train(config, 2)
    _, read_ahead = _train(config, 2, workers=1)
    assert read_ahead == in_process


def test_a_resumed_run_continues_exactly_as_if_never_stopped(config, tmp_path) -> None:
    straight, expected = _train(config, 4)

    first_half, head = _train(config, 2)
    first_half.save(str(tmp_path))
    del first_half
    torch.rand(100)  # the resumed run must not depend on ambient RNG state

    resumed = TrainingRun.from_checkpoint(str(tmp_path))
    assert resumed.epoch == 2
    tail = [resumed.step() for _ in range(2)]
    assert head + tail == expected
    for p_straight, p_resumed in zip(
        straight.model.parameters(), resumed.model.parameters(), strict=True
    ):
        assert torch.equal(p_straight, p_resumed)
    assert resumed.test() == straight.test()

    fresh = TrainingRun(config)
    fresh.restore(str(tmp_path))
    assert [fresh.step() for _ in range(2)] == expected[2:]


def test_the_checkpoint_alone_rebuilds_the_users_model_in_another_process(config, tmp_path) -> None:
    run, _ = _train(config, 3)
    expected_test = run.test()
    run.save(str(tmp_path / "ckpt"))  # after test(): its DataLoader draws from the global stream
    expected_next = run.step()
    assert checkpoint.load(tmp_path / "ckpt")["config"]["model"] == config["model"]

    code = (
        "import json, sys, torch; torch.set_num_threads(1)\n"
        "from trainable.run import TrainingRun, checkpoint_test_metrics\n"
        "tested = checkpoint_test_metrics(sys.argv[1])\n"
        "users = sorted(n for n in ('drop_net', 'blob_images') if n in sys.modules)\n"
        "run = TrainingRun.from_checkpoint(sys.argv[1])\n"
        "print(json.dumps({'tested': tested, 'users_before': users, 'epoch': run.epoch,\n"
        "                  'model': type(run.model).__name__, 'next': run.step().as_dict()}))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ckpt")],
        capture_output=True, text=True, check=True, cwd=elsewhere, env=environment,
    )  # fmt: skip
    rebuilt = json.loads(result.stdout)
    # checkpoint_test_metrics imported the user's files from the paths in the bundle.
    assert rebuilt["users_before"] == ["blob_images", "drop_net"]
    assert rebuilt["model"] == "DropNet" and rebuilt["epoch"] == 3
    assert rebuilt["tested"] == expected_test
    assert rebuilt["next"] == expected_next.as_dict()
    assert checkpoint_test_metrics(str(tmp_path / "ckpt")) == expected_test
