"""The flat, JSON-safe configuration of one trial: what crosses from the sweep into a worker."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

# The optimizers and activations named here (trainable.optim and trainable.activations build
# them; a test keeps them in step), spelled out so that a config, or a search space, is checked
# without importing torch: the sweep's driver validates everything first, and imports torch
# while Ray starts. trainable.optim also takes any other torch.optim optimizer by its lower-case
# name.
CHOICES = {
    "optimizer": ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"),
    "activation": ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout", "gelu", "silu"),
}
ACTIVATION = "activation"
# Hyperparameter values cross into Ray and Optuna: plain JSON scalars only.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | None


class TrialConfigError(ValueError):
    """An invalid trial configuration, described in one line."""


class TrialConfig(BaseModel):
    """One trial: the loop's hyperparameters and settings, and the model to train.

    The model is ``model`` (a registered name or an import path, see :mod:`trainable.factory`)
    built with the fixed ``model_args`` and with every key this config has beyond its fields:
    the model's searched hyperparameters (``activation``, ``dropout``, ``hidden_size``, ...).
    """

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    optimizer: str = "adam"
    lr: float = Field(1e-3, gt=0)
    gamma: float = Field(1.0, gt=0, le=1)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(32, ge=1)

    model: str = "mlp"
    model_args: dict[str, Any] = Field(default_factory=dict)
    dataset: str = "digits"
    label: str | None = None
    max_epochs: int = Field(20, ge=1)
    seed: int = 0
    trial_index: int = Field(0, ge=0)
    replicate: int = Field(0, ge=0)  # 0: the search's run; 1, 2, ...: confirmation runs

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        if name in CHOICES["optimizer"]:
            return name
        from trainable.optim import optimizer_names  # imports torch: only for other names

        valid = optimizer_names()
        if name not in valid:
            raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(valid)}")
        return name

    @model_validator(mode="after")
    def _model_hyperparameters(self) -> TrialConfig:
        extra = self.model_extra or {}
        for key, value in extra.items():
            if not key.isidentifier():
                raise ValueError(f"{key}: a hyperparameter's name must be an identifier")
            try:
                TypeAdapter(Scalar).validate_python(value)
            except ValidationError:
                raise ValueError(
                    f"{key}: a hyperparameter must be a number, string, bool or null, got {value!r}"
                ) from None
        activation = extra.get(ACTIVATION, CHOICES[ACTIVATION][0])
        if activation not in CHOICES[ACTIVATION]:
            raise ValueError(
                f"activation: unknown activation {activation!r}; "
                f"valid: {', '.join(CHOICES[ACTIVATION])}"
            )
        return self

    @property
    def model_hyperparameters(self) -> dict[str, Any]:
        """The searched hyperparameters the model takes (everything beyond the loop's fields)."""
        return dict(self.model_extra or {})

    @classmethod
    def parse(cls, config: dict[str, Any]) -> TrialConfig:
        try:
            return cls.model_validate(config)
        except ValidationError as err:
            raise TrialConfigError(first_error(err)) from None


def first_error(err: ValidationError) -> str:
    """pydantic's first complaint as ``field: message`` on one line."""
    detail = err.errors()[0]
    where = ".".join(str(part) for part in detail["loc"])
    message = detail["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
