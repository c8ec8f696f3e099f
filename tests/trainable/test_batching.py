"""Tests for trainable.data.batching: batches never of one row in training, a DataLoader's order as
before where nothing is joined, structured inputs moved and handed to the model, one-line
refusals of batches the loop cannot take."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from trainable.data import batching
from trainable.sources import DataError

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "n, batch_size, sizes",
    [
        (10, 4, [4, 4, 2]),
        (9, 4, [4, 5]),  # a last batch of one row joins the one before
        (5, 4, [5]),
        (4, 4, [4]),
        (3, 4, [3]),
        (1, 4, [1]),  # one row in all: nothing to join it to
        (3, 1, [1, 1, 1]),  # batches of one row are what was asked for
        (32 * 1000 + 1, 32, [32] * 999 + [33]),
    ],
)
def test_batch_sizes_join_a_last_batch_of_one_row(n, batch_size, sizes) -> None:
    assert batching.batch_sizes(n, batch_size) == sizes
    assert sum(sizes) == n


@pytest.mark.parametrize("n", [97, 100, 103])
def test_index_batches_cover_every_row_once_and_none_holds_one(n: int) -> None:
    parts = list(batching.batches(n, 8, torch.Generator().manual_seed(0), CPU))
    assert sorted(torch.cat(parts).tolist()) == list(range(n))
    assert [len(p) for p in parts] == batching.batch_sizes(n, 8)
    assert min(len(p) for p in parts) > 1


def test_index_batches_keep_the_order_of_the_permutation() -> None:
    order = torch.randperm(97, generator=torch.Generator().manual_seed(3))
    parts = list(batching.batches(97, 8, torch.Generator().manual_seed(3), CPU))
    assert torch.equal(torch.cat(parts), order)
    assert [len(p) for p in parts] == [8] * 11 + [9]


def _epoch(loader: DataLoader) -> list[list[int]]:
    return [xb.tolist() for xb, _ in loader]


@pytest.mark.parametrize("n, workers", [(50, 0), (49, 0), (50, 1)])
def test_a_training_loader_reads_as_a_shuffled_dataloader_did(n: int, workers: int) -> None:
    """The same batches in the same order as ``DataLoader(shuffle=True, generator=...)``, but
    where its last batch would hold one row."""
    dataset = TensorDataset(torch.arange(n), torch.zeros(n, dtype=torch.int64))
    ours_generator, theirs_generator = (torch.Generator().manual_seed(7) for _ in range(2))
    ours = batching.loader(dataset, batch_size=8, generator=ours_generator, workers=workers,
                           device=CPU)  # fmt: skip
    theirs = DataLoader(dataset, batch_size=8, shuffle=True, generator=theirs_generator,
                        num_workers=workers)  # fmt: skip
    got, expected = _epoch(ours), _epoch(theirs)
    if n % 8 == 1:
        expected[-2:] = [expected[-2] + expected[-1]]
    assert got == expected
    assert len(ours) == len(expected)


def test_the_joined_batch_sampler_is_a_batch_sampler_but_for_the_last_batch() -> None:
    sampler = RandomSampler(range(17), generator=torch.Generator().manual_seed(1))
    joined = list(batching.JoinedBatchSampler(sampler, 4))
    sampler.generator.manual_seed(1)
    plain = list(BatchSampler(sampler, 4, drop_last=False))
    assert joined == [*plain[:3], plain[3] + plain[4]]


def test_an_evaluation_loader_reads_in_order_with_the_collate_function() -> None:
    dataset = [(torch.arange(k), k % 2) for k in range(1, 8)]

    def lengths(items):
        return torch.tensor([len(x) for x, _ in items]), torch.tensor([y for _, y in items])

    loader = batching.loader(dataset, batch_size=3, generator=None, workers=0, device=CPU,
                             collate_fn=lengths)  # fmt: skip
    assert [x.tolist() for x, _ in loader] == [[1, 2, 3], [4, 5, 6], [7]]


class Takes(nn.Module):
    """Records how it was called."""

    def forward(self, *args, **kwargs):
        self.called = (args, kwargs)
        return torch.zeros(2, 3)


def test_a_model_is_called_with_the_inputs_as_they_are_structured() -> None:
    a, b = torch.zeros(2, 4), torch.ones(2)
    model = Takes()
    batching.call(model, a)
    assert model.called == ((a,), {})
    batching.call(model, (a, b))
    assert model.called == ((a, b), {})
    batching.call(model, [a, b])
    assert model.called == ((a, b), {})
    batching.call(model, {"ids": a, "mask": b})
    assert model.called == ((), {"ids": a, "mask": b})


def test_structured_batches_move_whole_and_labels_become_int64() -> None:
    batch = ((torch.zeros(2, 3), torch.ones(2)), torch.tensor([0, 1], dtype=torch.int32))
    [(inputs, labels)] = list(batching.on_device([batch], CPU))
    assert isinstance(inputs, tuple) and len(inputs) == 2
    assert labels.dtype == torch.int64
    [(inputs, _)] = list(batching.on_device([({"x": torch.zeros(2)}, labels)], CPU))
    assert set(inputs) == {"x"}


def test_the_tensors_of_inputs_come_in_one_order() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    assert batching.tensors(a) == [("", a)]
    assert batching.tensors((a, b)) == [("0", a), ("1", b)]
    assert [k for k, _ in batching.tensors({"b": b, "a": a})] == ["a", "b"]
    assert batching.describe({"ids": torch.zeros(4, 7), "n": torch.zeros(4)}) == (
        "shapes ids (4, 7), n (4,)"
    )
    assert batching.describe((torch.zeros(4, 7), torch.zeros(4))) == "shapes (4, 7), (4,)"


LABELS = torch.tensor([0, 2])
EXPECTED = (
    "a batch must be (inputs, labels): inputs a tensor, a tuple or list of tensors, or a "
    "mapping of names to tensors; labels a 1-D tensor of class indices"
)


@pytest.mark.parametrize(
    "batch, found",
    [
        ({"x": torch.zeros(2), "y": LABELS}, "is a dict; "),
        ((torch.zeros(2), LABELS, LABELS), "is a tuple; "),
        (("text", LABELS), "has inputs a str; "),
        (((torch.zeros(2), [1, 2]), LABELS), "has inputs (Tensor, list); "),
        (({"ids": torch.zeros(2), "n": 3}, LABELS), "has inputs {'ids': Tensor, 'n': int}; "),
        (((), LABELS), "has inputs (); "),
        ((torch.zeros(2), torch.tensor([0.0, 1.0])), "has labels torch.float32 of shape (2,); "),
        ((torch.zeros(2), torch.tensor([[0, 1]])), "has labels torch.int64 of shape (1, 2); "),
        ((torch.zeros(2), torch.tensor([0, -1])), "has labels torch.int64 of shape (2,); "),
        ((torch.zeros(2), [0, 1]), "has labels a list; "),
    ],
)
def test_a_batch_the_loop_cannot_take_is_refused_in_one_line(batch, found: str) -> None:
    with pytest.raises(DataError) as info:
        batching.checked(batch, "dataset d.py:load: a train batch")
    message = str(info.value)
    assert message.startswith(f"dataset d.py:load: a train batch {found}{EXPECTED}")
    assert "\n" not in message


def test_a_batch_the_loop_takes_passes_with_int64_labels() -> None:
    inputs = {"ids": torch.zeros(2, 3)}
    checked_inputs, labels = batching.checked([inputs, LABELS.int()], "a batch")
    assert checked_inputs is inputs and labels.dtype == torch.int64
