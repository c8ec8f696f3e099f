"""The classifier: an MLP that ends in logits (CrossEntropyLoss applies the softmax itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class Maxout(nn.Module):
    """max(w_1.x + b_1, ..., w_k.x + b_k): the preceding Linear emits ``pieces`` values per unit."""

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(dim=-1)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "elu": nn.ELU,
    "maxout": Maxout,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def build_mlp(
    in_features: int, num_classes: int, hidden: Sequence[int], activation: str
) -> nn.Sequential:
    """Linear -> activation blocks, then a Linear head producing one logit per class."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        act = ACTIVATIONS[activation]()
        layers += [nn.Linear(width, size * getattr(act, "pieces", 1)), act]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
