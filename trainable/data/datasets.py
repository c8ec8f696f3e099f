"""A user's map-style Datasets as train/validation/test parts, read through DataLoaders.

Without a collate function of the user's, a Dataset's items are ``(features, label)`` pairs that
torch's ``default_collate`` batches: features a tensor (or array), a tuple of tensors or a
mapping of names to tensors, the same shapes in every item; a label an int >= 0. With one
(``{"dataset": ds, "collate_fn": fn}``, see :mod:`trainable.data.loading`), items may be anything
the function takes (sequences of different lengths, dicts) and the batches it returns are checked
instead (:func:`trainable.data.batching.checked`).

Each epoch reads the training part through a DataLoader of its own, shuffled by a generator
drawn from the trial's: the order then depends only on the trial generator's checkpointed state,
as a resumed trial needs (a DataLoader kept across epochs draws its workers' seed only once).

What a model is told of the data (:class:`~trainable.factory.DataFacts`): the number of
classes, from the Dataset's ``classes`` or ``targets`` when it has them, else read off every
label once; and ``input_shape``, the shape of one item's features where they are one tensor of
a fixed shape, else ``()``. With a collate function, that is the trailing shape of the collated
inputs where the first item of each part alone and the first :data:`SAMPLE` items of each part
together give one and the same; a model of sequences of varying length takes its sizes
(vocabulary, width) from its own arguments instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from trainable import seeding, user_code
from trainable.data import batching
from trainable.data.split import PARTS, Indices, Split
from trainable.factory import DataFacts
from trainable.sources import DataError, check_labels

CPU = torch.device("cpu")
SAMPLE = 8  # items of each part collated to learn the shape of a collate function's batches
READ_BATCH = 256  # items per collated batch when reading every label, or digesting
Collate = Callable[[list[Any]], Any]


@dataclass(frozen=True)
class DatasetSplit(Split):
    """Three map-style Datasets, read through DataLoaders that batch with ``collate_fn`` (torch's
    ``default_collate`` when None) and deliver the batches on ``device``."""

    train: Dataset
    val: Dataset
    test: Dataset
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    indices: Indices
    collate_fn: Collate | None = None
    device: torch.device = CPU

    @property
    def facts(self) -> DataFacts:
        return DataFacts(len(self.classes), self.input_shape)

    def to(self, device: torch.device | str) -> DatasetSplit:
        """The same Datasets; batches move to ``device`` as they are read."""
        return dataclasses.replace(self, device=torch.device(device))

    def train_batches(
        self, batch_size: int, generator: torch.Generator, workers: int = 0
    ) -> batching.Batches:
        """This epoch's batches through a loader of its own, shuffled by a generator whose seed
        is drawn from ``generator`` now (see the module's docstring)."""
        epoch_generator = seeding.seeded_generator(
            int(torch.randint(2**62, (), generator=generator))
        )
        return self._read(self.train, batch_size, epoch_generator, workers)

    def eval_batches(self, part: str, batch_size: int, workers: int = 0) -> batching.Batches:
        return self._read(getattr(self, part), batch_size, None, workers)

    def _read(
        self, dataset: Dataset, batch_size: int, generator: torch.Generator | None, workers: int
    ) -> batching.Batches:
        loader = batching.loader(
            dataset, batch_size=batch_size, generator=generator, workers=workers,
            device=self.device, collate_fn=self.collate_fn,
        )  # fmt: skip
        return batching.on_device(loader, self.device)

    def sample(self, rows: int, part: str = "train") -> batching.Batch:
        """The first ``rows`` items of ``part``, collated into a batch (not checked)."""
        dataset = getattr(self, part)
        items = [dataset[i] for i in range(min(rows, len(dataset)))]
        return (self.collate_fn or default_collate)(items)

    def checked_sample(self, reference: str, part: str, rows: int) -> batching.Batch:
        return collated(reference, part, getattr(self, part), rows, self.collate_fn)


def dataset_split(
    reference: str,
    whole: Dataset,
    parts: list[Dataset],
    indices: Indices,
    collate_fn: Collate | None,
) -> DatasetSplit:
    """The parts checked and told about, as a :class:`DatasetSplit`."""
    for name, part in zip(PARTS, parts, strict=True):
        if len(part) == 0:
            raise DataError(f"dataset {reference}: the {name} part is empty")
    if collate_fn is None:
        shapes = [_shape(reference, _item(reference, part, 0)[0]) for part in parts]
        if len(set(shapes)) > 1:
            raise DataError(
                f"dataset {reference}: train, val and test features differ in shape: "
                + ", ".join(f"{name} {shape}" for name, shape in zip(PARTS, shapes, strict=True))
            )
        shape = shapes[0] if all(isinstance(size, int) for size in shapes[0]) else ()
    else:
        shape = _collated_shape(reference, parts, collate_fn)
    classes = _classes(reference, whole, parts, collate_fn)
    return DatasetSplit(*parts, classes, shape, indices, collate_fn)


def _item(reference: str, dataset: Dataset, index: int) -> tuple[Any, torch.Tensor]:
    """Item ``index`` as ``(features, label)``, checked; features as the Dataset gives them."""
    item = _read(reference, dataset, index)
    if not (isinstance(item, tuple | list) and len(item) == 2):
        raise DataError(
            f"dataset {reference}: item {index} is {user_code.a_kind_of(item)}; a Dataset's items "
            "must be (features, label) pairs, or return a collate_fn beside the Dataset"
        )
    y = torch.as_tensor(item[1])
    if y.ndim != 0 or y.is_floating_point() or y.item() < 0:
        raise DataError(
            f"dataset {reference}: the label of item {index} must be a class index (an int "
            f">= 0), got {item[1]!r}"
        )
    return item[0], y


def _read(reference: str, dataset: Dataset, index: int) -> Any:
    try:
        return dataset[index]
    except Exception as err:
        raise user_code.raised("dataset", f"{reference} item {index}", err) from err


def _shape(reference: str, features: Any) -> tuple:
    """The shape of one item's features: a tensor's, or those of a tuple's or mapping's."""
    if isinstance(features, Mapping):
        return tuple((str(k), _shape(reference, features[k])) for k in sorted(features))
    if isinstance(features, tuple | list):
        return tuple(_shape(reference, v) for v in features)
    try:
        return tuple(torch.as_tensor(features).shape)
    except (TypeError, ValueError, RuntimeError):
        raise DataError(
            f"dataset {reference}: an item's features hold {user_code.a_kind_of(features)}; "
            "without a collate_fn they must be tensors or arrays (or tuples or mappings of them)"
        ) from None


def collated(
    reference: str,
    part: str,
    dataset: Dataset,
    rows: int,
    collate_fn: Collate | None,
    start: int = 0,
) -> batching.Batch:
    """Items ``start`` to ``start + rows - 1`` of ``dataset`` collated and checked; what the
    user's code raises is a one-line error with its file:line."""
    stop = min(start + rows, len(dataset))
    items = [_read(reference, dataset, i) for i in range(start, stop)]
    which = f"{part} items {start} to {stop - 1}"
    if collate_fn is None:
        try:
            batch = default_collate(items)
        except Exception as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise DataError(
                f"dataset {reference}: {which} do not batch ({type(err).__name__}: {reason}); "
                'items of different shapes need a collate function: return {"dataset": '
                'dataset, "collate_fn": fn}'
            ) from None
    else:
        try:
            batch = collate_fn(items)
        except Exception as err:
            raise user_code.raised("dataset", f"{reference} collate_fn (on {which})", err) from err
    return batching.checked(batch, f"dataset {reference}: the batch of {which}")


def _collated_shape(reference: str, parts: list[Dataset], collate_fn: Collate) -> tuple:
    """``input_shape`` of batches that ``collate_fn`` makes (see the module's docstring)."""
    shapes = set()
    for name, part in zip(PARTS, parts, strict=True):
        for rows in (1, SAMPLE):
            inputs, _ = collated(reference, name, part, rows, collate_fn)
            shapes.add(tuple(inputs.shape[1:]) if isinstance(inputs, torch.Tensor) else None)
    return shapes.pop() if len(shapes) == 1 and None not in shapes else ()


def _classes(
    reference: str, whole: Dataset, parts: list[Dataset], collate_fn: Collate | None
) -> tuple[str, ...]:
    """The class names: the Dataset's ``classes``, or read off its labels.

    ``targets`` (as torchvision's datasets have) gives the labels at once; otherwise every item
    is read once (collated, with a collate function), so a Dataset with ``classes`` or
    ``targets`` starts faster.
    """
    classes = getattr(whole, "classes", None)
    if classes is not None:
        return tuple(str(c) for c in classes)
    targets = getattr(whole, "targets", None)
    if targets is not None:
        labels = np.asarray(targets)
        check_labels(reference, "targets", labels, len(labels))
    elif collate_fn is None:
        labels = np.array(
            [int(_item(reference, part, i)[1]) for part in parts for i in range(len(part))]
        )
    else:
        labels = torch.cat(
            [y for name, part in zip(PARTS, parts, strict=True)
             for _, y in _read_batches(reference, name, part, collate_fn)]
        ).numpy()  # fmt: skip
    return tuple(str(c) for c in range(int(labels.max()) + 1))


def _read_batches(
    reference: str, part: str, dataset: Dataset, collate_fn: Collate
) -> batching.Batches:
    """Every item of ``dataset`` in index order, collated into checked batches."""
    for start in range(0, len(dataset), READ_BATCH):
        yield collated(reference, part, dataset, READ_BATCH, collate_fn, start)


def update_digest(
    digest: Any, reference: str, part: str, dataset: Dataset, collate_fn: Collate | None
) -> None:
    """Add a Dataset's items in index order, as tensors, to ``digest``; with a collate function,
    its batches of :data:`READ_BATCH` items."""
    if collate_fn is not None:
        for inputs, labels in _read_batches(reference, part, dataset, collate_fn):
            for name, tensor in [*batching.tensors(inputs), ("", labels)]:
                _update_tensor(digest, name, tensor)
        return
    for index in range(len(dataset)):
        features, label = _item(reference, dataset, index)
        named = (
            batching.tensors(features)
            if isinstance(features, tuple | list | Mapping)
            else [("", torch.as_tensor(features))]
        )
        for name, tensor in [*named, ("", label)]:
            _update_tensor(digest, name, torch.as_tensor(tensor))


def _update_tensor(digest: Any, name: str, tensor: torch.Tensor) -> None:
    """A tensor's name (a mapping's key, if any), dtype, shape and bytes."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{name}{tensor.dtype}{tuple(tensor.shape)}".encode())
    digest.update(flat.view(torch.uint8).numpy().tobytes())
