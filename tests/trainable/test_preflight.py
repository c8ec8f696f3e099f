"""Tests for trainable.preflight: what the sweep's driver checks before Ray starts, each failure
one line; the built-in MLP on built-in data is checked without importing torch."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from trainable import models, preflight
from trainable.config import TrialConfigError
from trainable.sources import DataError
from trainable.user_code import UserCodeError

MODELS = """\
import torch
from torch import nn


class ThreeScores(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.head = nn.Linear(num_features, 3)

    def forward(self, x):
        return self.head(x.flatten(1))


class OneScore(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.head = nn.Linear(num_features, 1)

    def forward(self, x):
        return self.head(x.flatten(1)).squeeze(1)


class Pair(nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, x):
        scores = self.head(x.flatten(1))
        return scores, scores.softmax(1)


class WrongWidth(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.head = nn.Linear(10, num_classes)

    def forward(self, x):
        return self.head(x)


class Good(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.head = nn.Linear(input_shape[0], num_classes)

    def forward(self, x):
        return self.head(x)


class InPlace(nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()
        self.hidden = nn.Linear(num_features, 8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        h = torch.sigmoid(self.hidden(x.flatten(1)))
        h += 1  # in place, on the output that sigmoid keeps for its gradient
        return self.head(h)


class FixedBatch(nn.Module):
    def __init__(self, num_features, num_classes):
        super().__init__()
        self.head = nn.Linear(num_features, num_classes)

    def forward(self, x):
        return self.head(x.reshape(4, 64))


class AuxInTraining(Good):
    def forward(self, x):
        scores = self.head(x)
        return (scores, scores) if self.training else scores
"""


@pytest.fixture
def forwards() -> Iterator[list[tuple[str, tuple[int, ...]]]]:
    """The class and input shape of every module's forward call while the test runs."""
    from torch.nn.modules.module import register_module_forward_hook

    calls: list[tuple[str, tuple[int, ...]]] = []
    handle = register_module_forward_hook(
        lambda module, inputs, output: calls.append((type(module).__name__, tuple(inputs[0].shape)))
    )
    yield calls
    handle.remove()


@pytest.fixture
def model(user_file):
    path = user_file("checked_models.py", MODELS)
    return lambda name: f"{path}:{name}"


def _refusal(config: dict, error: type[Exception] = UserCodeError) -> str:
    with pytest.raises(error) as info:
        preflight.check(config)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_mlp_on_built_in_data_is_checked_without_importing_torch() -> None:
    code = (
        "import sys\nfrom trainable import preflight\n"
        "for dataset in ('digits', 'digit_images', 'synthetic'):\n"
        "    preflight.check({'model': 'mlp', 'dataset': dataset, 'hidden_size': 16,\n"
        "                     'activation': 'relu', 'model_args': {'hidden': [8]}})\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "False"


def test_the_mlp_is_still_told_what_it_does_not_take() -> None:
    assert _refusal({"model": "mlp", "width": 64}) == (
        "model mlp takes no parameter 'width' (set by the search space); it takes: "
        "num_features, num_classes, hidden, activation, hidden_size, num_layers"
    )


def test_the_cnn_on_digit_images_is_built_and_run(forwards) -> None:
    preflight.check({"model": "cnn", "dataset": "digit_images", "batch_size": 8})
    convolutions = [shape for name, shape in forwards if name == "Conv2d"]
    # One real batch of each part through both blocks, then a training step on a batch of the
    # size of the last training batch: 1079 rows in batches of 8 leave 7.
    assert convolutions == [(8, 1, 8, 8), (8, 16, 4, 4)] * 3 + [(7, 1, 8, 8), (7, 16, 4, 4)]


def test_the_cnn_on_tabular_digits_is_refused() -> None:
    message = _refusal({"model": "cnn", "dataset": "digits"})
    assert message.startswith(
        "model cnn raised ValueError: cnn needs image-shaped inputs (channels, height, width); "
        "the data gives (64,) per sample: use --dataset digit_images, or --model mlp ("
    )
    assert re.search(rf"\({re.escape(models.__file__)}:\d+\)$", message)


def test_a_model_giving_too_few_scores_is_refused(model) -> None:
    assert _refusal({"model": model("ThreeScores"), "batch_size": 5}) == (
        f"model {model('ThreeScores')} gives shape (5, 3) for a batch of 5; it must give one "
        "score per class, shape (batch, num_classes) = (5, 10) (logits or log-probabilities)"
    )


def test_a_model_giving_one_score_per_sample_is_refused(model) -> None:
    message = _refusal({"model": model("OneScore"), "batch_size": 5})
    assert message.startswith(f"model {model('OneScore')} gives shape (5,) for a batch of 5; ")


def test_a_model_giving_a_tuple_is_refused(model) -> None:
    message = _refusal({"model": model("Pair"), "batch_size": 5})
    assert message.startswith(f"model {model('Pair')} gives a tuple for a batch of 5; ")


def test_a_model_failing_on_a_batch_names_the_batch_shape_and_the_users_line(model) -> None:
    path = model("").rstrip(":")
    line = MODELS.splitlines().index("        return self.head(x)") + 1
    message = _refusal({"model": model("WrongWidth"), "batch_size": 4})
    assert message.startswith(
        f"model {model('WrongWidth')} (on a batch of shape (4, 64)) raised RuntimeError: "
    )
    assert message.endswith(f"({path}:{line})")


def _line(text: str) -> int:
    return MODELS.splitlines().index(text) + 1


def test_an_in_place_operation_that_breaks_backward_is_caught_on_a_training_step(model) -> None:
    """1079 training digits in batches of 4 end in a batch of 3; the backward pass fails, and
    the line named is the user's whose gradient could not be computed."""
    path = model("").rstrip(":")
    message = _refusal({"model": model("InPlace"), "batch_size": 4})
    assert message.startswith(
        f"model {model('InPlace')} (on a training step with a batch of 3) raised RuntimeError: "
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation"
    )
    assert message.endswith(
        f"({path}:{_line('        h = torch.sigmoid(self.hidden(x.flatten(1)))')})"
    )


def test_a_model_with_a_batch_size_written_in_is_caught_on_the_smallest_batch(model) -> None:
    path = model("").rstrip(":")
    message = _refusal({"model": model("FixedBatch"), "batch_size": 4})
    assert message.startswith(
        f"model {model('FixedBatch')} (on a training step with a batch of 3 of shape (3, 64)) "
        "raised RuntimeError: shape '[4, 64]' is invalid for input of size 192"
    )
    assert message.endswith(f"({path}:{_line('        return self.head(x.reshape(4, 64))')})")


def test_a_model_giving_a_tuple_in_training_mode_is_refused(user_file, model) -> None:
    loader = user_file("rows_for_aux.py", "import numpy as np\n\ndef load():\n"
                       "    return np.zeros((30, 10)), np.arange(30) % 4\n")  # fmt: skip
    message = _refusal({"model": model("AuxInTraining"), "dataset": f"{loader}:load"})
    assert message.startswith(
        f"model {model('AuxInTraining')} gives a tuple for a batch of 18 in training mode; "
    )


def test_the_training_step_uses_the_trials_optimizer(monkeypatch, model) -> None:
    from trainable import optim

    built = []
    real = optim.build_optimizer

    def recording(name, params, **options):
        built.append((name, options))
        return real(name, params, **options)

    monkeypatch.setattr(optim, "build_optimizer", recording)
    preflight.check({"model": model("Good"), "dataset": "digits", "optimizer": "nesterov",
                     "lr": 0.2, "weight_decay": 0.01, "momentum": 0.5})  # fmt: skip
    assert built == [("nesterov", {"lr": 0.2, "weight_decay": 0.01, "momentum": 0.5})]


def test_the_mlp_on_a_users_data_is_built_and_run(user_file, forwards) -> None:
    loader = user_file("small_images.py", "import numpy as np\n\ndef load():\n"
                       "    return np.zeros((20, 2, 3)), np.arange(20) % 2\n")  # fmt: skip
    preflight.check({"model": "mlp", "dataset": f"{loader}:load", "batch_size": 4})
    assert ("Sequential", (4, 2, 3)) in forwards


def test_a_users_model_on_a_users_data_passes(model, user_file) -> None:
    loader = user_file("rows.py", "import numpy as np\n\ndef load(seed):\n"
                       "    return np.random.default_rng(seed).normal(size=(30, 10)), "
                       "np.arange(30) % 4\n")  # fmt: skip
    preflight.check({"model": model("Good"), "dataset": f"{loader}:load"})
    preflight.check({"model": model("WrongWidth"), "dataset": f"{loader}:load"})


def test_data_a_loader_cannot_give_is_refused_before_the_model(user_file) -> None:
    loader = user_file("texts.py", "def load():\n    return 'rows.csv'\n")
    assert _refusal({"dataset": f"{loader}:load"}, DataError).startswith(
        f"dataset {loader}:load: its value is a str; "
    )


def test_an_unknown_built_in_dataset_is_refused() -> None:
    assert _refusal({"dataset": "mnist"}, DataError).startswith("unknown dataset 'mnist'")


def test_an_invalid_config_is_refused() -> None:
    assert _refusal({"lr": 0}, TrialConfigError) == "lr: Input should be greater than 0"


def test_an_unknown_model_is_refused() -> None:
    assert _refusal({"model": "resnet"}).startswith("unknown model 'resnet'; valid: mlp, cnn")
