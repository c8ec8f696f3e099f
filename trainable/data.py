"""A dataset as seeded train/validation/test parts: resident tensors, or Datasets for a DataLoader.

Built-in sources and table files (see :mod:`trainable.sources`) and a user's loader returning
features and labels become a :class:`Split` of tensors that stay on the trial's device, batched
by index slicing. A user's map-style ``torch.utils.data.Dataset`` becomes a
:class:`~trainable.datasets.DatasetSplit`, batched by a DataLoader. A loader may also return its
own ``{"train": ..., "val": ..., "test": ...}`` parts; then no split is drawn. Beside a Dataset
(``{"dataset": ds, "collate_fn": fn}``) or beside the parts, ``collate_fn`` is the user's own
batching (see :mod:`trainable.datasets`). Tabular (2-D) features are standardised with training
statistics only; images and Datasets are left as they are. Validation picks models; the test
split is read once, after the sweep.

Each split keeps the row indices its parts were drawn with, and :func:`fingerprint` gives the
SHA-256 of the data as loaded and of those indices, which a sweep's manifest records.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Subset, TensorDataset

from trainable import user_code
from trainable.batching import Batches, batches
from trainable.datasets import PARTS, Collate, DatasetSplit, Indices, dataset_split, update_digest
from trainable.factory import DataFacts
from trainable.sources import DataError, check_labels, read

EVAL_CHUNK = 8192  # rows per forward pass when evaluating resident tensors
# The data as its source gives it: arrays with their class names, a Dataset, or a mapping of
# the user's own parts (with a collate function, perhaps).
Loaded = tuple[np.ndarray, np.ndarray, tuple] | Dataset | Mapping
FORMS = ("train, val, test", "train, val, test, collate_fn", "dataset, collate_fn")


@dataclass(frozen=True)
class Split:
    """Features and integer labels of the three splits as tensors, on one device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    indices: Indices

    @property
    def facts(self) -> DataFacts:
        return DataFacts(len(self.classes), tuple(self.x_train.shape[1:]))

    @property
    def num_features(self) -> int:
        return self.facts.num_features

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> Split:
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return Split(**moved, classes=self.classes, indices=self.indices)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Batches:
        """Shuffled mini-batches of the training rows, sliced on the device; a last batch of
        one row joins the one before (see :func:`trainable.batching.batch_sizes`)."""
        x, y = self.x_train, self.y_train
        return ((x[i], y[i]) for i in batches(len(y), batch_size, generator, x.device))

    def eval_batches(self, part: str) -> Batches:
        x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
        return (
            (x[s : s + EVAL_CHUNK], y[s : s + EVAL_CHUNK]) for s in range(0, len(y), EVAL_CHUNK)
        )

    def sample(self, rows: int, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``rows`` rows of ``part``."""
        return getattr(self, f"x_{part}")[:rows], getattr(self, f"y_{part}")[:rows]


@functools.lru_cache(maxsize=4)
def load(
    source: str,
    *,
    label: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> Split | DatasetSplit:
    """Load ``source`` and split it; cached per process so a reused worker reads it once."""
    return _divided(source, _loaded(source, label, seed), seed, (val_fraction, test_fraction))


def fingerprint(
    source: str,
    *,
    label: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> dict[str, Any]:
    """SHA-256 digests of the data that :func:`load` splits and of its split, and the rows of
    each part: what a sweep's manifest records to tell the same data from other data.

    ``data_sha256`` covers the data as its source gives it, before any standardisation: features
    and labels as arrays (each with its dtype and shape) and the class names; for a Dataset,
    every item's features (each tensor of a tuple or mapping) and label as tensors, read once in
    index order (a Dataset that augments at random gives another digest each time), or with a
    collate function its collated batches in index order; for the user's own parts, each part
    so, train, val, test. ``split_sha256`` covers the train, val and test row indices.
    """
    loaded = _loaded(source, label, seed)
    split = _divided(source, loaded, seed, (val_fraction, test_fraction))
    indices = hashlib.sha256()
    for part in split.indices:
        _update(indices, np.asarray(part, dtype=np.int64))
    return {
        "data_sha256": _content_digest(source, loaded),
        "split_sha256": indices.hexdigest(),
        "rows": {name: len(part) for name, part in zip(PARTS, split.indices, strict=True)},
    }


def _order(n: int, seed: int, fractions: tuple[float, float]) -> list[np.ndarray]:
    """Seeded test, validation and training row indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = (round(n * fraction) for fraction in fractions)
    return np.split(order, [n_test, n_test + n_val])


def _split(
    features: np.ndarray,
    labels: np.ndarray,
    classes: tuple,
    seed: int,
    fractions: tuple[float, float],
) -> Split:
    test, val, train = _order(len(labels), seed, fractions)
    x = _standardised(features, train)
    y = torch.from_numpy(labels.astype(np.int64))
    rows = (train, val, test)
    train, val, test = (torch.from_numpy(part) for part in rows)
    return Split(x[train], y[train], x[val], y[val], x[test], y[test], classes, rows)


def _standardised(features: np.ndarray, train: np.ndarray) -> torch.Tensor:
    """Tabular features scaled with training statistics only (held-out rows must not leak into
    them); other shapes (images) as float32, unchanged."""
    if features.ndim != 2:
        return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std[std == 0] = 1.0
    return torch.from_numpy(((features - mean) / std).astype(np.float32))


def _loaded(source: str, label: str | None, seed: int) -> Loaded:
    """The data of a built-in source or table file, or what the user's loader returns."""
    if not user_code.is_reference(source):
        return read(source, label, seed)
    fn = user_code.load(source, "dataset")
    try:
        value = fn(seed=seed) if user_code.accepts(fn, "seed") else fn()
    except Exception as err:
        raise user_code.raised("dataset", source, err) from err
    if isinstance(value, Mapping) or _is_dataset(value):
        return value
    features, labels = _pair(source, "its value", value)
    return features, labels, tuple(str(c) for c in range(int(labels.max()) + 1))


def _divided(
    source: str, loaded: Loaded, seed: int, fractions: tuple[float, float]
) -> Split | DatasetSplit:
    body, collate_fn = _form(source, loaded) if isinstance(loaded, Mapping) else (loaded, None)
    if isinstance(body, Mapping):
        return _given_parts(source, body, collate_fn)
    if _is_dataset(body):
        test, val, train = _order(len(body), seed, fractions)
        parts = [Subset(body, part.tolist()) for part in (train, val, test)]
        return dataset_split(source, body, parts, (train, val, test), collate_fn)
    return _split(*body, seed, fractions)


def _form(reference: str, value: Mapping) -> tuple[Dataset | Mapping, Collate | None]:
    """The Dataset or the mapping of parts that a loader's mapping holds, and its collate_fn."""
    keys = set(value)
    if keys == set(PARTS):
        return value, None
    if keys == {*PARTS, "collate_fn"}:
        body = {part: value[part] for part in PARTS}
    elif keys == {"dataset", "collate_fn"} and _is_dataset(value["dataset"]):
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


def _given_parts(
    reference: str, value: Mapping, collate_fn: Collate | None
) -> Split | DatasetSplit:
    if collate_fn is not None or any(_is_dataset(value[part]) for part in PARTS):
        parts = [
            value[part] if _is_dataset(value[part]) else _tensor_dataset(reference, part, value)
            for part in PARTS
        ]
        return dataset_split(reference, value["train"], parts, _consecutive(parts), collate_fn)
    pairs = [_pair(reference, part, value[part]) for part in PARTS]
    shapes = {x.shape[1:] for x, _ in pairs}
    if len(shapes) > 1:
        raise DataError(f"dataset {reference}: train, val and test features differ in shape")
    n = int(max(y.max() for _, y in pairs)) + 1
    features = np.concatenate([x for x, _ in pairs])
    labels = np.concatenate([y for _, y in pairs])
    rows = _consecutive([y for _, y in pairs])
    train, val, test = rows
    x = _standardised(features, train)
    y = torch.from_numpy(labels)
    classes = tuple(str(c) for c in range(n))
    return Split(x[train], y[train], x[val], y[val], x[test], y[test], classes, rows)


def _consecutive(parts: list[Any]) -> Indices:
    """The rows of parts given one after the other: the user's own train, val and test."""
    sizes = np.cumsum([len(part) for part in parts])
    train, val, test = np.split(np.arange(sizes[-1]), sizes[:2])
    return train, val, test


def _tensor_dataset(reference: str, part: str, value: Mapping) -> TensorDataset:
    """A ``(features, labels)`` part given beside Datasets, as a Dataset of float32 rows."""
    features, labels = _pair(reference, part, value[part])
    return TensorDataset(torch.from_numpy(features.astype(np.float32)), torch.from_numpy(labels))


def _pair(reference: str, part: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
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


def _is_dataset(value: Any) -> bool:
    if isinstance(value, IterableDataset):
        raise DataError(
            "an IterableDataset cannot be split or shuffled by index; return a map-style "
            "Dataset (with __len__ and __getitem__) or tensors"
        )
    return isinstance(value, Dataset)


def _content_digest(source: str, loaded: Loaded) -> str:
    """The SHA-256 of the data as loaded (see :func:`fingerprint`)."""
    digest = hashlib.sha256()
    body, collate_fn = _form(source, loaded) if isinstance(loaded, Mapping) else (loaded, None)
    if isinstance(body, Mapping):
        for part in PARTS:
            _update_part(digest, source, part, body[part], collate_fn)
    elif _is_dataset(body):
        _update_part(digest, source, "its value", body, collate_fn)
    else:
        features, labels, classes = body
        _update(digest, features)
        _update(digest, labels.astype(np.int64))  # as trained on, whatever the platform's int
        digest.update(json.dumps(list(classes)).encode())
    return digest.hexdigest()


def _update_part(
    digest: Any, source: str, part: str, value: Any, collate_fn: Collate | None
) -> None:
    """A part's features and labels, or a Dataset's items in index order, as tensors."""
    if not _is_dataset(value):
        for array in _pair(source, part, value):
            _update(digest, array)
        return
    update_digest(digest, source, part, value, collate_fn)


def _update(digest: Any, array: np.ndarray) -> None:
    """An array's dtype, shape and values, little-endian: the same bytes on every machine."""
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    digest.update(f"{little.dtype.str}{little.shape}".encode())
    digest.update(little.tobytes())
