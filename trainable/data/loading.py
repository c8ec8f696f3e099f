"""A dataset read, checked and split: a built-in source, a table file or what a user's loader gives.

Built-in sources and table files (see :mod:`trainable.sources`) and a user's loader returning
features and labels become a :class:`~trainable.data.tensors.TensorSplit`; a user's map-style
``torch.utils.data.Dataset`` a :class:`~trainable.data.datasets.DatasetSplit`. A loader may also
return its own ``{"train": ..., "val": ..., "test": ...}`` parts; then no split is drawn. Beside
a Dataset (``{"dataset": ds, "collate_fn": fn}``) or beside the parts, ``collate_fn`` is the
user's own batching (see :mod:`trainable.data.datasets`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Subset, TensorDataset

from trainable import user_code
from trainable.data.datasets import Collate, dataset_split
from trainable.data.split import PARTS, Indices, Split
from trainable.data.tensors import tensor_split
from trainable.sources import DataError, check_labels, read

# The data as its source gives it: arrays with their class names, a Dataset, or a mapping of
# the user's own parts (with a collate function, perhaps).
Loaded = tuple[np.ndarray, np.ndarray, tuple] | Dataset | Mapping
FORMS = ("train, val, test", "train, val, test, collate_fn", "dataset, collate_fn")


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
    return divided(source, loaded(source, label, seed), seed, (val_fraction, test_fraction))


def loaded(source: str, label: str | None, seed: int) -> Loaded:
    """The data of a built-in source or table file, or what the user's loader returns."""
    if not user_code.is_reference(source):
        return read(source, label, seed)
    fn = user_code.load(source, "dataset")
    try:
        value = fn(seed=seed) if user_code.accepts(fn, "seed") else fn()
    except Exception as err:
        raise user_code.raised("dataset", source, err) from err
    if isinstance(value, Mapping) or is_dataset(value):
        return value
    features, labels = pair(source, "its value", value)
    return features, labels, tuple(str(c) for c in range(int(labels.max()) + 1))


def divided(source: str, value: Loaded, seed: int, fractions: tuple[float, float]) -> Split:
    """``value`` split into train, val and test by ``seed``, or as the user's parts."""
    body, collate_fn = form(source, value) if isinstance(value, Mapping) else (value, None)
    if isinstance(body, Mapping):
        return _given_parts(source, body, collate_fn)
    if is_dataset(body):
        test, val, train = _order(len(body), seed, fractions)
        parts = [Subset(body, part.tolist()) for part in (train, val, test)]
        return dataset_split(source, body, parts, (train, val, test), collate_fn)
    features, labels, classes = body
    test, val, train = _order(len(labels), seed, fractions)
    return tensor_split(features, labels, classes, (train, val, test))


def _order(n: int, seed: int, fractions: tuple[float, float]) -> list[np.ndarray]:
    """Seeded test, validation and training row indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = (round(n * fraction) for fraction in fractions)
    return np.split(order, [n_test, n_test + n_val])


def form(reference: str, value: Mapping) -> tuple[Dataset | Mapping, Collate | None]:
    """The Dataset or the mapping of parts that a loader's mapping holds, and its collate_fn."""
    keys = set(value)
    if keys == set(PARTS):
        return value, None
    if keys == {*PARTS, "collate_fn"}:
        body = {part: value[part] for part in PARTS}
    elif keys == {"dataset", "collate_fn"} and is_dataset(value["dataset"]):
        body = value["dataset"]
    elif keys == {"dataset", "collate_fn"}:
        raise DataError(
            f"dataset {reference}: its dataset is {user_code.a_kind_of(value['dataset'])}; "
            "beside a collate_fn it must be a map-style torch.utils.data.Dataset"
        )
    else:
        raise DataError(
            f"dataset {reference} returned a mapping with keys {sorted(map(str, value))}; "
            f"its keys must be exactly {'; or '.join(FORMS)}"
        )
    if not callable(value["collate_fn"]):
        raise DataError(
            f"dataset {reference}: its collate_fn is {user_code.a_kind_of(value['collate_fn'])}; "
            "it must be a function of a list of items that returns (inputs, labels)"
        )
    return body, value["collate_fn"]


def _given_parts(reference: str, value: Mapping, collate_fn: Collate | None) -> Split:
    if collate_fn is not None or any(is_dataset(value[part]) for part in PARTS):
        parts = [
            value[part] if is_dataset(value[part]) else _tensor_dataset(reference, part, value)
            for part in PARTS
        ]
        return dataset_split(reference, value["train"], parts, _consecutive(parts), collate_fn)
    pairs = [pair(reference, part, value[part]) for part in PARTS]
    shapes = {x.shape[1:] for x, _ in pairs}
    if len(shapes) > 1:
        raise DataError(f"dataset {reference}: train, val and test features differ in shape")
    n = int(max(y.max() for _, y in pairs)) + 1
    features = np.concatenate([x for x, _ in pairs])
    labels = np.concatenate([y for _, y in pairs])
    classes = tuple(str(c) for c in range(n))
    return tensor_split(features, labels, classes, _consecutive([y for _, y in pairs]))


def _consecutive(parts: list[Any]) -> Indices:
    """The rows of parts given one after the other: the user's own train, val and test."""
    sizes = np.cumsum([len(part) for part in parts])
    train, val, test = np.split(np.arange(sizes[-1]), sizes[:2])
    return train, val, test


def _tensor_dataset(reference: str, part: str, value: Mapping) -> TensorDataset:
    """A ``(features, labels)`` part given beside Datasets, as a Dataset of float32 rows."""
    features, labels = pair(reference, part, value[part])
    return TensorDataset(torch.from_numpy(features.astype(np.float32)), torch.from_numpy(labels))


def pair(reference: str, part: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of ``(features, labels)`` arrays or tensors, checked."""
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise DataError(
            f"dataset {reference}: {part} is {user_code.a_kind_of(value)}; return "
            "(features, labels) arrays or tensors, a map-style torch.utils.data.Dataset, "
            "or a mapping of train/val/test parts"
        )
    features, labels = (_array(v) for v in value)
    if features is None or labels is None:
        raise DataError(
            f"dataset {reference}: {part} must hold numpy arrays or tensors, got "
            f"({type(value[0]).__name__}, {type(value[1]).__name__})"
        )
    if features.ndim < 2 or not np.issubdtype(features.dtype, np.number):
        raise DataError(
            f"dataset {reference}: {part} features must be numbers shaped (samples, ...), "
            f"got {features.dtype} of shape {features.shape}"
        )
    check_labels(reference, part, labels, len(features))
    return features, labels.astype(np.int64)


def _array(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    return None


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a map-style Dataset; an IterableDataset is refused."""
    if isinstance(value, IterableDataset):
        raise DataError(
            "an IterableDataset cannot be split or shuffled by index; return a map-style "
            "Dataset (with __len__ and __getitem__) or tensors"
        )
    return isinstance(value, Dataset)
