"""One epoch of mini-batch training and one pass of evaluation, on tensors already on the device.

A training epoch keeps each batch's loss and predictions on the device and reduces them once at
its end: no per-batch bookkeeping ops, and a GPU is not synchronised after every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainable.data import batches

_loss = nn.CrossEntropyLoss(reduction="sum")


@dataclass(frozen=True)
class EpochMetrics:
    loss: float
    accuracy: float


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
) -> EpochMetrics:
    """One pass over ``x`` in shuffled mini-batches; metrics are the per-batch training values."""
    model.train()
    losses, predictions, targets = [], [], []
    for index in batches(len(y), batch_size, generator, x.device):
        xb, yb = x[index], y[index]
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Kept as they are; the epoch's totals are reduced once, after the last batch.
        losses.append(loss.detach())
        predictions.append(logits.detach().argmax(dim=1))
        targets.append(yb)
    sizes = torch.tensor([len(t) for t in targets], device=x.device)
    total_loss = (torch.stack(losses) * sizes).sum()
    hits = (torch.cat(predictions) == torch.cat(targets)).sum()
    return EpochMetrics(total_loss.item() / len(y), hits.item() / len(y))


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 8192
) -> EpochMetrics:
    """Mean loss and accuracy over ``x``, in large chunks to bound memory on big splits."""
    model.eval()
    total_loss = torch.zeros((), device=x.device)
    hits = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total_loss += _loss(logits, target)
        hits += (logits.argmax(dim=1) == target).sum()
    return EpochMetrics(total_loss.item() / len(y), hits.item() / len(y))
