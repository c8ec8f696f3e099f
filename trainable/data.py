"""Datasets (see :mod:`trainable.sources`) as seeded, standardised train/validation/test tensors.

Validation picks models; the test split is read once, after the sweep.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np
import torch

from trainable.sources import read


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
    features, labels, classes = read(source, label, seed)
    return _split(features, labels, classes, seed, val_fraction, test_fraction)


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Shuffled mini-batch index tensors covering ``range(n)`` once (the last may be short)."""
    order = torch.randperm(n, generator=generator).to(device, non_blocking=True)
    return iter(order.split(batch_size))


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
