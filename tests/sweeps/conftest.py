"""One small real sweep (10 trials, local Ray), shared by the tests that read its outputs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from sweeps.run import main

ARGS = [
    "--space", "small", "--num-trials", "10", "--max-epochs", "6", "--grace-period", "1",
    "--reduction-factor", "3", "--patience", "3", "--hidden", "32", "--seed", "1",
    "--checkpoint-every", "2",
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
