"""One small real sweep (10 trials, local Ray), shared by the tests that read its outputs; the
record of one epoch as a trial reports it, for the tests of the record."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from sweeps.run import main
from sweeps.storage import SweepFolder
from trainable.result import EpochResult

ARGS = [
    "--space", "small", "--num-trials", "10", "--max-epochs", "6", "--grace-period", "1",
    "--reduction-factor", "3", "--patience", "3", "--hidden", "32", "--seed", "1",
    "--checkpoint-every", "2", "--confirm-top", "2", "--confirm-seeds", "2",
    "--audit-pruned", "0.5",
]  # fmt: skip


@pytest.fixture(scope="session")
def sweep(ray_cluster, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    assert main(["--name", "e2e", "--storage", str(storage), *ARGS]) == 0
    folder = storage / "e2e"
    return {
        "folder": folder,
        "storage": storage,
        "args": ARGS,
        "trials": pq.read_table(folder / "trials.parquet").to_pylist(),
        "epochs": pq.read_table(folder / "epochs.parquet").to_pylist(),
        "best": json.loads((folder / "best.json").read_text()),
    }


def epoch_result(n, val_loss, *, best_epoch=None, done=False, diverged=False):
    """The result a trial reports for epoch ``n``, as the sweep's record keeps it."""
    return EpochResult(
        epoch=n, train_loss=val_loss / 2, train_acc=0.5, train_rows=96, val_loss=val_loss,
        val_acc=0.6, lr=0.1, best_val_loss=val_loss, best_epoch=best_epoch or n,
        diverged=diverged, done=done,
    )  # fmt: skip


@pytest.fixture
def epoch():
    return epoch_result


@pytest.fixture
def folder(tmp_path):
    """An empty sweep folder."""
    (tmp_path / "s").mkdir()
    return SweepFolder.in_storage(str(tmp_path), "s")
