"""Tests for trainable.data with a user's loader: arrays, tensors, a Dataset or explicit parts,
seeded splits, and one-line refusals of what cannot be trained on."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from trainable import data
from trainable.data import DatasetSplit, TensorSplit
from trainable.run import TrainingRun
from trainable.user_code import UserCodeError

LOADERS = """\
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

CALLS = []


def _rows(n, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=5.0, scale=3.0, size=(n, features))
    return x, np.arange(n) % 3


def table():
    return _rows(50)


def images():
    x = np.random.default_rng(1).uniform(0, 255, size=(40, 3, 4, 4))
    return x, np.arange(40) % 4


def tensors():
    x, y = _rows(50)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def seeded(seed):
    CALLS.append(seed)
    return _rows(50, seed=seed)


def seeded_by_keyword(**options):
    CALLS.append(options)
    return _rows(50)


class Items(Dataset):
    '''(1x2x2 image, label) items; the label is the item's index modulo 5.'''

    def __init__(self, n=50, float_labels=False):
        self.n, self.float_labels = n, float_labels

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        label = float(i % 5) if self.float_labels else i % 5
        return torch.full((1, 2, 2), float(i)), label


class Labelled(Items):
    classes = ["a", "b", "c", "d", "e"]


def dataset():
    return Items()


def labelled():
    return Labelled()


def parts():
    x, y = _rows(30)
    return {"train": (x[:20], y[:20]), "val": (x[20:26], y[20:26]), "test": (x[26:], y[26:])}


def dataset_parts():
    return {"train": Items(12), "val": Items(5), "test": (np.zeros((4, 1, 2, 2)), np.arange(4))}


def mismatched_dataset_parts():
    return {"train": Items(12), "val": Items(5), "test": _rows(4, features=4)}


class Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(2), 0


def stream():
    return Stream()


def float_labels():
    x, y = _rows(20)
    return x, y.astype(float)


def negative_labels():
    x, y = _rows(20)
    return x, y - 1


def one_hot_labels():
    x, y = _rows(20)
    return x, np.eye(3)[y]


def mismatched():
    x, y = _rows(20)
    return x, y[:15]


def text():
    return "data.csv"


def a_list():
    return [[1.0, 2.0], [3.0, 4.0]], [0, 1]


def flat_features():
    return np.arange(20.0), np.arange(20) % 2


def wrong_keys():
    return {"train": _rows(10), "validation": _rows(5), "test": _rows(5)}


def float_item_labels():
    return Items(20, float_labels=True)


def empty_part():
    return {"train": Items(10), "val": Items(0), "test": Items(3)}


def stream_part():
    return {"train": Stream(), "val": Items(2), "test": Items(2)}


def raises():
    raise FileNotFoundError("/data/train.npz")
"""


@pytest.fixture
def loader(user_file):
    path = user_file("loaders.py", LOADERS)
    return lambda name: f"{path}:{name}"


def _expected_sizes(n: int) -> tuple[int, int, int]:
    n_test = n_val = round(n * 0.2)
    return n - n_test - n_val, n_val, n_test


def _order(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test, validation and training rows of a seeded 60/20/20 split."""
    order = np.random.default_rng(seed).permutation(n)
    _, n_val, n_test = _expected_sizes(n)
    return order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]


def test_tabular_arrays_are_split_60_20_20_and_standardised_with_train_statistics(loader):
    raw_x = np.random.default_rng(0).normal(loc=5.0, scale=3.0, size=(50, 3))
    raw_y = np.arange(50) % 3
    split = data.load(loader("table"), seed=4)
    assert isinstance(split, TensorSplit)
    test, val, train = _order(50, 4)
    mean, std = raw_x[train].mean(axis=0), raw_x[train].std(axis=0)
    for rows, x, y in ((train, split.x_train, split.y_train), (val, split.x_val, split.y_val),
                       (test, split.x_test, split.y_test)):  # fmt: skip
        expected = torch.from_numpy(((raw_x[rows] - mean) / std).astype(np.float32))
        torch.testing.assert_close(x, expected)
        assert torch.equal(y, torch.from_numpy(raw_y[rows]))
    assert split.classes == ("0", "1", "2")
    assert (split.facts.input_shape, split.facts.num_classes) == ((3,), 3)


def test_image_arrays_are_kept_as_they_are(loader) -> None:
    split = data.load(loader("images"), seed=0)
    raw = np.random.default_rng(1).uniform(0, 255, size=(40, 3, 4, 4))
    test, _, train = _order(40, 0)
    assert split.x_train.dtype == torch.float32
    assert torch.equal(split.x_train, torch.from_numpy(raw[train].astype(np.float32)))
    assert torch.equal(split.x_test, torch.from_numpy(raw[test].astype(np.float32)))
    assert split.facts.input_shape == (3, 4, 4)
    assert split.facts.num_features == 48
    assert split.classes == ("0", "1", "2", "3")


def test_tensors_are_taken_like_arrays(loader) -> None:
    from_tensors = data.load(loader("tensors"), seed=2)
    from_arrays = data.load(loader("table"), seed=2)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        torch.testing.assert_close(getattr(from_tensors, name), getattr(from_arrays, name))
    assert from_tensors.y_train.dtype == torch.int64


def test_a_loader_taking_seed_is_called_with_the_sweep_seed(loader) -> None:
    data.load(loader("seeded"), seed=11)
    loaders = sys.modules["loaders"]  # the user's file, loaded as a module of its stem
    assert loaders.CALLS == [11]
    data.load(loader("seeded_by_keyword"), seed=12)
    assert loaders.CALLS[-1] == {"seed": 12}
    data.load(loader("table"), seed=13)  # takes no seed: called without one
    assert len(loaders.CALLS) == 2


def test_a_dataset_is_split_60_20_20_by_the_seed(loader) -> None:
    split = data.load(loader("dataset"), seed=5)
    assert isinstance(split, DatasetSplit)
    test, val, train = _order(50, 5)
    for part, rows in ((split.train, train), (split.val, val), (split.test, test)):
        assert isinstance(part, Subset)
        assert part.indices == rows.tolist()
    assert split.train[0][0][0, 0, 0].item() == float(train[0])
    assert split.classes == ("0", "1", "2", "3", "4")  # read off every item's label
    assert split.input_shape == (1, 2, 2)
    assert data.load(loader("dataset"), seed=6).train.indices != split.train.indices


def test_a_datasets_own_classes_name_the_classes(loader) -> None:
    assert data.load(loader("labelled"), seed=0).classes == ("a", "b", "c", "d", "e")


def test_a_dataset_sample_is_a_collated_batch(loader) -> None:
    split = data.load(loader("dataset"), seed=5)
    x, y = split.sample(4)
    assert x.shape == (4, 1, 2, 2) and y.dtype == torch.int64
    assert torch.equal(x[:, 0, 0, 0], torch.tensor(split.train.indices[:4], dtype=torch.float32))


@pytest.mark.parametrize("name", ["table", "dataset"])
def test_both_kinds_of_split_are_read_through_one_interface(loader, name) -> None:
    split = data.load(loader(name), seed=5).to("cpu")
    assert isinstance(split, data.Split)
    generator = torch.Generator().manual_seed(0)
    rows = torch.cat([y for _, y in split.train_batches(8, generator)])
    assert len(rows) == len(split.indices[0])
    val = list(split.eval_batches("val", 4))
    assert sum(len(y) for _, y in val) == len(split.indices[1])
    x, y = split.checked_sample("mine", "test", 3)
    assert len(x) == len(y) == 3 and y.dtype == torch.int64


def test_a_datasets_epoch_draws_one_seed_from_the_trials_generator(loader) -> None:
    """The epoch's order depends only on the trial generator's state, which a checkpoint keeps."""
    split = data.load(loader("dataset"), seed=5)
    generator = torch.Generator().manual_seed(7)
    first = [y.tolist() for _, y in split.train_batches(8, generator)]
    after_one_epoch = generator.get_state()
    expected = torch.Generator().manual_seed(7)
    torch.randint(2**62, (), generator=expected)
    assert torch.equal(after_one_epoch, expected.get_state())
    again = [y.tolist() for _, y in split.train_batches(8, torch.Generator().manual_seed(7))]
    assert again == first


def test_a_dataset_split_on_a_device_keeps_its_datasets(loader) -> None:
    split = data.load(loader("dataset"), seed=5)
    moved = split.to("cpu")
    assert moved.device == torch.device("cpu") and moved.train is split.train
    assert moved.collate_fn is split.collate_fn and moved.indices is split.indices


def test_explicit_parts_are_used_as_given(loader) -> None:
    split = data.load(loader("parts"), seed=9)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (20, 6, 4)
    raw = np.random.default_rng(0).normal(loc=5.0, scale=3.0, size=(30, 3))
    mean, std = raw[:20].mean(axis=0), raw[:20].std(axis=0)
    torch.testing.assert_close(
        split.x_val, torch.from_numpy(((raw[20:26] - mean) / std).astype(np.float32))
    )
    assert torch.equal(split.y_test, torch.from_numpy(np.arange(26, 30) % 3))
    # No split is drawn, so the seed changes nothing.
    assert torch.equal(data.load(loader("parts"), seed=10).x_train, split.x_train)


def test_explicit_parts_with_a_dataset_are_datasets(loader) -> None:
    split = data.load(loader("dataset_parts"), seed=0)
    assert isinstance(split, DatasetSplit)
    assert (len(split.train), len(split.val), len(split.test)) == (12, 5, 4)
    assert isinstance(split.test, TensorDataset)
    assert split.input_shape == (1, 2, 2)
    x, y = split.test[3]
    assert x.shape == (1, 2, 2) and y.item() == 3
    assert x.dtype == torch.float32 and y.dtype == torch.int64  # as the model's weights


def test_a_pair_among_dataset_parts_trains_and_tests_like_the_datasets(loader) -> None:
    run = TrainingRun(
        {"dataset": loader("dataset_parts"), "model_args": {"hidden": [4]}, "max_epochs": 1}
    )
    run.step()
    assert set(run.test()) == {"test_loss", "test_acc", "test_rows_sha256"}


def test_explicit_parts_of_different_shapes_are_refused_with_a_dataset_among_them(refusal, loader):
    assert refusal(loader("mismatched_dataset_parts")).endswith(
        ": train, val and test features differ in shape: train (1, 2, 2), val (1, 2, 2), test (4,)"
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        ("stream", "an IterableDataset cannot be split or shuffled by index; return a map-style "
                   "Dataset (with __len__ and __getitem__) or tensors"),
        ("stream_part", "an IterableDataset cannot be split or shuffled by index"),
        ("float_labels", "its value labels must be class indices (a 1-D array of integers >= 0), "
                         "got float64 of shape (20,)"),
        ("negative_labels", "its value labels must be class indices (a 1-D array of integers "
                            ">= 0), got int64 of shape (20,)"),
        ("one_hot_labels", "got float64 of shape (20, 3); for one-hot labels use "
                           "labels.argmax(1)"),
        ("mismatched", "its value has 20 feature rows but 15 labels"),
        ("text", "its value is a str; return (features, labels) arrays or tensors, a map-style "
                 "torch.utils.data.Dataset, or a mapping of train/val/test parts"),
        ("a_list", "its value must hold numpy arrays or tensors, got (list, list)"),
        ("flat_features", "its value features must be numbers shaped (samples, ...), got "
                          "float64 of shape (20,)"),
        ("wrong_keys", "returned a mapping with keys ['test', 'train', 'validation']; its keys "
                       "must be exactly train, val, test"),
        ("float_item_labels", "the label of item 0 must be a class index (an int >= 0), got 0.0"),
        ("empty_part", "the val part is empty"),
    ],
)  # fmt: skip
def test_unusable_data_is_refused_in_one_line(refusal, loader, name: str, expected: str) -> None:
    assert expected in refusal(loader(name))


def test_a_loader_that_raises_is_reported_with_the_users_file_and_line(refusal, loader) -> None:
    reference = loader("raises")
    path = reference.rsplit(":", 1)[0]
    line = LOADERS.splitlines().index('    raise FileNotFoundError("/data/train.npz")') + 1
    assert refusal(reference, UserCodeError) == (
        f"dataset {reference} raised FileNotFoundError: /data/train.npz ({path}:{line})"
    )
