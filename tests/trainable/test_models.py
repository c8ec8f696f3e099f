"""Tests for trainable.models: every activation builds a logit-producing MLP; Maxout is exact."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainable.models import ACTIVATIONS, Maxout, build_mlp

ALL_ACTIVATIONS = sorted(ACTIVATIONS)


def _inputs(batch: int = 16, features: int = 6) -> torch.Tensor:
    return torch.randn(batch, features, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_outputs_one_logit_per_class(activation: str) -> None:
    torch.manual_seed(0)
    model = build_mlp(6, 5, (8, 4), activation)
    out = model(_inputs())
    assert out.shape == (16, 5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_outputs_are_unnormalised_logits(activation: str) -> None:
    torch.manual_seed(0)
    model = build_mlp(6, 5, (8,), activation)
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in model.modules())
    assert isinstance(model[-1], nn.Linear)
    out = model(_inputs()).detach()
    assert not torch.allclose(out.sum(dim=1), torch.ones(16), atol=1e-3)
    assert (out < 0).any()


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_gradients_reach_every_parameter(activation: str) -> None:
    torch.manual_seed(0)
    model = build_mlp(6, 3, (8, 8), activation)
    target = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(1))
    nn.functional.cross_entropy(model(_inputs()), target).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_mlp_layer_structure(activation: str) -> None:
    model = build_mlp(6, 3, (8, 4), activation)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [lin.in_features for lin in linears] == [6, 8, 4]
    pieces = getattr(ACTIVATIONS[activation](), "pieces", 1)
    assert [lin.out_features for lin in linears] == [8 * pieces, 4 * pieces, 3]
    # Each hidden block gets its own activation instance.
    acts = [m for m in model if not isinstance(m, nn.Linear)]
    assert len(acts) == 2
    assert acts[0] is not acts[1]


def test_mlp_without_hidden_layers_is_a_single_linear() -> None:
    model = build_mlp(6, 3, (), "relu")
    assert len(model) == 1
    assert isinstance(model[0], nn.Linear)


def test_maxout_takes_max_over_consecutive_pieces() -> None:
    x = torch.tensor([[1.0, 5.0, 3.0, 2.0, -4.0, -1.0], [0.0, -2.0, 7.0, 7.5, 9.0, 8.0]])
    torch.testing.assert_close(Maxout(2)(x), torch.tensor([[5.0, 3.0, -1.0], [0.0, 7.5, 9.0]]))
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, 2.0], [7.0, 9.0]]))


def test_maxout_mlp_widens_preceding_linear_by_pieces() -> None:
    model = build_mlp(4, 3, (5, 7), "maxout")
    pieces = model[1].pieces
    assert isinstance(model[1], Maxout)
    assert pieces == 2
    assert (model[0].in_features, model[0].out_features) == (4, 5 * pieces)
    assert (model[2].in_features, model[2].out_features) == (5, 7 * pieces)
    assert (model[4].in_features, model[4].out_features) == (7, 3)
    hidden = model[1](model[0](torch.randn(2, 4)))
    assert hidden.shape == (2, 5)


def test_unknown_activation_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown activation 'swish'") as info:
        build_mlp(4, 2, (8,), "swish")
    for name in ACTIVATIONS:
        assert name in str(info.value)
