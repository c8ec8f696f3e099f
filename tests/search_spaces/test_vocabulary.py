"""What a space may propose: the loop's names and the model's parameters, with their kinds."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import search_spaces
from search_spaces import SpaceError, Vocabulary, compile_space

# Restated from the brief rather than imported, so that the package cannot drift from it.
LOOP = {
    "optimizer": ("categorical",),
    "lr": ("float", "categorical"),
    "gamma": ("float", "categorical"),
    "momentum": ("float", "categorical"),
    "weight_decay": ("float", "categorical"),
    "batch_size": ("int", "categorical"),
}
FLOAT = ("float", "int", "categorical")  # a float parameter takes ints too
INT = ("int", "categorical")
CHOICE = ("categorical",)
SEQUENCE = ()  # Optuna proposes scalars only: set in model_args, never searched

USERS_MODEL = """\
def Net(
    num_classes: int,
    width: int = 16,
    dropout: float = 0.0,
    use_bn: bool = False,
    sizes: tuple = (8,),
    norm: str = "batch",
    layers: int = 2,
):
    return None
"""
USERS_KINDS = {
    "width": INT, "dropout": FLOAT, "use_bn": CHOICE, "sizes": SEQUENCE, "norm": CHOICE,
    "layers": INT,
}  # fmt: skip

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Write a user's ``<name>.py``; loading it (module and sys.path entry) ends with the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    names: list[str] = []

    def write(name: str, source: str) -> Path:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        names.append(name)
        return path

    yield write
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture
def users_net(user_file: Callable[..., Path]) -> str:
    return f"{user_file('users_net', USERS_MODEL)}:Net"


def kinds_of(vocabulary: Vocabulary) -> dict[str, tuple[str, ...]]:
    return {name: vocabulary.kinds(name) for name in vocabulary.names}


def sample(space: Callable[[optuna.Trial], None], trials: int = 40) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: space(trial) or 0.0, n_trials=trials)
    return [trial.params for trial in study.trials]


def test_the_mlps_vocabulary_is_the_loops_and_its_parameters() -> None:
    vocabulary = Vocabulary.of("mlp")
    expected = {
        **LOOP, "hidden": SEQUENCE, "activation": CHOICE, "hidden_size": INT, "num_layers": INT,
    }  # fmt: skip
    assert kinds_of(vocabulary) == expected
    assert not vocabulary.open_ended


def test_the_cnns_vocabulary_leaves_out_what_the_data_fills() -> None:
    vocabulary = Vocabulary.of("cnn")
    expected = {
        **LOOP, "channels": SEQUENCE, "hidden": SEQUENCE, "activation": CHOICE, "dropout": FLOAT,
    }  # fmt: skip
    assert kinds_of(vocabulary) == expected
    assert not any(vocabulary.knows(name) for name in ("input_shape", "num_classes"))


@pytest.mark.parametrize("header", ["", "from __future__ import annotations\n\n"])
def test_a_users_parameters_take_the_kinds_their_annotations_say(header, user_file) -> None:
    """Annotations as types, or as strings (postponed evaluation), say the same."""
    vocabulary = Vocabulary.of(f"{user_file('annotated_net', header + USERS_MODEL)}:Net")
    assert kinds_of(vocabulary) == {**LOOP, **USERS_KINDS}
    assert not vocabulary.knows("num_classes")


def test_a_users_class_is_read_from_its_constructor(user_file) -> None:
    path = user_file(
        "users_class",
        """\
        class Net:
            def __init__(self, num_classes: int, width: int = 16):
                self.width = width
        """,
    )
    assert kinds_of(Vocabulary.of(f"{path}:Net")) == {**LOOP, "width": INT}


def test_an_unannotated_parameter_takes_the_kinds_its_default_says(user_file) -> None:
    path = user_file(
        "unannotated_net",
        "def Net(num_classes, width=16, dropout=0.0, use_bn=False, sizes=(8,), norm='batch',"
        " layers=2):\n    return None\n",
    )
    assert kinds_of(Vocabulary.of(f"{path}:Net")) == {**LOOP, **USERS_KINDS}


def test_a_factory_taking_any_keyword_knows_every_name(user_file) -> None:
    path = user_file("open_net", "def Net(num_classes, **options):\n    return None\n")
    vocabulary = Vocabulary.of(f"{path}:Net")
    assert vocabulary.open_ended and vocabulary.knows("anything")
    assert vocabulary.kinds("anything") == ("categorical", "float", "int")
    assert vocabulary.kinds("batch_size") == LOOP["batch_size"]


USERS_SPACE = {
    "params": {
        "width": {"type": "int", "low": 8, "high": 32, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "use_bn": {"type": "categorical", "choices": [True, False]},
        "norm": {"type": "categorical", "choices": ["batch", "layer"]},
    }
}


def test_a_yaml_space_of_a_users_parameters_compiles_with_that_models_vocabulary(users_net):
    drawn = sample(compile_space(USERS_SPACE, "users.yaml", Vocabulary.of(users_net)))
    assert all(set(params) == set(USERS_SPACE["params"]) for params in drawn)
    assert all(isinstance(p["width"], int) and 8 <= p["width"] <= 32 for p in drawn)
    assert {p["use_bn"] for p in drawn} == {True, False}


def test_the_same_space_is_refused_with_the_mlps_vocabulary(users_net) -> None:
    spec = {"params": {"layers": {"type": "int", "low": 1, "high": 3}}}
    assert sample(compile_space(spec, "users.yaml", Vocabulary.of(users_net)), trials=1)
    for vocabulary in (None, Vocabulary.of("mlp")):  # None: the mlp's
        with pytest.raises(SpaceError) as err:
            compile_space(spec, "users.yaml", vocabulary)
        assert str(err.value) == (
            "users.yaml: unknown hyperparameter 'layers': neither the training loop nor model "
            "mlp takes it; did you mean 'num_layers'? valid: optimizer, lr, gamma, momentum, "
            "weight_decay, batch_size, hidden, activation, hidden_size, num_layers"
        )


def test_the_refusal_names_the_users_model_and_what_it_takes(users_net) -> None:
    spec = {"params": {"dropuot": {"type": "float", "low": 0.0, "high": 0.5}}}
    with pytest.raises(SpaceError) as err:
        compile_space(spec, "users.yaml", Vocabulary.of(users_net))
    message = str(err.value)
    assert f"neither the training loop nor model {users_net} takes it" in message
    assert "did you mean 'dropout'?" in message
    assert "valid: optimizer, lr, gamma, momentum, weight_decay, batch_size, width," in message


@pytest.mark.parametrize(
    ("name", "spec", "fragment"),
    [
        ("width", {"type": "float", "low": 8, "high": 32}, "must have type int or categorical"),
        ("layers", {"type": "float", "low": 1, "high": 3}, "must have type int or categorical"),
        ("use_bn", {"type": "float", "low": 0, "high": 1}, "must have type categorical, got"),
        ("norm", {"type": "int", "low": 0, "high": 1}, "must have type categorical, got int"),
    ],
)
def test_a_type_the_parameter_does_not_take_is_refused(users_net, name, spec, fragment) -> None:
    with pytest.raises(SpaceError, match=f"^users.yaml: param '{name}': {fragment}"):
        compile_space({"params": {name: spec}}, "users.yaml", Vocabulary.of(users_net))


@pytest.mark.parametrize(("model", "name"), [("users", "sizes"), ("mlp", "hidden")])
def test_a_sequence_parameter_is_refused_with_the_model_args_hint(users_net, model, name) -> None:
    vocabulary = Vocabulary.of(users_net if model == "users" else model)
    spec = {"params": {name: {"type": "categorical", "choices": [8, 16]}}}
    with pytest.raises(SpaceError) as err:
        compile_space(spec, "s.yaml", vocabulary)
    assert str(err.value) == (
        f"s.yaml: param '{name}': the model takes a sequence here, which a search space cannot "
        "propose; set it in model_args"
    )


def optimizers(*choices: str) -> dict[str, Any]:
    return {"params": {"optimizer": {"type": "categorical", "choices": list(choices)}}}


def test_any_torch_optimizer_may_be_a_choice() -> None:
    drawn = sample(compile_space(optimizers("sgd", "nadam", "radam", "adamax")))
    assert {params["optimizer"] for params in drawn} == {"sgd", "nadam", "radam", "adamax"}


@pytest.mark.parametrize("name", ["lbfgs", "bogus"])
def test_an_optimizer_the_loop_cannot_build_is_refused(name: str) -> None:
    with pytest.raises(SpaceError, match=f"param 'optimizer': unknown optimizer '{name}'"):
        compile_space(optimizers("adam", name), "s.yaml")


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "int", "low": 16, "high": 256, "log": True},
        {"type": "categorical", "choices": [16, 32, 64]},
    ],
)
def test_batch_size_is_searchable(spec: dict[str, Any]) -> None:
    drawn = sample(compile_space({"params": {"batch_size": spec}}))
    sizes = {params["batch_size"] for params in drawn}
    assert all(isinstance(size, int) and size >= 16 for size in sizes) and len(sizes) > 1


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "float", "low": 16, "high": 64}, "must have type int or categorical, got float"),
        ({"type": "int", "low": 0, "high": 64}, "must lie within [1, inf)"),
    ],
)
def test_batch_size_must_be_a_whole_positive_number(spec, fragment) -> None:
    with pytest.raises(SpaceError) as err:
        compile_space({"params": {"batch_size": spec}}, "s.yaml")
    assert fragment in str(err.value)


def test_a_define_by_run_function_is_found_by_its_file(user_file) -> None:
    path = user_file(
        "users_space",
        """\
        def space(trial):
            trial.suggest_float("lr", 1e-3, 0.1, log=True)
            trial.suggest_int("width", 8, 32)
        """,
    )
    space = search_spaces.get(f"{path}:space")
    assert space is sys.modules["users_space"].space
    drawn = sample(space, trials=3)
    assert all(set(params) == {"lr", "width"} for params in drawn)


def test_a_define_by_run_function_is_found_by_its_module() -> None:
    assert search_spaces.get("search_spaces.registry:small") is search_spaces.get("small")
