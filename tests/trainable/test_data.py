"""Tests for trainable.data and trainable.sources: seeded 60/20/20 splits, train-only
standardisation, table files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as pafeather
import pyarrow.parquet as pq
import pytest
import torch
from sklearn.datasets import load_digits

from trainable import data, sources
from trainable.data import Split, TensorSplit, tensors
from trainable.sources import DataError

TENSOR_FIELDS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _expected_sizes(n: int) -> tuple[int, int, int]:
    n_test = n_val = round(n * 0.2)
    return n - n_test - n_val, n_val, n_test


def _table(n: int = 30, **extra: list) -> pa.Table:
    columns = {
        "width": [float(i) * 0.5 for i in range(n)],
        "count": list(range(n, 0, -1)),
        "flag": [i % 3 == 0 for i in range(n)],
        "species": [("zebra", "ant", "moth")[i % 3] for i in range(n)],
    }
    columns.update(extra)
    return pa.table(columns)


def _write(table: pa.Table, path) -> str:
    suffix = path.suffix
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pafeather.write_feather(table, path)
    return str(path)


@pytest.mark.parametrize("source, n", [("digits", 1797), ("synthetic", 2000)])
def test_builtin_split_sizes_are_60_20_20(source: str, n: int) -> None:
    split = data.load(source, seed=0)
    train, val, test = _expected_sizes(n)
    assert split.x_train.shape[0] == split.y_train.shape[0] == train
    assert split.x_val.shape[0] == split.y_val.shape[0] == val
    assert split.x_test.shape[0] == split.y_test.shape[0] == test
    assert train + val + test == n


@pytest.mark.parametrize("file", [sources.DIGITS_CSV, "datasets/data/moved.csv.gz"])
def test_digits_are_exactly_load_digits_from_the_file_or_else_the_loader(monkeypatch, file) -> None:
    monkeypatch.setattr(sources, "DIGITS_CSV", file)
    x, y = sources._read_digits()
    expected_x, expected_y = load_digits(return_X_y=True)
    for got, expected in ((x, expected_x), (y, expected_y)):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_digits_load_without_importing_scikit_learn_or_pandas() -> None:
    code = (
        "import sys; from trainable import data; data.load('digits'); "
        "print([name for name in ('sklearn', 'pandas') if name in sys.modules])"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"


def test_a_source_is_read_and_checked_without_importing_torch(tmp_path) -> None:
    path = _write(_table(), tmp_path / "data.parquet")
    code = (
        f"import sys; from trainable import sources; sources.read({path!r}, 'species', 0); "
        "sources.read('digits', None, 0); print('torch' in sys.modules)"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "False"


def test_digits_split_follows_seeded_permutation_and_train_statistics() -> None:
    seed = 3
    raw_x, raw_y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(raw_y))
    _, n_val, n_test = _expected_sizes(len(raw_y))
    test_idx, val_idx, train_idx = np.split(order, [n_test, n_test + n_val])
    mean = raw_x[train_idx].mean(axis=0)
    std = raw_x[train_idx].std(axis=0)
    std[std == 0] = 1.0

    split = data.load("digits", seed=seed)

    for idx, x, y in (
        (train_idx, split.x_train, split.y_train),
        (val_idx, split.x_val, split.y_val),
        (test_idx, split.x_test, split.y_test),
    ):
        expected = torch.from_numpy(((raw_x[idx] - mean) / std).astype(np.float32))
        torch.testing.assert_close(x, expected)
        assert torch.equal(y, torch.from_numpy(raw_y[idx].astype(np.int64)))
    # The three index sets partition the rows.
    assert sorted(np.concatenate([train_idx, val_idx, test_idx]).tolist()) == list(range(1797))
    assert split.classes == tuple(str(c) for c in range(10))


def test_synthetic_splits_are_disjoint_and_cover_all_rows() -> None:
    split = data.load("synthetic", seed=0)
    rows = torch.cat([split.x_train, split.x_val, split.x_test])
    assert rows.shape == (2000, 20)
    assert torch.unique(rows, dim=0).shape[0] == 2000
    assert split.num_features == 20
    assert split.num_classes == 4


@pytest.mark.parametrize("source", ["digits", "synthetic"])
def test_train_features_are_standardised_with_train_statistics_only(source: str) -> None:
    split = data.load(source, seed=0)
    mean = split.x_train.double().mean(dim=0)
    std = split.x_train.double().std(dim=0, unbiased=False)
    varying = std > 0
    assert varying.sum() > 0
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
    torch.testing.assert_close(std[varying], torch.ones_like(std[varying]), atol=1e-4, rtol=0)
    # Held-out splits use the training mean/std, so their own statistics are not exactly 0/1.
    for held_out in (split.x_val, split.x_test):
        held_mean = held_out.double().mean(dim=0)
        assert held_mean.abs().max() > 1e-3


def test_same_seed_gives_identical_tensors() -> None:
    first = data.load("synthetic", seed=11)
    data.load.cache_clear()
    second = data.load("synthetic", seed=11)
    assert first is not second
    for name in TENSOR_FIELDS:
        assert torch.equal(getattr(first, name), getattr(second, name)), name


@pytest.mark.parametrize("source", ["digits", "synthetic"])
def test_different_seed_gives_different_split(source: str) -> None:
    a = data.load(source, seed=0)
    b = data.load(source, seed=1)
    assert a.x_train.shape == b.x_train.shape
    assert not torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.y_test, b.y_test)


def test_load_is_cached_per_arguments() -> None:
    first = data.load("digits", seed=5)
    assert data.load("digits", seed=5) is first
    assert data.load("digits", seed=6) is not first


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".feather"])
def test_table_file_with_string_label_loads(tmp_path, suffix: str) -> None:
    path = _write(_table(30), tmp_path / f"animals{suffix}")
    split = data.load(path, label="species", seed=0)
    assert split.classes == ("ant", "moth", "zebra")
    assert split.num_features == 3
    assert split.num_classes == 3
    assert (split.x_train.shape[0], split.x_val.shape[0], split.x_test.shape[0]) == (18, 6, 6)
    assert split.x_train.dtype == torch.float32
    assert split.y_train.dtype == torch.int64
    # Labels index the sorted class names: zebra rows (i % 3 == 0) are exactly the flag rows.
    x = torch.cat([split.x_train, split.x_val, split.x_test])
    y = torch.cat([split.y_train, split.y_val, split.y_test])
    assert sorted(y.tolist()) == [0] * 10 + [1] * 10 + [2] * 10
    flag_column = x[:, 2]
    is_zebra = y == split.classes.index("zebra")
    assert torch.equal(flag_column > 0, is_zebra)


def test_unknown_dataset_name_is_rejected() -> None:
    with pytest.raises(DataError) as info:
        data.load("mnist")
    message = str(info.value)
    assert message.startswith("unknown dataset 'mnist'; valid: digits, digit_images, synthetic, ")
    assert message.endswith("or a loader: package.module:attr or path/to/file.py:attr")


def test_missing_file_is_rejected(tmp_path) -> None:
    path = tmp_path / "absent.parquet"
    with pytest.raises(DataError, match="dataset file not found"):
        data.load(str(path), label="species")


def test_unreadable_file_is_rejected(tmp_path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match="cannot read dataset"):
        data.load(str(path), label="species")


def test_table_without_label_argument_is_rejected(tmp_path) -> None:
    path = _write(_table(), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"needs --label; columns: width, count, flag, species"):
        data.load(path)


def test_absent_label_column_is_rejected_listing_columns(tmp_path) -> None:
    path = _write(_table(), tmp_path / "t.csv")
    with pytest.raises(DataError) as info:
        data.load(path, label="kind")
    message = str(info.value)
    assert "label column 'kind' not in" in message
    assert message.endswith("columns: width, count, flag, species")


def test_non_numeric_feature_column_is_rejected(tmp_path) -> None:
    path = _write(_table(20, colour=["red", "blue"] * 10), tmp_path / "t.feather")
    with pytest.raises(DataError, match=r"feature column 'colour' .* not numeric"):
        data.load(path, label="species")


def test_single_class_label_is_rejected(tmp_path) -> None:
    path = _write(_table(20, species=["ant"] * 20), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"label column 'species' .* has one class \(.*'ant'"):
        data.load(path, label="species")


def test_single_class_message_shows_plain_class_name(tmp_path) -> None:
    path = _write(_table(20, species=["ant"] * 20), tmp_path / "t.parquet")
    with pytest.raises(DataError) as info:
        data.load(path, label="species")
    assert str(info.value).endswith("has one class ('ant')")


def test_null_labels_are_rejected(tmp_path) -> None:
    labels = ["ant", None, "moth", None] * 5
    path = _write(_table(20, species=labels), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"label column 'species' .* has 10 empty values"):
        data.load(path, label="species")


def test_blank_labels_in_csv_are_rejected(tmp_path) -> None:
    path = tmp_path / "blank.csv"
    rows = "".join(f"{i},{'ant' if i % 2 else ''}\n" for i in range(20))
    path.write_text("width,species\n" + rows)
    with pytest.raises(DataError, match="empty values"):
        data.load(str(path), label="species")


def test_feature_with_missing_values_is_rejected(tmp_path) -> None:
    width = [1.0, None] * 10
    path = _write(_table(20, width=width), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"feature column 'width' .* missing values"):
        data.load(path, label="species")


def test_too_few_rows_are_rejected(tmp_path) -> None:
    path = _write(_table(9), tmp_path / "t.parquet")
    with pytest.raises(DataError, match="has 9 rows; at least 10"):
        data.load(path, label="species")


def test_batches_cover_every_index_exactly_once() -> None:
    generator = torch.Generator().manual_seed(0)
    parts = list(data.batches(103, 10, generator, torch.device("cpu")))
    assert [len(p) for p in parts] == [10] * 10 + [3]
    assert sorted(torch.cat(parts).tolist()) == list(range(103))
    assert not torch.equal(torch.cat(parts), torch.arange(103))  # shuffled


def test_batches_are_reproducible_from_a_seeded_generator() -> None:
    def order(seed: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(seed)
        return [p.tolist() for p in data.batches(50, 8, generator, torch.device("cpu"))]

    assert order(4) == order(4)
    assert order(4) != order(5)


def test_split_to_cpu_preserves_data() -> None:
    split = data.load("synthetic", seed=0)
    moved = split.to("cpu")
    assert isinstance(moved, TensorSplit) and isinstance(moved, Split)
    assert moved.classes == split.classes
    for name in TENSOR_FIELDS:
        assert getattr(moved, name).device.type == "cpu"
        assert torch.equal(getattr(moved, name), getattr(split, name)), name


def test_digit_images_are_the_digits_as_unstandardised_one_by_eight_by_eight_images() -> None:
    images, digits = data.load("digit_images", seed=2), data.load("digits", seed=2)
    assert images.x_train.shape == (digits.x_train.shape[0], 1, 8, 8)
    raw_x, _ = load_digits(return_X_y=True)
    order = np.random.default_rng(2).permutation(len(raw_x))
    _, n_val, n_test = _expected_sizes(len(raw_x))
    train_idx = order[n_test + n_val :]
    expected = torch.from_numpy((raw_x[train_idx] / 16.0).reshape(-1, 1, 8, 8).astype(np.float32))
    assert torch.equal(images.x_train, expected)
    assert torch.equal(images.y_train, digits.y_train)
    assert images.x_train.dtype == torch.float32
    assert images.x_train.min() >= 0.0 and images.x_train.max() <= 1.0


@pytest.mark.parametrize(
    "source, shape, features, classes",
    [("digits", (64,), 64, 10), ("digit_images", (1, 8, 8), 64, 10), ("synthetic", (20,), 20, 4)],
)
def test_facts_tell_the_model_the_input_shape_and_classes(source, shape, features, classes) -> None:
    facts = data.load(source, seed=0).facts
    assert (facts.input_shape, facts.num_features, facts.num_classes) == (shape, features, classes)
    assert facts.as_arguments() == {
        "num_classes": classes, "input_shape": shape, "num_features": features,
    }  # fmt: skip


def test_train_batches_cover_the_training_rows_once_in_a_seeded_order() -> None:
    split = data.load("synthetic", seed=0)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(split.train_batches(100, torch.Generator().manual_seed(seed)))

    parts = epoch(1)
    assert [len(y) for _, y in parts] == [100] * 12
    x = torch.cat([xb for xb, _ in parts])
    assert torch.equal(x[x[:, 0].argsort()], split.x_train[split.x_train[:, 0].argsort()])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(parts, epoch(1), strict=True))
    assert not torch.equal(parts[0][0], epoch(2)[0][0])


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_eval_batches_are_the_part_in_order_in_chunks(monkeypatch, part: str) -> None:
    split = data.load("synthetic", seed=0)
    monkeypatch.setattr(tensors, "EVAL_CHUNK", 150)
    chunks = list(split.eval_batches(part, batch_size=32))
    x, y = getattr(split, f"x_{part}"), getattr(split, f"y_{part}")
    assert all(len(yb) == 150 for _, yb in chunks[:-1]) and 0 < len(chunks[-1][1]) <= 150
    assert torch.equal(torch.cat([xb for xb, _ in chunks]), x)
    assert torch.equal(torch.cat([yb for _, yb in chunks]), y)


def test_sample_is_the_first_training_rows() -> None:
    split = data.load("digits", seed=0)
    x, y = split.sample(5)
    assert torch.equal(x, split.x_train[:5]) and torch.equal(y, split.y_train[:5])
