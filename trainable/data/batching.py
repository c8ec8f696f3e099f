"""Mini-batches: their shape, how they are cut and read, how they reach the device and the model.

A batch is ``(inputs, labels)``: ``inputs`` a tensor (the model is called ``model(inputs)``), a
tuple or list of tensors (``model(*inputs)``: a padded sequence and its lengths, say) or a
mapping of names to tensors (``model(**inputs)``); ``labels`` a 1-D integer tensor of class
indices, one per row, so a batch has ``len(labels)`` rows. :func:`call` is how the loop and the
check before Ray call a model; :func:`checked` is that check's one-line refusal of other shapes.

A model in training mode never gets a batch of one row (a BatchNorm layer cannot normalise it):
when the last training batch of an epoch would hold one row, it joins the batch before it, so
every row is still used (:func:`batch_sizes`). Index batches of resident tensors
(:func:`batches`) and a DataLoader's training batches (:class:`JoinedBatchSampler`, through
:func:`loader`) both follow that rule; nothing else changes in the order of the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from trainable.sources import DataError
from trainable.user_code import a_kind_of

Inputs = torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor] | Mapping[str, torch.Tensor]
Batch = tuple[Inputs, torch.Tensor]
Batches = Iterator[Batch]
EXPECTED = (
    "a batch must be (inputs, labels): inputs a tensor, a tuple or list of tensors, or a mapping "
    "of names to tensors; labels a 1-D tensor of class indices"
)


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The sizes of the training batches of ``n`` rows: ``batch_size`` each, the last one short,
    but a last batch of one row joins the batch before it (when there is one, and batches of
    one row were not asked for)."""
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if len(sizes) > 1 and sizes[-1] == 1 and batch_size > 1:
        sizes[-2:] = [sizes[-2] + 1]
    return sizes


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Shuffled mini-batch index tensors covering ``range(n)`` once, cut by :func:`batch_sizes`."""
    order = torch.randperm(n, generator=generator).to(device, non_blocking=True)
    return iter(order.split(batch_sizes(n, batch_size)))


class JoinedBatchSampler(Sampler[list[int]]):
    """``BatchSampler(sampler, batch_size, drop_last=False)``'s batches, cut by
    :func:`batch_sizes`: the same indices in the same order, a last batch of one row joined."""

    def __init__(self, sampler: Sampler[int], batch_size: int) -> None:
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        # A generator, as BatchSampler's is: the sampler draws its order on the first batch,
        # after the DataLoader has drawn its workers' seed from the same generator.
        indices = iter(self.sampler)
        for size in batch_sizes(len(self.sampler), self.batch_size):
            yield list(itertools.islice(indices, size))

    def __len__(self) -> int:
        return len(batch_sizes(len(self.sampler), self.batch_size))


def loader(
    dataset: Dataset,
    *,
    batch_size: int,
    generator: torch.Generator | None,
    workers: int,
    device: torch.device,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader over ``dataset``: shuffled by ``generator`` in batches cut by
    :func:`batch_sizes` (training), or in order (evaluation), batched by ``collate_fn`` (torch's
    ``default_collate`` when None).

    ``workers`` processes read ahead, and on a GPU batches come from pinned memory.
    """
    options = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if collate_fn is not None:
        options["collate_fn"] = collate_fn
    if generator is None:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, **options)
    sampler = JoinedBatchSampler(RandomSampler(dataset, generator=generator), batch_size)
    return DataLoader(dataset, batch_sampler=sampler, generator=generator, **options)


def on_device(batches: Iterable[Batch], device: torch.device) -> Batches:
    """The batches moved to ``device`` whole (asynchronously from pinned memory on a GPU), their
    labels as int64, as ``cross_entropy`` takes them."""
    non_blocking = device.type == "cuda"
    return (
        (moved(x, device, non_blocking), y.to(device, torch.int64, non_blocking=non_blocking))
        for x, y in batches
    )


def moved(inputs: Inputs, device: torch.device, non_blocking: bool = False) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=non_blocking)
    if isinstance(inputs, Mapping):
        return {k: v.to(device, non_blocking=non_blocking) for k, v in inputs.items()}
    return type(inputs)(v.to(device, non_blocking=non_blocking) for v in inputs)


def call(model: torch.nn.Module, inputs: Inputs) -> Any:
    """The model's scores: ``model(inputs)``, ``model(*inputs)`` or ``model(**inputs)``."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(*inputs)


def tensors(inputs: Inputs) -> list[tuple[str, torch.Tensor]]:
    """The tensors of ``inputs`` with their names (positions of a tuple, keys of a mapping, in
    sorted order): a deterministic order for digests."""
    if isinstance(inputs, torch.Tensor):
        return [("", inputs)]
    if isinstance(inputs, Mapping):
        return [(str(k), inputs[k]) for k in sorted(inputs)]
    return [(str(i), v) for i, v in enumerate(inputs)]


def describe(inputs: Any) -> str:
    """``shape (4, 64)``, ``shapes (4, 12), (4,)``, ``shapes ids (4, 12), mask (4, 12)``."""
    if isinstance(inputs, torch.Tensor):
        return f"shape {tuple(inputs.shape)}"
    return "shapes " + ", ".join(f"{k} {tuple(v.shape)}".lstrip() for k, v in _named(inputs))


def checked(batch: Any, where: str) -> Batch:
    """``batch`` as the loop takes it (labels as int64) if it is ``(inputs, labels)``; otherwise
    a one-line DataError saying what ``where`` (``dataset X: a train batch``) was and what is
    expected."""
    if not (isinstance(batch, tuple | list) and len(batch) == 2):
        raise DataError(f"{where} is {a_kind_of(batch)}; {EXPECTED}")
    inputs, labels = batch
    named = _named(inputs) if isinstance(inputs, tuple | list | Mapping) else None
    if not isinstance(inputs, torch.Tensor) and not (
        named and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in named)
    ):
        found = a_kind_of(inputs) if named is None else _kinds(named)
        raise DataError(f"{where} has inputs {found}; {EXPECTED}")
    if (
        not isinstance(labels, torch.Tensor)
        or labels.ndim != 1
        or labels.is_floating_point()
        or labels.is_complex()
        or (labels.numel() and labels.min() < 0)
    ):
        found = (
            f"{labels.dtype} of shape {tuple(labels.shape)}"
            if isinstance(labels, torch.Tensor)
            else a_kind_of(labels)
        )
        raise DataError(f"{where} has labels {found}; {EXPECTED} (integers >= 0)")
    return inputs, labels.to(torch.int64)


def _named(inputs: tuple | list | Mapping) -> list[tuple[Any, Any]]:
    if isinstance(inputs, Mapping):
        return list(inputs.items())
    return [("", v) for v in inputs]


def _kinds(named: list[tuple[Any, Any]], shown: int = 4) -> str:
    """``(Tensor, list)`` or ``{'ids': Tensor, 3: str}``: what a structured input held (its
    first ``shown`` entries)."""
    kinds = [
        type(v).__name__ if k == "" else f"{k!r}: {type(v).__name__}" for k, v in named[:shown]
    ]
    more = [f"... {len(named)} in all"] if len(named) > shown else []
    text = ", ".join(kinds + more)
    return f"({text})" if all(k == "" for k, _ in named) else f"{{{text}}}"
