"""A user's own batching and batches of any shape: a loader's collate_fn beside a Dataset or its
own parts, tuple and mapping inputs, facts of collated batches, the digest of a collate Dataset,
the one-line refusals of what the loop cannot take, and a BatchNorm model that never trains on
a batch of one row."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trainable import data, preflight
from trainable.data import DatasetSplit
from trainable.run import TrainingRun
from trainable.sources import DataError
from trainable.user_code import UserCodeError

EXAMPLE = Path(__file__).parents[2] / "examples" / "sequences.py"

CODE = """\
import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, TensorDataset


class Words(Dataset):
    '''Sequences of 2 to 9 token ids, as {"ids": ..., "label": ...} items; no classes or
    targets. The class: whether token 3 is in the sequence.'''

    def __init__(self, n=60, seed=0):
        generator = torch.Generator().manual_seed(seed)
        lengths = torch.randint(2, 10, (n,), generator=generator).tolist()
        self.items = [torch.randint(1, 6, (k,), generator=generator) for k in lengths]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        ids = self.items[index]
        return {"ids": ids, "label": int((ids == 3).any())}


def padded_dicts(items):
    ids = pad_sequence([item["ids"] for item in items], batch_first=True)
    labels = torch.tensor([item["label"] for item in items])
    return {"ids": ids, "mask": (ids != 0).float()}, labels


def words():
    return {"dataset": Words(), "collate_fn": padded_dicts}


def word_parts():
    parts = {"train": Words(30, 1), "val": Words(12, 2), "test": Words(12, 3)}
    return {**parts, "collate_fn": padded_dicts}


class MaskedMean(nn.Module):
    '''model(ids=..., mask=...): the mean embedding of a sequence's tokens.'''

    def __init__(self, num_classes, input_shape, vocab=6, width=8):
        super().__init__()
        assert input_shape == ()  # batches of varying length have no fixed shape
        self.embed = nn.Embedding(vocab, width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, ids, mask):
        summed = (self.embed(ids) * mask[..., None]).sum(1)
        return self.head(summed / mask.sum(1, keepdim=True))


def _images(n=40):
    return torch.arange(n * 4, dtype=torch.float32).reshape(n, 1, 2, 2), torch.arange(n) % 4


def stacked(items):
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


def fixed():
    return {"dataset": TensorDataset(*_images()), "collate_fn": stacked}


def rows_with_id(n):
    '''Features whose first column is the row's number, three classes.'''
    rng = np.random.default_rng(0)
    x = np.concatenate([np.arange(n)[:, None], rng.normal(size=(n, 3))], axis=1)
    return x.astype(np.float32), np.arange(n) % 3


def odd_rows():
    return rows_with_id(55)  # 33 training rows: four batches of 8 and one of 1


def odd_rows_dataset():
    return TensorDataset(*(torch.from_numpy(a) for a in rows_with_id(55)))


class Normalised(nn.Module):
    '''A BatchNorm1d model that keeps the first feature of every row it trains on.'''

    def __init__(self, num_features, num_classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_features, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, num_classes)
        )
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].detach().clone())
        return self.net(x)


def only_dataset():
    return {"dataset": Words()}


def uncallable():
    return {"dataset": Words(), "collate_fn": "pad"}


def arrays_with_collate():
    return {"dataset": _images(), "collate_fn": stacked}


def extra_key():
    return {**word_parts(), "sampler": None}


def dict_batch():
    return {"dataset": Words(), "collate_fn": lambda items: {"ids": 1, "labels": 2}}


def list_inputs():
    def collate(items):
        ids, labels = padded_dicts(items)
        return (ids["ids"], [1, 2]), labels

    return {"dataset": Words(), "collate_fn": collate}


def float_labels():
    def collate(items):
        ids, labels = padded_dicts(items)
        return ids, labels.float()

    return {"dataset": Words(), "collate_fn": collate}


def raising_collate():
    def collate(items):
        raise KeyError("tokens")

    return {"dataset": Words(), "collate_fn": collate}


class Ragged(Words):
    def __init__(self, n, seed):
        super().__init__(n, seed)
        self.items[0] = torch.tensor([1, 2, 3, 4])  # each part's first item is as long

    def __getitem__(self, index):
        return self.items[index], int((self.items[index] == 3).any())


def ragged():
    return {"train": Ragged(20, 1), "val": Ragged(8, 2), "test": Ragged(8, 3)}


class Texts(Words):
    def __getitem__(self, index):
        return "some words", index % 2


def texts():
    return Texts()
"""


@pytest.fixture
def code(user_file):
    path = user_file("shaped.py", CODE)
    return lambda name: f"{path}:{name}"


def _sequences(**settings) -> dict:
    return {
        "model": f"{EXAMPLE}:GRUClassifier", "dataset": f"{EXAMPLE}:load",
        "model_args": {"vocab_size": 6}, "hidden": 16, "embedding": 4, "lr": 0.02,
        "batch_size": 16, "max_epochs": 6, "seed": 0, **settings,
    }  # fmt: skip


def test_a_gru_on_padded_sequences_of_different_lengths_learns() -> None:
    run = TrainingRun(_sequences())
    assert isinstance(run.split, DatasetSplit)
    assert run.split.facts.input_shape == () and run.split.classes == ("0", "1")
    lengths = {len(run.split.train[i][0]) for i in range(len(run.split.train))}
    assert len(lengths) > 10  # sequences of many lengths, in one part
    metrics = [run.step() for _ in range(6)]
    assert metrics[-1].train_loss < metrics[0].train_loss / 2
    assert metrics[-1].val_acc > 0.8
    assert math.isfinite(run.test()["test_loss"])


def test_a_gru_run_resumes_from_its_checkpoint_exactly(tmp_path) -> None:
    config = _sequences(max_epochs=4)
    straight = TrainingRun(config)
    expected = [straight.step() for _ in range(4)]
    first = TrainingRun(config)
    head = [first.step() for _ in range(2)]
    first.save(str(tmp_path))
    torch.rand(100)  # the resumed run must not depend on ambient RNG state
    resumed = TrainingRun.from_checkpoint(str(tmp_path))
    assert head + [resumed.step() for _ in range(2)] == expected
    assert resumed.test() == straight.test()


def test_a_model_of_mapping_inputs_is_called_with_keywords_and_trains(code) -> None:
    config = {"model": code("MaskedMean"), "dataset": code("words"), "lr": 0.05,
              "batch_size": 8, "max_epochs": 5}  # fmt: skip
    preflight.check(config)
    run = TrainingRun(config)
    assert run.split.classes == ("0", "1")  # read off the collated batches' labels
    metrics = [run.step() for _ in range(5)]
    assert metrics[-1].train_loss < metrics[0].train_loss
    tested = run.test()
    assert TrainingRun(config).test()["test_rows_sha256"] == tested["test_rows_sha256"]


def test_own_parts_with_a_collate_function_may_differ_in_length(code) -> None:
    split = data.load(code("word_parts"), seed=0)
    assert isinstance(split, DatasetSplit)
    assert (len(split.train), len(split.val), len(split.test)) == (30, 12, 12)
    assert split.collate_fn.__name__ == "padded_dicts" and split.facts.input_shape == ()
    TrainingRun({"model": code("MaskedMean"), "dataset": code("word_parts"),
                 "max_epochs": 1}).step()  # fmt: skip


def test_batches_of_a_fixed_shape_tell_the_model_their_shape(code) -> None:
    split = data.load(code("fixed"), seed=0)
    assert split.facts.input_shape == (1, 2, 2) and split.facts.num_classes == 4


def test_a_collate_datasets_fingerprint_is_stable_and_follows_the_data(code) -> None:
    first = data.fingerprint(code("words"), seed=0)
    data.load.cache_clear()
    assert data.fingerprint(code("words"), seed=0) == first
    import shaped

    shaped.Words.__getitem__ = lambda self, i: {"ids": self.items[i], "label": 0}
    assert data.fingerprint(code("words"), seed=0)["data_sha256"] != first["data_sha256"]


@pytest.mark.parametrize("loader", ["odd_rows", "odd_rows_dataset"])
def test_a_batchnorm_model_never_trains_on_one_row_and_every_row_is_used(code, loader) -> None:
    config = {"model": code("Normalised"), "dataset": code(loader), "batch_size": 8,
              "max_epochs": 2}  # fmt: skip
    preflight.check(config)
    run = TrainingRun(config)
    assert len(run.split.indices[0]) == 33
    run.model.seen.clear()  # the check before Ray builds its own model; this one is fresh
    assert run.step().train_rows == 33  # what the trial's record counts
    assert [len(rows) for rows in run.model.seen] == [8, 8, 8, 9]
    seen = torch.cat(run.model.seen).sort().values
    if isinstance(run.split, DatasetSplit):
        expected = torch.stack([run.split.train[i][0][0] for i in range(33)])
    else:
        expected = run.split.x_train[:, 0]
    assert torch.equal(seen, expected.sort().values)


FORMS = "train, val, test; or train, val, test, collate_fn; or dataset, collate_fn"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("only_dataset", f"returned a mapping with keys ['dataset']; its keys must be exactly "
                         f"{FORMS}"),
        ("extra_key", "returned a mapping with keys ['collate_fn', 'sampler', 'test', 'train', "
                      f"'val']; its keys must be exactly {FORMS}"),
        ("uncallable", "its collate_fn is a str; it must be a function of a list of items that "
                       "returns (inputs, labels)"),
        ("arrays_with_collate", "its dataset is a tuple; beside a collate_fn it must be a "
                                "map-style torch.utils.data.Dataset"),
        ("dict_batch", "the batch of train items 0 to 0 is a dict; a batch must be (inputs, "
                       "labels)"),
        ("list_inputs", "the batch of train items 0 to 0 has inputs (Tensor, list); a batch "
                        "must be"),
        ("float_labels", "the batch of train items 0 to 0 has labels torch.float32 of shape "
                         "(1,); a batch must be"),
        ("texts", "an item's features hold a str; without a collate_fn they must be tensors "
                  "or arrays (or tuples or mappings of them)"),
    ],
)  # fmt: skip
def test_a_mapping_or_batch_the_loop_cannot_take_is_refused_in_one_line(
    refusal, code, name, expected
):
    assert f"dataset {code(name)}" in refusal(code(name))
    assert expected in refusal(code(name))


def test_a_collate_function_that_raises_is_reported_with_the_users_line(refusal, code) -> None:
    path = code("").rstrip(":")
    line = CODE.splitlines().index('        raise KeyError("tokens")') + 1
    assert refusal(code("raising_collate"), UserCodeError) == (
        f"dataset {code('raising_collate')} collate_fn (on train items 0 to 0) raised "
        f"KeyError: 'tokens' ({path}:{line})"
    )


def test_items_of_different_lengths_without_a_collate_function_are_refused_before_ray(code):
    config = {"model": "mlp", "dataset": code("ragged"), "batch_size": 8}
    with pytest.raises(DataError) as info:
        preflight.check(config)
    assert str(info.value).startswith(
        f"dataset {code('ragged')}: train items 0 to 7 do not batch (RuntimeError: "
    )
    assert str(info.value).endswith(
        'items of different shapes need a collate function: return {"dataset": dataset, '
        '"collate_fn": fn}'
    )
