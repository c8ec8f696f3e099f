"""One epoch of mini-batch training and one pass of evaluation, over batches on the device.

Batches are ``(inputs, labels)`` pairs already on the model's device: index slices of resident
tensors, or a DataLoader's batches (see :mod:`trainable.data.batching`), where ``inputs`` is a
tensor, a tuple of tensors or a mapping of names to tensors, which
:func:`trainable.data.batching.call` hands to the model. A training epoch keeps each batch's
loss and predictions on the device and reduces them once at its end: no per-batch bookkeeping
ops, and a GPU is not synchronised after every batch. Training batches never hold a single
row, unless the batch size is 1 or the split has one row (see
:func:`trainable.data.batching.batch_sizes`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from trainable.data.batching import Batch, call

_loss = nn.CrossEntropyLoss(reduction="sum")


@dataclass(frozen=True)
class EpochMetrics:
    loss: float
    accuracy: float
    rows: int  # rows the pass read: a training epoch's show that no row was dropped


def train_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
) -> EpochMetrics:
    """One pass over the batches; metrics are the per-batch training values, weighted by size."""
    model.train()
    losses, predictions, targets = [], [], []
    for xb, yb in batches:
        scores = call(model, xb)
        loss = nn.functional.cross_entropy(scores, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Kept as they are; the epoch's totals are reduced once, after the last batch.
        losses.append(loss.detach())
        predictions.append(scores.detach().argmax(dim=1))
        targets.append(yb)
    counts = [len(t) for t in targets]
    rows = sum(counts)
    sizes = torch.tensor(counts, device=losses[0].device)
    total_loss = (torch.stack(losses) * sizes).sum()
    hits = (torch.cat(predictions) == torch.cat(targets)).sum()
    return EpochMetrics(total_loss.item() / rows, hits.item() / rows, rows)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch]) -> EpochMetrics:
    """Mean loss and accuracy over the batches (chunks of a split bound the memory)."""
    model.eval()
    total_loss, hits, rows = None, None, 0
    for xb, yb in batches:
        scores = call(model, xb)
        loss, hit = _loss(scores, yb), (scores.argmax(dim=1) == yb).sum()
        total_loss = loss if total_loss is None else total_loss + loss
        hits = hit if hits is None else hits + hit
        rows += len(yb)
    return EpochMetrics(total_loss.item() / rows, hits.item() / rows, rows)
