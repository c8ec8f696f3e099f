"""SHA-256 digests of a dataset as loaded and of its split's row indices: what a sweep's manifest
records to tell the same data from other data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from trainable.data.datasets import Collate, update_digest
from trainable.data.loading import Loaded, divided, form, is_dataset, loaded, pair
from trainable.data.split import PARTS


def fingerprint(
    source: str,
    *,
    label: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> dict[str, Any]:
    """SHA-256 digests of the data that :func:`~trainable.data.loading.load` splits and of its
    split, and the rows of each part: what a sweep's manifest records to tell the same data from
    other data.

    ``data_sha256`` covers the data as its source gives it, before any standardisation: features
    and labels as arrays (each with its dtype and shape) and the class names; for a Dataset,
    every item's features (each tensor of a tuple or mapping) and label as tensors, read once in
    index order (a Dataset that augments at random gives another digest each time), or with a
    collate function its collated batches in index order; for the user's own parts, each part
    so, train, val, test. ``split_sha256`` covers the train, val and test row indices.
    """
    value = loaded(source, label, seed)
    split = divided(source, value, seed, (val_fraction, test_fraction))
    indices = hashlib.sha256()
    for part in split.indices:
        _update(indices, np.asarray(part, dtype=np.int64))
    return {
        "data_sha256": _content_digest(source, value),
        "split_sha256": indices.hexdigest(),
        "rows": {name: len(part) for name, part in zip(PARTS, split.indices, strict=True)},
    }


def _content_digest(source: str, value: Loaded) -> str:
    """The SHA-256 of the data as loaded (see :func:`fingerprint`)."""
    digest = hashlib.sha256()
    body, collate_fn = form(source, value) if isinstance(value, Mapping) else (value, None)
    if isinstance(body, Mapping):
        for part in PARTS:
            _update_part(digest, source, part, body[part], collate_fn)
    elif is_dataset(body):
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
    if not is_dataset(value):
        for array in pair(source, part, value):
            _update(digest, array)
        return
    update_digest(digest, source, part, value, collate_fn)


def _update(digest: Any, array: np.ndarray) -> None:
    """An array's dtype, shape and values, little-endian: the same bytes on every machine."""
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    digest.update(f"{little.dtype.str}{little.shape}".encode())
    digest.update(little.tobytes())
