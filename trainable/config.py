"""The flat, JSON-safe configuration of one trial: what crosses from the sweep into a worker."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

# The names trainable.optim and trainable.models build (a test keeps them in step), spelled out
# so that a config, or a search space (search_spaces.hyperparameters reads them here), is checked
# without importing torch: the sweep's driver validates everything first, and imports torch
# while Ray starts.
CHOICES = {
    "optimizer": ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"),
    "activation": ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "maxout", "gelu", "silu"),
}


class TrialConfigError(ValueError):
    """An invalid trial configuration, described in one line."""


class TrialConfig(BaseModel):
    """Hyperparameters (searched) and settings (fixed by the sweep) of one trial."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: str = "adam"
    lr: float = Field(1e-3, gt=0)
    gamma: float = Field(1.0, gt=0, le=1)
    activation: str = "relu"
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    hidden: tuple[PositiveInt, ...] = (128, 128)
    hidden_size: int | None = Field(None, ge=1)
    num_layers: int | None = Field(None, ge=1)

    dataset: str = "digits"
    label: str | None = None
    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(20, ge=1)
    seed: int = 0
    trial_index: int = Field(0, ge=0)

    @field_validator("optimizer", "activation")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        choices = CHOICES[info.field_name]
        if name not in choices:
            raise ValueError(f"unknown {info.field_name} {name!r}; valid: {', '.join(choices)}")
        return name

    @property
    def hidden_layers(self) -> tuple[int, ...]:
        """Searched ``hidden_size``/``num_layers`` override the sweep's fixed ``hidden``."""
        if self.hidden_size is None and self.num_layers is None:
            return self.hidden
        size = self.hidden_size or (self.hidden[0] if self.hidden else 128)
        layers = self.num_layers if self.num_layers is not None else len(self.hidden)
        return (size,) * layers

    @classmethod
    def parse(cls, config: dict[str, Any]) -> TrialConfig:
        try:
            return cls.model_validate(config)
        except ValidationError as err:
            raise TrialConfigError(first_error(err)) from None


def first_error(err: ValidationError) -> str:
    """pydantic's first complaint as ``field: message`` on one line."""
    detail = err.errors()[0]
    where = ".".join(str(part) for part in detail["loc"]) or "config"
    message = detail["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"
