"""A user's model, in a file of its own: a small CNN for 1x8x8 digit images.

    python -m sweeps.run --model examples/my_models.py:SmallCNN --dataset digit_images \
        --space examples/my_space.py:space

Its constructor's parameters are filled by name: ``num_classes`` from the data, ``width`` and
``dropout`` from the search space, ``activation`` (a module factory such as ``nn.ReLU``) from
the space's activation name. It returns scores (logits): CrossEntropyLoss applies the softmax.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


class SmallCNN(nn.Module):
    def __init__(
        self,
        num_classes: int,
        width: int = 16,
        dropout: float = 0.0,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1), activation(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1), activation(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 2 * 2, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))
