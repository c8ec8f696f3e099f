"""What the loop, the check before Ray and the test reading ask of a split, whichever its kind.

A :class:`Split` is a dataset's train, validation and test parts with their class names and the
row indices they were drawn with, and the one way they are read: :meth:`Split.train_batches`
(an epoch's shuffled batches) and :meth:`Split.eval_batches` (a part in order), each a stream of
``(inputs, labels)`` batches on the split's device (see :mod:`trainable.data.batching`). Two
kinds implement it: :class:`~trainable.data.tensors.TensorSplit`, tensors resident on the device
and sliced by index, and :class:`~trainable.data.datasets.DatasetSplit`, a user's Datasets read
through DataLoaders.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from trainable.data.batching import Batch, Batches
from trainable.factory import DataFacts

PARTS = ("train", "val", "test")
# The rows of the data as loaded that went into train, val and test: the seed's draw, or the
# positions of the user's own parts one after the other.
Indices = tuple[np.ndarray, np.ndarray, np.ndarray]


class Split(ABC):
    """Train, validation and test parts, read in batches on one device."""

    classes: tuple[str, ...]
    indices: Indices

    @property
    @abstractmethod
    def facts(self) -> DataFacts:
        """What a model is told of the data."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_features(self) -> int:
        return self.facts.num_features

    @abstractmethod
    def to(self, device: torch.device | str) -> Split:
        """This split with its batches delivered on ``device``."""

    @abstractmethod
    def train_batches(
        self, batch_size: int, generator: torch.Generator, workers: int = 0
    ) -> Batches:
        """One epoch's shuffled batches of the training part, drawn from ``generator``; none of
        a single row (see :func:`trainable.data.batching.batch_sizes`). ``workers`` processes
        read ahead where the split reads items (a Dataset's); resident tensors need none."""

    @abstractmethod
    def eval_batches(self, part: str, batch_size: int, workers: int = 0) -> Batches:
        """The rows of ``part`` (``"val"`` or ``"test"``) in order, once."""

    @abstractmethod
    def sample(self, rows: int, part: str = "train") -> Batch:
        """The first ``rows`` rows of ``part`` as one batch, unchecked."""

    @abstractmethod
    def checked_sample(self, reference: str, part: str, rows: int) -> Batch:
        """The first ``rows`` rows of ``part`` as the loop reads them, checked: a batch that is
        not ``(inputs, labels)``, or the user's code raising, is a one-line error naming the
        dataset ``reference``."""
