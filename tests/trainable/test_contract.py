"""The contract every registry entry keeps: each built-in model on each built-in dataset it takes,
with each activation, gives one logit per class, passes gradients to every parameter and trains
an epoch; each optimizer trains an epoch; a model refuses a dataset it cannot take in one line.
Each shape a user's data may have (items of a tensor, a tuple or a mapping; batches of a collate
function, tuples or mappings of tensors of varying length) goes through the same checks, with a
model that takes it, and through the check before Ray."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainable import data, factory, preflight, sources
from trainable.activations import ACTIVATIONS
from trainable.data import batching
from trainable.models import MODELS
from trainable.optim import optimizer_names
from trainable.run import TrainingRun
from trainable.user_code import UserCodeError

# The built-in datasets each built-in model takes: a new model or dataset must be listed here.
ACCEPTS = {"mlp": ("digits", "digit_images", "synthetic"), "cnn": ("digit_images",)}
CASES = [
    (model, dataset, activation)
    for model, datasets in ACCEPTS.items()
    for dataset in datasets
    for activation in ACTIVATIONS
]
REFUSED = [(m, d) for m in MODELS for d in sources.BUILTIN if d not in ACCEPTS.get(m, ())]


def test_every_model_and_dataset_is_in_the_contract() -> None:
    assert set(ACCEPTS) == set(MODELS)
    assert {d for datasets in ACCEPTS.values() for d in datasets} == set(sources.BUILTIN)


@pytest.mark.parametrize("model, dataset, activation", CASES)
def test_a_built_in_model_gives_one_logit_per_class_and_gradients_everywhere(
    model: str, dataset: str, activation: str
) -> None:
    split = data.load(dataset, seed=0)
    torch.manual_seed(0)
    net = factory.build(model, searched={"activation": activation}, fixed={}, facts=split.facts)
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in net.modules())
    assert any(isinstance(m, type(ACTIVATIONS[activation]())) for m in net.modules())
    x, y = split.sample(16)
    scores = net(x)
    assert scores.shape == (16, split.facts.num_classes)
    assert torch.isfinite(scores).all()
    assert not torch.allclose(scores.detach().sum(dim=1), torch.ones(16), atol=1e-3)
    nn.functional.cross_entropy(scores, y).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("model, dataset, activation", CASES)
def test_a_built_in_model_trains_an_epoch(model: str, dataset: str, activation: str) -> None:
    config = {
        "model": model, "dataset": dataset, "activation": activation, "batch_size": 128,
        "max_epochs": 1, "lr": 0.01,
    }  # fmt: skip
    run = TrainingRun(config)
    metrics = run.step()
    assert metrics.epoch == 1 and run.finished
    assert not metrics.diverged
    assert math.isfinite(metrics.val_loss) and 0.0 <= metrics.val_acc <= 1.0
    assert metrics.best_epoch == 1


@pytest.mark.parametrize("model, dataset", REFUSED)
def test_a_built_in_model_refuses_a_dataset_it_cannot_take_in_one_line(
    model: str, dataset: str
) -> None:
    facts = data.load(dataset, seed=0).facts
    with pytest.raises(UserCodeError) as info:
        factory.build(model, searched={}, fixed={}, facts=facts)
    assert f"the data gives {facts.input_shape} per sample" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("optimizer", optimizer_names())
def test_every_optimizer_trains_an_epoch(optimizer: str) -> None:
    config = {
        "optimizer": optimizer, "lr": 0.01, "model_args": {"hidden": [16]}, "batch_size": 128,
        "max_epochs": 2,
    }  # fmt: skip
    run = TrainingRun(config)
    first, second = run.step(), run.step()
    assert not (first.diverged or second.diverged)
    assert second.train_loss < first.train_loss


SHAPES_CODE = """\
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

N, CLASSES = 60, 3


class Items(Dataset):
    '''Item i: features made of i, in one of the shapes, and the label i % 3.'''

    def __init__(self, shape):
        self.shape = shape

    def __len__(self):
        return N

    def __getitem__(self, i):
        x = torch.full((4,), float(i % CLASSES)) + 0.1 * torch.arange(4.0)
        tokens = torch.full((2 + i % 5,), 1 + i % CLASSES)  # of 2 to 6 tokens
        features = {"tensor": x, "tuple": (x, x[:2]), "mapping": {"a": x, "b": x[:2]},
                    "sequence": tokens, "sequence_mapping": {"ids": tokens}}[self.shape]
        return features, i % CLASSES


def padded(items):
    tokens = [x for x, _ in items]
    lengths = torch.tensor([len(t) for t in tokens])
    return (pad_sequence(tokens, batch_first=True), lengths), torch.tensor([y for _, y in items])


def padded_mapping(items):
    ids = pad_sequence([x["ids"] for x, _ in items], batch_first=True)
    return {"ids": ids, "mask": (ids != 0).float()}, torch.tensor([y for _, y in items])


def tensor_items():
    return Items("tensor")


def tuple_items():
    return Items("tuple")


def mapping_items():
    return Items("mapping")


def padded_sequences():
    return {"dataset": Items("sequence"), "collate_fn": padded}


def mapping_batches():
    return {"dataset": Items("sequence_mapping"), "collate_fn": padded_mapping}


class OnTensor(nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, x):
        return self.head(x)


class OnTuple(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.a, self.b = nn.Linear(4, num_classes), nn.Linear(2, num_classes)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


class OnMapping(OnTuple):
    pass


class OnSequence(nn.Module):
    def __init__(self, num_classes, input_shape):
        super().__init__()
        assert input_shape == ()
        self.embed = nn.Embedding(CLASSES + 1, 4, padding_idx=0)
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.head = nn.Linear(8, num_classes)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        return self.head(self.gru(packed)[1][-1])


class OnSequenceMapping(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.embed = nn.Embedding(CLASSES + 1, 4)
        self.head = nn.Linear(4, num_classes)

    def forward(self, ids, mask):
        return self.head((self.embed(ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))
"""
# Each shape of a user's data: its loader, and a model that takes it.
SHAPES = {
    "tensor_items": "OnTensor",
    "tuple_items": "OnTuple",
    "mapping_items": "OnMapping",
    "padded_sequences": "OnSequence",
    "mapping_batches": "OnSequenceMapping",
}


@pytest.fixture
def shaped(user_file):
    path = user_file("data_shapes.py", SHAPES_CODE)
    return lambda loader: {
        "model": f"{path}:{SHAPES[loader]}", "dataset": f"{path}:{loader}", "batch_size": 16,
        "max_epochs": 1, "lr": 0.01,
    }  # fmt: skip


@pytest.mark.parametrize("loader", SHAPES)
def test_a_shape_of_data_gives_one_logit_per_class_and_gradients_everywhere(shaped, loader):
    config = shaped(loader)
    split = data.load(config["dataset"], seed=0)
    assert split.facts.num_classes == 3
    torch.manual_seed(0)
    net = factory.build(config["model"], searched={}, fixed={}, facts=split.facts)
    x, y = batching.checked(split.sample(16), "a batch")
    scores = batching.call(net, x)
    assert scores.shape == (16, 3) and torch.isfinite(scores).all()
    nn.functional.cross_entropy(scores, y).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("loader", SHAPES)
def test_a_shape_of_data_passes_the_check_before_ray_and_trains_an_epoch(shaped, loader):
    config = shaped(loader)
    preflight.check(config)
    run = TrainingRun(config)
    metrics = run.step()
    assert not metrics.diverged and math.isfinite(metrics.val_loss)
    tested = run.test()
    assert math.isfinite(tested["test_loss"])
    assert TrainingRun(config).test()["test_rows_sha256"] == tested["test_rows_sha256"]
