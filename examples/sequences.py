"""Sequences of different lengths: a GRU, a Dataset of token ids and a padding collate function.

    python -m sweeps.run --model examples/sequences.py:GRUClassifier \
        --dataset examples/sequences.py:load --space examples/sequences.py:space \
        --model-args "{vocab_size: 6}" --num-trials 8 --max-epochs 12

Each sequence holds 4 to 24 tokens drawn from 1..5 (0 pads); its class is whether token 1
comes more often than token 2. ``load`` returns the Dataset with its own batching,
``{"dataset": ..., "collate_fn": pad}``: the sweep splits the Dataset 60/20/20 by the seed as
it splits any, and a DataLoader batches its items with ``pad``, whose ``(inputs, labels)`` has
inputs ``(tokens, lengths)``, so the model is called ``model(tokens, lengths)``. The data tells
the model ``num_classes`` only (``input_shape`` is ``()`` for batches of varying length): its
vocabulary comes from ``--model-args``, its widths from the space.
"""

from __future__ import annotations

import optuna
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import Dataset

PAD, A, B = 0, 1, 2  # the padding token, and the two tokens whose counts make the class


class Sequences(Dataset):
    def __init__(self, n: int = 600, vocab_size: int = 6, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        lengths = torch.randint(4, 25, (n,), generator=generator).tolist()
        self.sequences = [torch.randint(1, vocab_size, (k,), generator=generator) for k in lengths]
        # A list of the labels: read at once for the number of classes.
        self.targets = [int((s == A).sum() > (s == B).sum()) for s in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], self.targets[index]


def pad(items: list[tuple[torch.Tensor, int]]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """A batch of items as ``((tokens, lengths), labels)``, the tokens padded to the longest."""
    sequences, labels = zip(*items, strict=True)
    lengths = torch.tensor([len(s) for s in sequences])
    tokens = pad_sequence(list(sequences), batch_first=True, padding_value=PAD)
    return (tokens, lengths), torch.tensor(labels)


def load(seed: int) -> dict:
    return {"dataset": Sequences(seed=seed), "collate_fn": pad}


class GRUClassifier(nn.Module):
    def __init__(
        self,
        num_classes: int,
        vocab_size: int,
        embedding: int = 8,
        hidden: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding, padding_idx=PAD)
        self.gru = nn.GRU(embedding, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Packed, the GRU stops at each sequence's end (the lengths must be on the CPU).
        packed = pack_padded_sequence(
            self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed)  # the last hidden state of each sequence
        return self.head(last[-1])


def space(trial: optuna.Trial) -> None:
    trial.suggest_float("lr", 3e-3, 3e-2, log=True)
    trial.suggest_categorical("embedding", [4, 8])
    trial.suggest_categorical("hidden", [16, 32])
    trial.suggest_categorical("batch_size", [16, 32])
