"""Tests for trainable.loop: train_epoch learns deterministically; evaluate is exact, chunkable."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainable.data.batching import batches
from trainable.loop import evaluate, train_epoch

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


def _blobs(n: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well-separated Gaussian blobs in 2-D: a linearly separable problem."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    centres = torch.tensor([[-2.0, -2.0], [2.0, 2.0]])
    x = centres[y] + 0.5 * torch.randn(n, 2, generator=g)
    return x, y


def _shuffled(x: torch.Tensor, y: torch.Tensor, size: int, generator: torch.Generator) -> Batches:
    return ((x[i], y[i]) for i in batches(len(y), size, generator, x.device))


def _chunks(x: torch.Tensor, y: torch.Tensor, size: int) -> Batches:
    return ((x[s : s + size], y[s : s + size]) for s in range(0, len(y), size))


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))


def test_train_epoch_reduces_loss_on_separable_problem() -> None:
    x, y = _blobs()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    epochs = [train_epoch(model, _shuffled(x, y, 16, g), opt) for _ in range(6)]
    losses = [m.loss for m in epochs]
    assert losses[-1] < losses[0] / 2
    assert epochs[-1].accuracy > 0.95
    final = evaluate(model, [(x, y)])
    assert final.accuracy == 1.0
    assert final.loss < losses[0]


def test_train_epoch_reports_mean_loss_before_update_for_a_single_batch() -> None:
    x, y = _blobs(40)
    model = _model()
    expected_loss = nn.functional.cross_entropy(model(x), y).item()
    expected_acc = (model(x).argmax(dim=1) == y).float().mean().item()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = train_epoch(model, [(x, y)], opt)
    assert metrics.loss == pytest.approx(expected_loss, rel=1e-5)
    assert metrics.accuracy == pytest.approx(expected_acc)
    # ...and the parameters did move.
    assert nn.functional.cross_entropy(model(x), y).item() < expected_loss


def test_train_epoch_weights_a_short_last_batch_by_its_size() -> None:
    x, y = _blobs(50)
    model = _model(2)
    with torch.no_grad():
        logits = model(x)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the metrics of fixed weights
    g = torch.Generator().manual_seed(0)
    metrics = train_epoch(model, _shuffled(x, y, 16, g), frozen)
    assert metrics.loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert metrics.accuracy == (logits.argmax(1) == y).double().mean().item()


def test_train_epoch_takes_a_dataloaders_batches() -> None:
    x, y = _blobs(50)
    model = _model(2)
    with torch.no_grad():
        logits = model(x)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    metrics = train_epoch(model, loader, frozen)
    assert metrics.loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert metrics.accuracy == (logits.argmax(1) == y).double().mean().item()


def test_train_epoch_leaves_model_in_train_mode_and_evaluate_in_eval_mode() -> None:
    x, y = _blobs(20)
    model = _model()
    evaluate(model, [(x, y)])
    assert not model.training
    g = torch.Generator().manual_seed(0)
    train_epoch(model, _shuffled(x, y, 8, g), torch.optim.SGD(model.parameters(), lr=0.1))
    assert model.training


def test_evaluate_matches_cross_entropy_over_whole_set() -> None:
    x, y = _blobs(50)
    model = _model(3)
    metrics = evaluate(model, [(x, y)])
    with torch.no_grad():
        logits = model(x)
    assert metrics.loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert metrics.accuracy == pytest.approx((logits.argmax(1) == y).double().mean().item())


def test_evaluate_does_not_track_gradients() -> None:
    x, y = _blobs(10)
    model = _model()
    evaluate(model, [(x, y)])
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("batch_size", [1, 7, 49, 50])
def test_evaluate_chunking_matches_single_chunk(batch_size: int) -> None:
    x, y = _blobs(50)
    model = _model(5)
    whole = evaluate(model, _chunks(x, y, 10_000))
    chunked = evaluate(model, _chunks(x, y, batch_size))
    assert chunked.loss == pytest.approx(whole.loss, rel=1e-6)
    assert chunked.accuracy == whole.accuracy


def test_train_epoch_is_deterministic_given_generator_seed() -> None:
    x, y = _blobs()
    base = _model()

    def run(seed: int) -> tuple[list[float], nn.Module]:
        model = copy.deepcopy(base)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        g = torch.Generator().manual_seed(seed)
        return [train_epoch(model, _shuffled(x, y, 8, g), opt).loss for _ in range(3)], model

    losses_a, model_a = run(7)
    losses_b, model_b = run(7)
    losses_c, model_c = run(8)
    assert losses_a == losses_b
    for pa_, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(pa_, pb)
    assert losses_a != losses_c
    assert not all(
        torch.equal(pa_, pc)
        for pa_, pc in zip(model_a.parameters(), model_c.parameters(), strict=True)
    )
