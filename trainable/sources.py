"""Dataset sources read as numpy arrays, with one-line errors for unusable data; no torch.

Sources: ``digits`` (the 8x8 digits that scikit-learn ships, as 64 features),
``digit_images`` (the same digits as 1x8x8 images scaled to [0, 1]), ``synthetic`` (a seeded
classification problem), or a table file (.parquet, .csv, .feather/.arrow; local path or a URI
that ``pyarrow.fs`` understands) with numeric feature columns and a label column. The sweep's
driver checks a dataset with this module alone; :mod:`trainable.data` splits it into tensors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

BUILTIN = ("digits", "digit_images", "synthetic")
TABLE_SUFFIXES = (".parquet", ".csv", ".feather", ".arrow")
DIGITS_CSV = "datasets/data/digits.csv.gz"  # in the sklearn package: 64 pixels, then the digit


class DataError(ValueError):
    """A dataset that cannot be used; the message is one line naming the problem."""


def check_labels(reference: str, part: str, labels: np.ndarray, rows: int) -> None:
    """A DataError unless ``labels`` are ``rows`` class indices (a 1-D array of ints >= 0)."""
    integral = np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.bool_)
    if labels.ndim != 1 or not integral or (labels.size and labels.min() < 0):
        raise DataError(
            f"dataset {reference}: {part} labels must be class indices (a 1-D array of integers "
            f">= 0), got {labels.dtype} of shape {labels.shape}; for one-hot labels use "
            "labels.argmax(1)"
        )
    if len(labels) != rows:
        raise DataError(
            f"dataset {reference}: {part} has {rows} feature rows but {len(labels)} labels"
        )
    if len(labels) == 0:
        raise DataError(f"dataset {reference}: {part} is empty")


def read(source: str, label: str | None, seed: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Features, integer labels and class names of ``source`` (``seed`` draws ``synthetic``)."""
    if source in ("digits", "digit_images"):
        x, y = _read_digits()
        if source == "digit_images":
            x = x.reshape(-1, 1, 8, 8) / 16.0  # the pixels are ink counts, 0 to 16
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
        f"a {'/'.join(TABLE_SUFFIXES)} file with --label, "
        "or a loader: package.module:attr or path/to/file.py:attr"
    )


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The arrays of ``load_digits(return_X_y=True)``, read from the file scikit-learn ships.

    Finding the file does not import scikit-learn, which is slow to import in every worker
    process; its loader is the fallback should the file move.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / DIGITS_CSV if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    import pyarrow.csv

    options = pyarrow.csv.ReadOptions(autogenerate_column_names=True)  # the file has no header
    table = pyarrow.csv.read_csv(path, read_options=options)  # gunzipped, as its name says
    # As one tensor: converting columns one by one would import pandas too.
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
