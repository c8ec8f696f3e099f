"""The built-in models: an MLP and a small CNN, both ending in one logit per class.

CrossEntropyLoss applies the softmax itself, so neither model has one. Their parameters are
filled by name (see :mod:`trainable.factory`): what the data tells (``num_features``,
``input_shape``, ``num_classes``), fixed ``model_args`` and searched hyperparameters alike.
torch is imported when a model is built, not with this module, so that the sweep's driver reads
their signatures (the names a search space may propose) without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# name -> import path of the factory, resolved like a user's ``module:attr``
MODELS = {"mlp": "trainable.models:mlp", "cnn": "trainable.models:cnn"}


def mlp(
    num_features: int,
    num_classes: int,
    hidden: Sequence[int] = (128, 128),
    activation: Callable[[], nn.Module] | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
) -> nn.Sequential:
    """Flatten, then Linear -> activation blocks of ``hidden`` sizes, then a Linear head.

    A searched ``hidden_size`` / ``num_layers`` replaces the width / depth of ``hidden``.
    ``activation`` defaults to ReLU.
    """
    from torch import nn

    from trainable.activations import widening

    act = activation or nn.ReLU
    layers: list[nn.Module] = [nn.Flatten()]
    width = num_features
    for size in _layer_sizes(hidden, hidden_size, num_layers):
        layers += [nn.Linear(width, size * widening(act)), act()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(
    input_shape: Sequence[int],
    num_classes: int,
    channels: Sequence[int] = (16, 32),
    hidden: Sequence[int] = (64,),
    activation: Callable[[], nn.Module] | None = None,
    dropout: float = 0.0,
) -> nn.Sequential:
    """3x3 convolution -> activation -> 2x2 max-pool blocks, then an MLP head over the maps.

    For image-shaped inputs ``(channels, height, width)``; a pool is skipped once the maps are
    1 pixel wide, so small images (the 8x8 digits) take several blocks.
    """
    from torch import nn

    from trainable.activations import widening

    if len(input_shape) != 3:
        raise ValueError(
            f"cnn needs image-shaped inputs (channels, height, width); the data gives "
            f"{tuple(input_shape)} per sample: use --dataset digit_images, or --model mlp"
        )
    act = activation or nn.ReLU
    pieces = widening(act)
    depth, height, width = input_shape
    layers: list[nn.Module] = []
    for out in channels:
        layers += [nn.Conv2d(depth, out * pieces, kernel_size=3, padding=1), act()]
        if min(height, width) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        depth = out
    layers.append(nn.Flatten())
    features = depth * height * width
    for size in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(features, size * pieces), act()]
        features = size
    layers += [nn.Dropout(dropout), nn.Linear(features, num_classes)]
    return nn.Sequential(*layers)


def _layer_sizes(
    hidden: Sequence[int], hidden_size: int | None, num_layers: int | None
) -> tuple[int, ...]:
    for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if hidden_size is None and num_layers is None:
        return tuple(hidden)
    size = hidden_size if hidden_size is not None else (hidden[0] if hidden else 128)
    layers = num_layers if num_layers is not None else len(hidden)
    return (size,) * layers
