"""A dataset as seeded train/validation/test parts: resident tensors, or Datasets for a DataLoader.

Built-in sources and table files (see :mod:`trainable.sources`) and a user's loader returning
features and labels become a :class:`TensorSplit` of tensors that stay on the trial's device,
batched by index slicing. A user's map-style ``torch.utils.data.Dataset`` becomes a
:class:`DatasetSplit`, batched by a DataLoader. Both are a :class:`Split`, read the same way
(:meth:`Split.train_batches`, :meth:`Split.eval_batches`). Tabular (2-D) features are
standardised with training statistics only; images and Datasets are left as they are.
Validation picks models; the test split is read once, after the sweep.

Each split keeps the row indices its parts were drawn with, and :func:`fingerprint` gives the
SHA-256 of the data as loaded and of those indices, which a sweep's manifest records.

The modules: :mod:`~trainable.data.split` (the interface), :mod:`~trainable.data.tensors` and
:mod:`~trainable.data.datasets` (its two kinds), :mod:`~trainable.data.batching` (how batches
are cut, read, checked and handed to a model), :mod:`~trainable.data.loading` (reading and
checking a source, and splitting it) and :mod:`~trainable.data.fingerprints` (the digests).
"""

from __future__ import annotations

from trainable.data.batching import Batch, Batches, batches
from trainable.data.datasets import Collate, DatasetSplit
from trainable.data.fingerprints import fingerprint
from trainable.data.loading import load
from trainable.data.split import PARTS, Indices, Split
from trainable.data.tensors import EVAL_CHUNK, TensorSplit
from trainable.factory import DataFacts
from trainable.sources import DataError

__all__ = [
    "EVAL_CHUNK",
    "PARTS",
    "Batch",
    "Batches",
    "Collate",
    "DataError",
    "DataFacts",
    "DatasetSplit",
    "Indices",
    "Split",
    "TensorSplit",
    "batches",
    "fingerprint",
    "load",
]
