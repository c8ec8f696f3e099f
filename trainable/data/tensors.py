"""A split of features and labels as tensors resident on the trial's device, batched by slicing.

Built-in sources, table files and a user's loader returning features and labels (or its own
parts of them) become a :class:`TensorSplit`. Tabular (2-D) features are standardised with
training statistics only; images are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from trainable.data.batching import Batch, Batches, batches, checked
from trainable.data.split import Indices, Split
from trainable.factory import DataFacts

EVAL_CHUNK = 8192  # rows per forward pass when evaluating resident tensors


@dataclass(frozen=True)
class TensorSplit(Split):
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

    def to(self, device: torch.device | str) -> TensorSplit:
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return TensorSplit(**moved, classes=self.classes, indices=self.indices)

    def train_batches(
        self, batch_size: int, generator: torch.Generator, workers: int = 0
    ) -> Batches:
        """Shuffled mini-batches of the training rows, sliced on the device; a last batch of
        one row joins the one before (see :func:`trainable.data.batching.batch_sizes`)."""
        x, y = self.x_train, self.y_train
        return ((x[i], y[i]) for i in batches(len(y), batch_size, generator, x.device))

    def eval_batches(self, part: str, batch_size: int, workers: int = 0) -> Batches:
        """Chunks of :data:`EVAL_CHUNK` rows, whatever ``batch_size``: they only bound memory."""
        x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
        return (
            (x[s : s + EVAL_CHUNK], y[s : s + EVAL_CHUNK]) for s in range(0, len(y), EVAL_CHUNK)
        )

    def sample(self, rows: int, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``rows`` rows of ``part``."""
        return getattr(self, f"x_{part}")[:rows], getattr(self, f"y_{part}")[:rows]

    def checked_sample(self, reference: str, part: str, rows: int) -> Batch:
        return checked(self.sample(rows, part), f"dataset {reference}: a {part} batch")


def tensor_split(
    features: np.ndarray, labels: np.ndarray, classes: tuple, rows: Indices
) -> TensorSplit:
    """The rows ``rows`` (train, val, test) of the data as tensors, features standardised."""
    train, val, test = rows
    x = standardised(features, train)
    y = torch.from_numpy(labels.astype(np.int64))
    train, val, test = (torch.from_numpy(part) for part in rows)
    return TensorSplit(x[train], y[train], x[val], y[val], x[test], y[test], classes, rows)


def standardised(features: np.ndarray, train: np.ndarray) -> torch.Tensor:
    """Tabular features scaled with training statistics only (held-out rows must not leak into
    them); other shapes (images) as float32, unchanged."""
    if features.ndim != 2:
        return torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0)
    std[std == 0] = 1.0
    return torch.from_numpy(((features - mean) / std).astype(np.float32))
