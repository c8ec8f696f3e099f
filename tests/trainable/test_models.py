"""Tests for trainable.models and trainable.activations: the built-in MLP and CNN give one logit
per class for every activation; hidden_size / num_layers override hidden; Maxout is exact."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from trainable import activations
from trainable.activations import ACTIVATIONS, Maxout
from trainable.models import _layer_sizes, cnn, mlp

ALL_ACTIVATIONS = sorted(ACTIVATIONS)


def _inputs(batch: int = 16, features: int = 6) -> torch.Tensor:
    return torch.randn(batch, features, generator=torch.Generator().manual_seed(0))


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_outputs_one_logit_per_class(activation: str) -> None:
    torch.manual_seed(0)
    model = mlp(6, 5, (8, 4), activation=ACTIVATIONS[activation])
    out = model(_inputs())
    assert out.shape == (16, 5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_outputs_are_unnormalised_logits(activation: str) -> None:
    torch.manual_seed(0)
    model = mlp(6, 5, (8,), activation=ACTIVATIONS[activation])
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    assert isinstance(model[-1], nn.Linear)
    out = model(_inputs()).detach()
    assert not torch.allclose(out.sum(dim=1), torch.ones(16), atol=1e-3)
    assert (out < 0).any()


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_gradients_reach_every_parameter(activation: str) -> None:
    torch.manual_seed(0)
    model = mlp(6, 3, (8, 8), activation=ACTIVATIONS[activation])
    target = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(1))
    nn.functional.cross_entropy(model(_inputs()), target).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_layer_structure(activation: str) -> None:
    model = mlp(6, 3, (8, 4), activation=ACTIVATIONS[activation])
    assert isinstance(model[0], nn.Flatten)
    linears = _linears(model)
    assert [lin.in_features for lin in linears] == [6, 8, 4]
    pieces = getattr(ACTIVATIONS[activation](), "pieces", 1)
    assert [lin.out_features for lin in linears] == [8 * pieces, 4 * pieces, 3]
    # Each hidden block gets its own activation instance.
    acts = [m for m in model if not isinstance(m, (nn.Linear, nn.Flatten))]
    assert len(acts) == 2
    assert acts[0] is not acts[1]
    assert all(type(a) is type(ACTIVATIONS[activation]()) for a in acts)


def test_mlp_defaults_to_two_relu_layers_of_128() -> None:
    model = mlp(6, 3)
    assert [lin.out_features for lin in _linears(model)] == [128, 128, 3]
    assert [type(m) for m in model if not isinstance(m, (nn.Linear, nn.Flatten))] == [nn.ReLU] * 2


def test_mlp_without_hidden_layers_is_a_single_linear() -> None:
    model = mlp(6, 3, (), activation=nn.ReLU)
    assert len(model) == 2
    assert isinstance(model[0], nn.Flatten)
    assert isinstance(model[1], nn.Linear)
    assert (model[1].in_features, model[1].out_features) == (6, 3)


def test_mlp_flattens_image_batches() -> None:
    model = mlp(64, 10, (8,))
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)


@pytest.mark.parametrize(
    "hidden, hidden_size, num_layers, expected",
    [
        ((128, 128), None, None, (128, 128)),
        ((64, 32, 16), None, None, (64, 32, 16)),
        ((64, 32), 16, None, (16, 16)),
        ((64, 32, 16), 8, None, (8, 8, 8)),
        ((64, 32), None, 3, (64, 64, 64)),
        ((64, 32), 16, 1, (16,)),
        ((), None, 2, (128, 128)),
        ((128, 128), 8, 4, (8, 8, 8, 8)),
    ],
)
def test_hidden_size_and_num_layers_override_hidden(
    hidden: tuple[int, ...], hidden_size: int | None, num_layers: int | None, expected: tuple
) -> None:
    assert _layer_sizes(hidden, hidden_size, num_layers) == expected
    model = mlp(6, 3, hidden, hidden_size=hidden_size, num_layers=num_layers)
    assert [lin.out_features for lin in _linears(model)] == [*expected, 3]


@pytest.mark.parametrize(
    "name, value", [("hidden_size", 0), ("hidden_size", -3), ("num_layers", 0), ("num_layers", -1)]
)
def test_a_non_positive_width_or_depth_is_refused(name: str, value: int) -> None:
    """Not read as unset (0 would otherwise build the default width)."""
    with pytest.raises(ValueError) as info:
        mlp(6, 3, (8,), **{name: value})
    assert str(info.value) == f"{name} must be at least 1, got {value}"


def test_maxout_takes_max_over_consecutive_pieces() -> None:
    x = torch.tensor([[1.0, 5.0, 3.0, 2.0, -4.0, -1.0], [0.0, -2.0, 7.0, 7.5, 9.0, 8.0]])
    torch.testing.assert_close(Maxout(2)(x), torch.tensor([[5.0, 3.0, -1.0], [0.0, 7.5, 9.0]]))
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, 2.0], [7.0, 9.0]]))


def test_maxout_on_feature_maps_takes_max_over_channel_pairs() -> None:
    x = torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).reshape(2, 4, 3, 3)
    x[:, 0] *= -1  # channel 1 wins the first pair, channel 3 the second
    torch.testing.assert_close(Maxout(2)(x), x[:, [1, 3]])


def test_maxout_mlp_widens_preceding_linear_by_pieces() -> None:
    model = mlp(4, 3, (5, 7), activation=Maxout)
    pieces = model[2].pieces
    assert isinstance(model[2], Maxout)
    assert pieces == 2
    assert (model[1].in_features, model[1].out_features) == (4, 5 * pieces)
    assert (model[3].in_features, model[3].out_features) == (5, 7 * pieces)
    assert (model[5].in_features, model[5].out_features) == (7, 3)
    hidden = model[2](model[1](torch.randn(2, 4)))
    assert hidden.shape == (2, 5)


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown activation 'swish'") as info:
        activations.factory("swish")
    for name in ACTIVATIONS:
        assert name in str(info.value)


def test_activation_factory_makes_a_fresh_module_each_call() -> None:
    make = activations.factory("leaky_relu")
    first, second = make(), make()
    assert first is not second
    assert isinstance(first, nn.LeakyReLU) and first.negative_slope == 0.1


@pytest.mark.parametrize("activation, pieces", [(Maxout, 2), (nn.ReLU, 1), (nn.Tanh, 1)])
def test_widening_is_the_activations_pieces(activation, pieces: int) -> None:
    assert activations.widening(activation) == pieces


def test_cnn_on_digit_images_pools_to_two_by_two_then_a_head() -> None:
    torch.manual_seed(0)
    model = cnn((1, 8, 8), 10)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 16), (16, 32)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 2
    assert [(lin.in_features, lin.out_features) for lin in _linears(model)] == [
        (32 * 2 * 2, 64),
        (64, 10),
    ]
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)


def test_cnn_skips_pooling_once_the_maps_are_one_pixel_wide() -> None:
    model = cnn((3, 4, 4), 5, channels=(4, 4, 4, 4), hidden=())
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 2  # 4x4 -> 2x2 -> 1x1
    assert _linears(model)[-1].in_features == 4
    assert model(torch.rand(2, 3, 4, 4)).shape == (2, 5)


def test_cnn_maxout_widens_convolutions_and_hidden_linears_by_pieces() -> None:
    model = cnn((1, 8, 8), 10, channels=(4,), hidden=(6,), activation=Maxout)
    conv = next(m for m in model if isinstance(m, nn.Conv2d))
    assert (conv.in_channels, conv.out_channels) == (1, 8)
    assert [(lin.in_features, lin.out_features) for lin in _linears(model)] == [
        (4 * 4 * 4, 12),
        (6, 10),
    ]
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_cnn_dropout_is_before_every_linear() -> None:
    model = cnn((1, 8, 8), 10, dropout=0.3)
    layers = list(model)
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            assert isinstance(layers[index - 1], nn.Dropout), index
            assert layers[index - 1].p == 0.3


@pytest.mark.parametrize("shape", [(64,), (8, 8), (1, 1, 8, 8)])
def test_cnn_refuses_inputs_that_are_not_images(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as info:
        cnn(shape, 10)
    message = str(info.value)
    assert f"the data gives {shape} per sample" in message
    assert "--dataset digit_images" in message
    assert "\n" not in message


def test_importing_the_models_does_not_import_torch() -> None:
    code = (
        "import sys, inspect; from trainable import models; "
        "inspect.signature(models.mlp); inspect.signature(models.cnn); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
