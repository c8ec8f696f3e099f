"""One epoch of mini-batch training and one pass of evaluation, on tensors already on the device.

Losses and hit counts accumulate on the device and are read once per epoch, so a GPU is not
synchronised after every batch.
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
    total_loss = torch.zeros((), device=x.device)
    hits = torch.zeros((), device=x.device, dtype=torch.long)
    for index in batches(len(y), batch_size, generator, x.device):
        xb, yb = x[index], y[index]
        logits = model(xb)
        loss = _loss(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        (loss / len(index)).backward()
        optimizer.step()
        total_loss += loss.detach()
        hits += (logits.detach().argmax(dim=1) == yb).sum()
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
