"""trainable.data.fingerprint: the digests of a dataset and of its split that a sweep's manifest
records, for built-in data, table files, a user's arrays, a Dataset and the user's own parts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from trainable import data, sources

LOADER = """\
import numpy as np
import torch
from torch.utils.data import Dataset

LABELS = np.arange(30) % 3


def rows():
    x = np.random.default_rng(0).normal(size=(30, 4))
    return x, LABELS.copy()


class Items(Dataset):
    def __len__(self):
        return 30

    def __getitem__(self, index):
        return torch.full((1, 2, 2), float(index)), int(LABELS[index])


def items():
    return Items()


def parts():
    x, y = rows()
    x = x.reshape(-1, 1, 2, 2)  # shaped as the items
    return {"train": (x[:18], y[:18]), "val": (x[18:24], y[18:24]), "test": Items()}
"""


@pytest.fixture
def loader(user_file):
    """A loader of the user's file, by its reference."""
    path = user_file("fingerprinted.py", LOADER)

    def reference(name: str) -> str:
        return f"{path}:{name}"

    return reference


def flip(row: int) -> None:
    """Change the label of row ``row`` in the user's file, loaded by then."""
    import fingerprinted

    fingerprinted.LABELS[row] = (fingerprinted.LABELS[row] + 1) % 3


@pytest.mark.parametrize("name", ["rows", "items", "parts"])
def test_a_users_data_has_one_digest_until_one_label_changes(loader, name) -> None:
    first = data.fingerprint(loader(name), seed=0)
    assert data.fingerprint(loader(name), seed=0) == first
    flip(25)  # in the test part of "parts", a Dataset there
    changed = data.fingerprint(loader(name), seed=0)
    assert changed["data_sha256"] != first["data_sha256"]
    assert changed["split_sha256"] == first["split_sha256"]


def test_the_data_digest_is_of_the_data_and_the_split_digest_of_the_seeds_draw() -> None:
    first = data.fingerprint("digits", seed=0)
    assert data.fingerprint("digits", seed=0) == first
    other = data.fingerprint("digits", seed=1)
    assert other["data_sha256"] == first["data_sha256"]
    assert other["split_sha256"] != first["split_sha256"]
    assert first["rows"] == {"train": 1079, "val": 359, "test": 359}
    assert data.fingerprint("digit_images", seed=0)["data_sha256"] != first["data_sha256"]


def test_a_table_files_digest_changes_with_one_label(tmp_path) -> None:
    path = tmp_path / "rows.parquet"
    labels = ["a", "b", "c"] * 10
    pq.write_table(pa.table({"x": np.arange(30.0), "y": labels}), path)
    first = data.fingerprint(str(path), label="y")
    pq.write_table(pa.table({"x": np.arange(30.0), "y": ["b", *labels[1:]]}), path)
    assert data.fingerprint(str(path), label="y")["data_sha256"] != first["data_sha256"]


def test_a_split_keeps_the_rows_its_parts_were_drawn_from() -> None:
    _, labels, _ = sources.read("digits", None, 0)
    split = data.load("digits", seed=3)
    train, val, test = split.indices
    assert torch.equal(split.y_train, torch.from_numpy(labels[train]))
    assert torch.equal(split.y_val, torch.from_numpy(labels[val]))
    assert torch.equal(split.y_test, torch.from_numpy(labels[test]))
    assert sorted(np.concatenate(split.indices)) == list(range(len(labels)))
    assert split.to("cpu").indices is split.indices


def test_a_datasets_split_keeps_its_subsets_rows(loader) -> None:
    split = data.load(loader("items"), seed=2)
    for part, rows in zip((split.train, split.val, split.test), split.indices, strict=True):
        assert part.indices == rows.tolist()
    parts = data.load(loader("parts"), seed=2)
    assert [rows.tolist() for rows in parts.indices] == [
        list(range(18)), list(range(18, 24)), list(range(24, 54))
    ]  # fmt: skip
