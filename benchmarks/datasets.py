"""The benchmark's digits as a user's map-style Dataset: ``benchmarks.datasets:digits_dataset``;
and as 1x28x28 images (``benchmarks.datasets:digits_28``), the large workload's data.

The same rows as the built-in ``digits`` source (64 pixels each, scaled to [0, 1]), read item by
item, as a DataLoader reads a user's Dataset; the loop section times them through ``TrainingRun``
against the resident tensors of ``digits`` and against a hand-written DataLoader loop.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from trainable.sources import read


class DigitRows(Dataset):
    def __init__(self) -> None:
        features, labels, self.classes = read("digits", None, 0)
        self.features = torch.tensor(features, dtype=torch.float32) / 16  # ink counts, 0 to 16
        self.targets = torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.targets[index]


def digits_dataset() -> Dataset:
    return DigitRows()


def digits_28() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as 1x28x28 images: each 8x8 image scaled to [0, 1] and upsampled bilinearly,
    MNIST's size, so a convolution costs about 12 times what it costs on 8x8."""
    rows = DigitRows()
    images = rows.features.reshape(-1, 1, 8, 8)
    large = torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear")
    return large, rows.targets
