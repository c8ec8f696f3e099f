"""Tests for trainable.factory: a model's parameters filled by name from the data, model_args and
the search space, and one-line errors for what cannot be filled or built."""

from __future__ import annotations

import pytest
from torch import nn

from trainable import factory, models
from trainable.activations import ACTIVATIONS
from trainable.factory import DATA_FACTS, DataFacts
from trainable.user_code import UserCodeError

FACTS = DataFacts(num_classes=10, input_shape=(1, 8, 8))

FACTORIES = """\
from torch import nn


class Recorded(nn.Module):
    '''Keeps what it was called with.'''

    def __init__(self, num_classes, input_shape, num_features, width=16, depth=2,
                 activation=nn.ReLU):
        super().__init__()
        self.called = dict(num_classes=num_classes, input_shape=input_shape,
                           num_features=num_features, width=width, depth=depth,
                           activation=activation)
        self.head = nn.Linear(num_features, num_classes)


class NoArguments(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(64, 10)


def open_ended(num_classes, **options):
    model = nn.Linear(4, num_classes)
    model.options = options
    return model


def needs_depth(num_classes, depth):
    return nn.Linear(depth, num_classes)


def raises(num_classes, width=4):
    if width > 2:
        raise ValueError(f"width {width} is too wide\\nfor this model")
    return nn.Linear(1, num_classes)


def not_a_module(num_classes):
    return num_classes
"""


@pytest.fixture
def factories(user_file):
    path = user_file("factories.py", FACTORIES)
    return lambda name: f"{path}:{name}"


def _build(reference: str, searched: dict | None = None, fixed: dict | None = None) -> nn.Module:
    return factory.build(reference, searched=searched or {}, fixed=fixed or {}, facts=FACTS)


def _error(reference: str, searched: dict | None = None, fixed: dict | None = None) -> str:
    with pytest.raises(UserCodeError) as info:
        _build(reference, searched, fixed)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_data_facts_are_what_the_data_tells() -> None:
    assert FACTS.num_features == 64
    assert FACTS.as_arguments() == {"num_classes": 10, "input_shape": (1, 8, 8), "num_features": 64}
    assert tuple(FACTS.as_arguments()) == DATA_FACTS


def test_resolve_takes_a_registered_name_or_an_import_path(factories) -> None:
    assert factory.resolve("mlp") is models.mlp
    assert factory.resolve("cnn") is models.cnn
    assert factory.resolve("trainable.models:cnn") is models.cnn
    assert factory.resolve(factories("NoArguments")).__name__ == "NoArguments"


def test_an_unknown_model_name_lists_the_registered_ones() -> None:
    with pytest.raises(UserCodeError) as info:
        factory.resolve("resnet")
    assert str(info.value) == (
        "unknown model 'resnet'; valid: mlp, cnn, or package.module:attr, or path/to/file.py:attr"
    )


def test_parameters_are_filled_by_name_from_data_model_args_and_search(factories) -> None:
    model = _build(factories("Recorded"), searched={"width": 32}, fixed={"depth": 3})
    assert model.called == {
        "num_classes": 10, "input_shape": (1, 8, 8), "num_features": 64, "width": 32,
        "depth": 3, "activation": nn.ReLU,
    }  # fmt: skip


def test_searched_beats_model_args_beats_the_data(factories) -> None:
    model = _build(
        factories("Recorded"),
        searched={"width": 32, "depth": 5},
        fixed={"width": 8, "num_classes": 4},
    )
    assert (model.called["width"], model.called["depth"]) == (32, 5)
    assert model.called["num_classes"] == 4
    kwargs = factory.arguments(
        factory.resolve(factories("Recorded")), "Recorded",
        searched={"num_classes": 7}, fixed={"num_classes": 4}, facts=FACTS,
    )  # fmt: skip
    assert kwargs["num_classes"] == 7


def test_a_parameter_nobody_names_keeps_its_default(factories) -> None:
    kwargs = factory.arguments(
        factory.resolve(factories("Recorded")), "Recorded", searched={}, fixed={}, facts=FACTS
    )
    assert set(kwargs) == set(DATA_FACTS)  # width, depth and activation keep their defaults


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_an_activation_name_becomes_its_module_factory(factories, name: str) -> None:
    model = _build(factories("Recorded"), searched={"activation": name})
    assert model.called["activation"] is ACTIVATIONS[name]


def test_an_activation_name_in_model_args_becomes_its_module_factory(factories) -> None:
    model = _build(factories("Recorded"), fixed={"activation": "tanh"})
    assert model.called["activation"] is nn.Tanh


def test_a_model_class_with_no_arguments_at_all_is_built(factories) -> None:
    model = _build(factories("NoArguments"))
    assert isinstance(model, nn.Module) and model.head.out_features == 10
    assert factory.parameters(factory.resolve(factories("NoArguments"))) == {}


def test_a_factory_with_no_arguments_is_told_what_it_does_not_take(factories) -> None:
    assert _error(factories("NoArguments"), searched={"dropout": 0.1}) == (
        f"model {factories('NoArguments')} takes no parameter 'dropout' (set by the search "
        "space); it takes: (none)"
    )


def test_a_kwargs_factory_takes_any_name_but_only_the_data_facts_it_names(factories) -> None:
    model = _build(factories("open_ended"), searched={"dropout": 0.1}, fixed={"norm": "batch"})
    assert model.out_features == 10
    assert model.options == {"dropout": 0.1, "norm": "batch"}


def test_an_unknown_searched_name_is_refused_listing_the_parameters(factories) -> None:
    assert _error(factories("Recorded"), searched={"dropout": 0.1}) == (
        f"model {factories('Recorded')} takes no parameter 'dropout' (set by the search space); "
        "it takes: num_classes, input_shape, num_features, width, depth, activation"
    )


def test_an_unknown_model_args_name_is_refused(factories) -> None:
    assert "takes no parameter 'hidden' (set by model_args)" in _error(
        factories("Recorded"), fixed={"hidden": [8]}
    )


def test_a_required_parameter_nobody_supplies_is_refused(factories) -> None:
    assert _error(factories("needs_depth")) == (
        f"model {factories('needs_depth')}: nothing supplies its parameter 'depth'; set it in "
        "--model-args, search it in the space, or give it a default (the data fills "
        "num_classes, input_shape, num_features)"
    )
    assert _build(factories("needs_depth"), fixed={"depth": 3}).in_features == 3


def test_a_factory_that_raises_is_reported_with_the_users_file_and_line(factories) -> None:
    reference = factories("raises")
    path = reference.rsplit(":", 1)[0]
    line = next(i for i, text in enumerate(FACTORIES.splitlines(), 1) if "too wide" in text)
    assert _error(reference, searched={"width": 8}) == (
        f"model {reference} raised ValueError: width 8 is too wide ({path}:{line})"
    )


def test_a_factory_returning_something_else_than_a_module_is_refused(factories) -> None:
    assert _error(factories("not_a_module")) == (
        f"model {factories('not_a_module')} returned an int, not a torch.nn.Module"
    )


def test_searchable_leaves_out_what_the_data_fills() -> None:
    assert list(factory.searchable(models.mlp)) == ["hidden", "activation", "hidden_size",
                                                    "num_layers"]  # fmt: skip
    assert list(factory.searchable(models.cnn)) == ["channels", "hidden", "activation", "dropout"]


def test_parameters_leave_out_self_and_star_args() -> None:
    def fn(a, *args, b=1, **kwargs):
        return a

    assert list(factory.parameters(fn)) == ["a", "b"]
    assert factory.takes_any_keyword(fn)
    assert not factory.takes_any_keyword(models.mlp)

    class Net:
        def __init__(self, num_classes, width=4):
            self.width = width

    assert list(factory.parameters(Net)) == ["num_classes", "width"]


def test_the_built_in_models_are_built_from_the_data_facts() -> None:
    mlp = _build("mlp", searched={"hidden_size": 8, "num_layers": 1, "activation": "tanh"})
    assert [type(m) for m in mlp] == [nn.Flatten, nn.Linear, nn.Tanh, nn.Linear]
    assert (mlp[1].in_features, mlp[1].out_features, mlp[3].out_features) == (64, 8, 10)
    cnn = _build("cnn", fixed={"channels": [4], "hidden": []})
    assert next(m for m in cnn if isinstance(m, nn.Conv2d)).in_channels == 1
    assert [m for m in cnn if isinstance(m, nn.Linear)][-1].out_features == 10


def test_an_unknown_activation_name_in_model_args_is_refused_before_building() -> None:
    """The driver checks the mlp without building it: arguments() must catch the name."""
    with pytest.raises(UserCodeError) as info:
        factory.arguments(
            models.mlp, "mlp", searched={}, fixed={"activation": "swish"}, facts=FACTS
        )
    assert str(info.value) == (
        f"model mlp: unknown activation 'swish'; valid: {', '.join(ACTIVATIONS)}"
    )
