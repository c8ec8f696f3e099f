"""A dataset as seeded train/validation/test parts: resident tensors, or Datasets for a DataLoader.

Built-in sources and table files (see :mod:`trainable.sources`) and a user's loader returning
features and labels become a :class:`Split` of tensors that stay on the trial's device, batched
by index slicing. A user's map-style ``torch.utils.data.Dataset`` becomes a
:class:`DatasetSplit`, batched by a DataLoader. A loader may also return its own
``{"train": ..., "val": ..., "test": ...}`` parts; then no split is drawn. Tabular (2-D)
features are standardised with training statistics only; images and Datasets are left as they
are. Validation picks models; the test split is read once, after the sweep.

Each split keeps the row indices its parts were drawn with, and :func:`fingerprint` gives the
SHA-256 of the data as loaded and of those indices, which a sweep's manifest records.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset

from trainable import user_code
from trainable.factory import DataFacts
from trainable.sources import DataError, read

PARTS = ("train", "val", "test")
EVAL_CHUNK = 8192  # rows per forward pass when evaluating resident tensors
Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]
# The rows of the data as loaded that went into train, val and test: the seed's draw, or the
# positions of the user's own parts one after the other.
Indices = tuple[np.ndarray, np.ndarray, np.ndarray]
# The data as its source gives it: arrays with their class names, a Dataset, or a mapping of
# the user's own parts.
Loaded = tuple[np.ndarray, np.ndarray, tuple] | Dataset | Mapping


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
        """Shuffled mini-batches of the training rows, sliced on the device."""
        x, y = self.x_train, self.y_train
        return ((x[i], y[i]) for i in batches(len(y), batch_size, generator, x.device))

    def eval_batches(self, part: str) -> Batches:
        x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
        return (
            (x[s : s + EVAL_CHUNK], y[s : s + EVAL_CHUNK]) for s in range(0, len(y), EVAL_CHUNK)
        )

    def sample(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x_train[:rows], self.y_train[:rows]


@dataclass(frozen=True)
class DatasetSplit:
    """Three map-style Datasets of ``(features, label)`` items, read through DataLoaders."""

    train: Dataset
    val: Dataset
    test: Dataset
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    indices: Indices

    @property
    def facts(self) -> DataFacts:
        return DataFacts(len(self.classes), self.input_shape)

    def to(self, device: torch.device | str) -> DatasetSplit:
        return self  # batches move as they are read

    def sample(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.train[i] for i in range(min(rows, len(self.train)))]
        x, y = torch.utils.data.default_collate(items)
        return x, y


def loader(
    dataset: Dataset,
    *,
    batch_size: int,
    generator: torch.Generator | None,
    workers: int,
    device: torch.device,
) -> DataLoader:
    """A DataLoader over ``dataset``: shuffled by ``generator`` (training) or in order.

    ``workers`` processes read ahead, and on a GPU batches come from pinned memory.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=generator is not None,
        generator=generator,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )


def on_device(batches: DataLoader, device: torch.device) -> Batches:
    non_blocking = device.type == "cuda"
    return (
        (x.to(device, non_blocking=non_blocking), y.to(device, non_blocking=non_blocking))
        for x, y in batches
    )


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
    every item's features and label as tensors, read once in index order (a Dataset that
    augments at random gives another digest each time); for the user's own parts, each part so,
    train, val, test. ``split_sha256`` covers the train, val and test row indices.
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


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Shuffled mini-batch index tensors covering ``range(n)`` once (the last may be short)."""
    order = torch.randperm(n, generator=generator).to(device, non_blocking=True)
    return iter(order.split(batch_size))


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
    if isinstance(loaded, Mapping):
        return _given_parts(source, loaded)
    if _is_dataset(loaded):
        test, val, train = _order(len(loaded), seed, fractions)
        parts = [Subset(loaded, part.tolist()) for part in (train, val, test)]
        return _dataset_split(source, loaded, parts, (train, val, test))
    return _split(*loaded, seed, fractions)


def _given_parts(reference: str, value: Mapping) -> Split | DatasetSplit:
    if set(value) != set(PARTS):
        raise DataError(
            f"dataset {reference} returned a mapping with keys {sorted(map(str, value))}; "
            f"its keys must be exactly {', '.join(PARTS)}"
        )
    if any(_is_dataset(value[part]) for part in PARTS):
        parts = [
            value[part] if _is_dataset(value[part]) else _tensor_dataset(reference, part, value)
            for part in PARTS
        ]
        return _dataset_split(reference, value["train"], parts, _consecutive(parts))
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
    _check_labels(reference, part, labels, len(features))
    return features, labels.astype(np.int64)


def _check_labels(reference: str, part: str, labels: np.ndarray, rows: int) -> None:
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


def _dataset_split(
    reference: str, whole: Dataset, parts: list[Dataset], indices: Indices
) -> DatasetSplit:
    for name, part in zip(PARTS, parts, strict=True):
        if len(part) == 0:
            raise DataError(f"dataset {reference}: the {name} part is empty")
    shapes = [tuple(_item(reference, part, 0)[0].shape) for part in parts]
    if len(set(shapes)) > 1:
        raise DataError(
            f"dataset {reference}: train, val and test features differ in shape: "
            + ", ".join(f"{name} {shape}" for name, shape in zip(PARTS, shapes, strict=True))
        )
    return DatasetSplit(*parts, _dataset_classes(reference, whole, parts), shapes[0], indices)


def _item(reference: str, dataset: Dataset, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        item = dataset[index]
    except Exception as err:
        raise user_code.raised("dataset", f"{reference} item {index}", err) from err
    if not (isinstance(item, tuple | list) and len(item) == 2):
        raise DataError(
            f"dataset {reference}: item {index} is {user_code.a_kind_of(item)}; a Dataset's items "
            "must be (features, label) pairs"
        )
    x, y = (torch.as_tensor(v) for v in item)
    if y.ndim != 0 or y.is_floating_point() or y.item() < 0:
        raise DataError(
            f"dataset {reference}: the label of item {index} must be a class index (an int "
            f">= 0), got {item[1]!r}"
        )
    return x, y


def _dataset_classes(reference: str, whole: Dataset, parts: list[Dataset]) -> tuple[str, ...]:
    """The class names: the Dataset's ``classes``, or read off its labels.

    ``targets`` (as torchvision's datasets have) gives the labels at once; otherwise every item
    is read once, so a Dataset with ``classes`` or ``targets`` starts faster.
    """
    classes = getattr(whole, "classes", None)
    if classes is not None:
        return tuple(str(c) for c in classes)
    targets = getattr(whole, "targets", None)
    if targets is not None:
        labels = np.asarray(targets)
        _check_labels(reference, "targets", labels, len(labels))
    else:
        labels = np.array(
            [int(_item(reference, part, i)[1]) for part in parts for i in range(len(part))]
        )
    return tuple(str(c) for c in range(int(labels.max()) + 1))


def _content_digest(source: str, loaded: Loaded) -> str:
    """The SHA-256 of the data as loaded (see :func:`fingerprint`)."""
    digest = hashlib.sha256()
    if isinstance(loaded, Mapping):
        for part in PARTS:
            _update_part(digest, source, part, loaded[part])
    elif _is_dataset(loaded):
        _update_part(digest, source, "its value", loaded)
    else:
        features, labels, classes = loaded
        _update(digest, features)
        _update(digest, labels.astype(np.int64))  # as trained on, whatever the platform's int
        digest.update(json.dumps(list(classes)).encode())
    return digest.hexdigest()


def _update_part(digest: Any, source: str, part: str, value: Any) -> None:
    """A part's features and labels, or a Dataset's items in index order, as tensors."""
    if not _is_dataset(value):
        for array in _pair(source, part, value):
            _update(digest, array)
        return
    for index in range(len(value)):
        for tensor in _item(source, value, index):
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())


def _update(digest: Any, array: np.ndarray) -> None:
    """An array's dtype, shape and values, little-endian: the same bytes on every machine."""
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    digest.update(f"{little.dtype.str}{little.shape}".encode())
    digest.update(little.tobytes())
