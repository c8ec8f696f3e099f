"""A user's data, as a map-style ``torch.utils.data.Dataset``: the digits as 1x8x8 images.

    python -m sweeps.run --model examples/my_models.py:SmallCNN \
        --dataset examples/my_data.py:load --space examples/my_space.py:space

The sweep splits it 60/20/20 into train, validation and test with the sweep seed, and reads it
through a DataLoader. ``load`` may take ``seed``; it may also return tensors or numpy arrays
``(features, labels)``, or ``{"train": ..., "val": ..., "test": ...}`` with splits of its own.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset


class DigitImages(Dataset):
    def __init__(self) -> None:
        images, labels = load_digits(return_X_y=True)
        self.images = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16
        self.targets = torch.tensor(labels)  # read at once for the number of classes

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]


def load() -> Dataset:
    return DigitImages()


def load_tensors(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same digits as resident tensors (the faster path for data that fits), shuffled by
    the sweep seed to show that a loader may take it."""
    dataset = DigitImages()
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return dataset.images[order], dataset.targets[order]
