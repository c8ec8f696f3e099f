"""Datasets as seeded, standardised train/validation/test tensors.

Sources: ``digits`` (the 8x8 digits that scikit-learn ships), ``synthetic`` (a seeded
classification problem), or a table file (.parquet, .csv, .feather/.arrow; local path or a URI
that ``pyarrow.fs`` understands) with numeric feature columns and a label column. Validation
picks models; the test split is read once, after the sweep.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import torch

BUILTIN = ("digits", "synthetic")
TABLE_SUFFIXES = (".parquet", ".csv", ".feather", ".arrow")
DIGITS_CSV = "datasets/data/digits.csv.gz"  # in the sklearn package: 64 pixels, then the digit


class DataError(ValueError):
    """A dataset that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True)
class Split:
    """Features (float32) and integer labels of the three splits, on one device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> Split:
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return Split(**moved, classes=self.classes)


@functools.lru_cache(maxsize=4)
def load(
    source: str,
    *,
    label: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> Split:
    """Load ``source`` and split it; cached per process so a reused worker reads it once."""
    features, labels, classes = _read(source, label, seed)
    return _split(features, labels, classes, seed, val_fraction, test_fraction)


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Shuffled mini-batch index tensors covering ``range(n)`` once (the last may be short)."""
    order = torch.randperm(n, generator=generator).to(device, non_blocking=True)
    return iter(order.split(batch_size))


def _read(source: str, label: str | None, seed: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    if source == "digits":
        x, y = _read_digits()
        return x, y, tuple(str(c) for c in range(10))
    if source == "synthetic":
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=2000, n_features=20, n_informative=12, n_redundant=4,
            n_classes=4, class_sep=1.0, random_state=seed,
        )  # fmt: skip
        return x, y, tuple(str(c) for c in range(4))
    if PurePosixPath(source).suffix.lower() in TABLE_SUFFIXES:
        return _read_table(source, label)
    raise DataError(
        f"unknown dataset {source!r}; valid: {', '.join(BUILTIN)}, "
        f"or a {'/'.join(TABLE_SUFFIXES)} file with --label"
    )


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The arrays of ``load_digits(return_X_y=True)``, read from the file scikit-learn ships.

    Finding the file does not import scikit-learn, which would cost each worker process about
    0.9 s; its loader is the fallback should the file move.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / DIGITS_CSV if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    import pyarrow.csv

    options = pyarrow.csv.ReadOptions(autogenerate_column_names=True)  # the file has no header
    table = pyarrow.csv.read_csv(path, read_options=options)  # gunzipped, as its name says
    # As one tensor: converting columns one by one would import pandas (another 0.3 s).
    values = table.combine_chunks().to_batches()[0].to_tensor().to_numpy()
    return values[:, :-1].astype(np.float64), values[:, -1].astype(np.int64)


def _read_table(source: str, label: str | None) -> tuple[np.ndarray, np.ndarray, tuple]:
    table = _read_arrow(source)
    if label is None:
        raise DataError(f"dataset {source} needs --label; columns: {', '.join(table.column_names)}")
    if label not in table.column_names:
        raise DataError(
            f"label column {label!r} not in {source}; columns: {', '.join(table.column_names)}"
        )
    if table.num_rows < 10:
        raise DataError(f"dataset {source} has {table.num_rows} rows; at least 10 are needed")
    target = table.column(label)
    if target.null_count:
        raise DataError(f"label column {label!r} in {source} has {target.null_count} empty values")
    columns = []
    for name in table.column_names:
        if name == label:
            continue
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_boolean(column.type)):  # fmt: skip
            raise DataError(
                f"feature column {name!r} in {source} is {column.type}, not numeric; "
                "encode it or drop it"
            )
        if column.null_count:
            raise DataError(f"feature column {name!r} in {source} has missing values")
        columns.append(pc.cast(column, pa.float64()).to_numpy())
    if not columns:
        raise DataError(f"dataset {source} has no feature columns besides {label!r}")
    classes, labels = np.unique(target.to_numpy(zero_copy_only=False).astype(str),
                                return_inverse=True)  # fmt: skip
    if len(classes) < 2:
        raise DataError(f"label column {label!r} in {source} has one class ({str(classes[0])!r})")
    return np.stack(columns, axis=1), labels, tuple(classes.tolist())


def _read_arrow(source: str) -> pa.Table:
    import pyarrow.csv
    import pyarrow.feather
    import pyarrow.parquet

    try:
        filesystem, path = pafs.FileSystem.from_uri(source)
    except (pa.ArrowInvalid, ValueError):
        filesystem, path = pafs.LocalFileSystem(), source
    try:
        if filesystem.get_file_info(path).type != pafs.FileType.File:
            raise DataError(f"dataset file not found: {source}")
        suffix = PurePosixPath(path).suffix.lower()
        if suffix == ".parquet":
            return pyarrow.parquet.read_table(path, filesystem=filesystem)
        with filesystem.open_input_file(path) as handle:
            if suffix == ".csv":
                # A blank cell is a missing value, not a class or a feature named "".
                options = pyarrow.csv.ConvertOptions(strings_can_be_null=True)
                return pyarrow.csv.read_csv(handle, convert_options=options)
            return pyarrow.feather.read_table(handle)
    except (OSError, pa.ArrowException) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"cannot read dataset {source}: {reason}") from None


def _split(
    features: np.ndarray,
    labels: np.ndarray,
    classes: tuple,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> Split:
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    test, val, train = np.split(order, [n_test, n_test + n_val])
    # Standardise with training statistics only: the held-out splits must not leak into them.
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std[std == 0] = 1.0
    x = torch.from_numpy(((features - mean) / std).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    train, val, test = (torch.from_numpy(part) for part in (train, val, test))
    return Split(x[train], y[train], x[val], y[val], x[test], y[test], classes)
