"""A sweep over a user's own table: a CSV file with a string label column, through Ray."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from sweeps.run import main

pytestmark = pytest.mark.slow


def test_a_csv_with_string_labels_sweeps_end_to_end(ray_cluster, tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=300)
    features = rng.normal(size=(300, 4)) + labels[:, None]  # separable enough to learn
    table = pa.table({
        **{f"f{i}": features[:, i] for i in range(4)},
        "species": np.array(["setosa", "versicolor", "virginica"])[labels],
    })  # fmt: skip
    data = tmp_path / "flowers.csv"
    pyarrow.csv.write_csv(table, data)
    args = ["--dataset", str(data), "--label", "species", "--smoke", "--num-trials", "2"]
    assert main(["--name", "csv", "--storage", str(tmp_path), *args]) == 0
    trials = pq.read_table(tmp_path / "csv" / "trials.parquet")
    assert trials.num_rows == 2
    best = json.loads((tmp_path / "csv" / "best.json").read_text())
    assert best["test_acc"] > 0.6  # three classes: chance is 1/3
