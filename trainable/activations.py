"""Activation functions, by the names a search space proposes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Maxout(nn.Module):
    """max(w_1.x + b_1, ..., w_k.x + b_k) over groups of ``pieces`` features (or channels).

    The layer before it emits ``pieces`` values per unit: a Linear ``pieces`` times as wide, or
    a convolution with ``pieces`` times the channels. Dimension 1 is the feature dimension of
    both an (N, F) batch and an (N, C, H, W) one.
    """

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (-1, self.pieces)).amax(dim=2)


ActivationFactory = Callable[[], nn.Module]

ACTIVATIONS: dict[str, ActivationFactory] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "elu": nn.ELU,
    "maxout": Maxout,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def factory(name: str) -> ActivationFactory:
    """The module factory of activation ``name``: each call makes a fresh module."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def widening(activation: ActivationFactory) -> int:
    """How many inputs the activation takes per output (Maxout's pieces; 1 for the others)."""
    return getattr(activation(), "pieces", 1)
