"""A damaged latest checkpoint: the checksum catches it; the trial resumes from the one before."""

from __future__ import annotations

import shutil
import time

import pytest

from trainable.checkpoint import FILENAME
from trainable.tune_adapter import SweepTrainable

pytestmark = pytest.mark.slow

CONFIG = {
    "optimizer": "adam", "lr": 0.01, "gamma": 0.95, "activation": "relu",
    "model_args": {"hidden": [32]},
    "max_epochs": 8, "seed": 5, "trial_index": 0,
}  # fmt: skip


def val_losses(trainable, epochs):
    return [trainable.train()["val_loss"] for _ in range(epochs)]


@pytest.mark.parametrize("damage", ["half-written", "flipped bit"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(
    ray_cluster, damage, tmp_path, figures
):
    straight = SweepTrainable(config=CONFIG)
    expected = val_losses(straight, 6)
    straight.stop()

    first = SweepTrainable(config=CONFIG)
    # Laid out as Ray keeps them in a trial folder on local or NFS storage.
    older, latest = tmp_path / "checkpoint_000000", tmp_path / "checkpoint_000001"
    val_losses(first, 2)
    shutil.copytree(first.save().checkpoint.path, older)
    val_losses(first, 2)
    shutil.copytree(first.save().checkpoint.path, latest)
    bundle = latest / FILENAME
    data = bytearray(bundle.read_bytes())
    if damage == "half-written":
        data = data[: len(data) // 2]
    else:
        data[-len(data) // 3] ^= 0x10  # inside the serialised weights
    bundle.write_bytes(bytes(data))

    second = SweepTrainable(config=CONFIG)
    started = time.perf_counter()
    second.restore(str(latest))
    recovered = time.perf_counter() - started
    results = [second.train() for _ in range(4)]
    assert [r["epoch"] for r in results] == [3, 4, 5, 6]  # continues from the older checkpoint
    assert [r["val_loss"] for r in results] == expected[2:]  # exactly as if never stopped
    first.stop()
    second.stop()
    figures.record(
        f"damaged checkpoint [{damage}]", faults_injected=1, resumed_from_epoch=2,
        epochs_lost=2, time_to_recover_s=round(recovered, 3),
    )  # fmt: skip
