"""Every option of a sweep as one frozen pydantic model, ``SweepConfig``: its name (a flag and a
YAML key), its default, its help and its checks. ``sweeps.config`` reads the options from flags
and YAML files and validates them with this model.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from search_spaces import YAML_SUFFIXES
from sweeps import budget
from trainable import user_code
from trainable.sources import TABLE_SUFFIXES

CREDENTIAL_KEYS = frozenset({"access_key", "secret_key", "session_token", "password", "token"})
LOCAL_FILE_SUFFIXES = (*TABLE_SUFFIXES, *YAML_SUFFIXES)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Optuna's samplers a sweep can search with (sweeps.tune.search builds them).
SAMPLERS = ("tpe", "gp", "random", "auto")
DEFAULT_TRIALS = 24  # the search's trials when neither --num-trials nor --time-budget is given


class SweepConfig(BaseModel):
    """Everything a sweep needs; see ``python -m sweeps.run --help``."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str = Field(
        "", description="sweep name, the folder under --storage (default: a timestamp)"
    )
    storage: str = Field(
        "runs", description="local/NFS folder or pyarrow.fs URI (s3://...) for results"
    )
    model: str = Field(
        "mlp", description="mlp, cnn, or your model: package.module:attr or path/to/file.py:attr"
    )
    model_args: dict[str, Any] = Field(
        default_factory=dict,
        description="fixed arguments of the model, e.g. width=64,dropout=0.1 or '{width: 64}'",
    )
    dataset: str = Field(
        "digits",
        description="digits, digit_images, synthetic, a .parquet/.csv/.feather file or URI, "
        "or your loader: package.module:attr or path/to/file.py:attr",
    )
    label: str | None = Field(None, description="label column of a tabular --dataset")
    space: str = Field(
        "default",
        description="registered space name, a YAML space file, or a define-by-run function "
        "(package.module:attr or path/to/file.py:attr)",
    )
    num_trials: int | None = Field(
        None,
        ge=1,
        description=f"number of trials Optuna proposes (default {DEFAULT_TRIALS}; with "
        "--time-budget: as many as its search's share holds, or this many if fewer)",
    )
    time_budget: float | None = Field(
        None,
        description="the whole command's time: 90s, 30m, 2h, 1h30m or seconds; the search "
        "ends in time for confirmation (fitted to what is left), the test reading and the "
        "outputs; --resume goes on with what is left of it, or with a new one",
    )
    sampler: str = Field(
        "tpe",
        description="how Optuna proposes trials: tpe (multivariate TPE), gp (Gaussian process, "
        "learns only from trials that reach --max-epochs), random, or auto (gp for a space of "
        "numbers that every trial has, tpe otherwise)",
    )
    max_epochs: int = Field(
        20, ge=1, description="epochs of a trial that is never pruned (ASHA max_t)"
    )
    grace_period: int = Field(
        1, ge=1, description="epochs every trial gets before ASHA may prune it"
    )
    reduction_factor: float = Field(
        3.0, gt=1, description="ASHA keeps 1/reduction_factor at each rung"
    )
    patience: int = Field(
        5, ge=1, description="stop a trial whose val_loss has not improved for this many epochs"
    )
    max_concurrent: int | None = Field(
        None,
        ge=1,
        description="trials at once at most (default: as the cluster's CPUs and GPUs hold, "
        "read again as nodes join or leave; an autoscaling cluster is asked for this many)",
    )
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs reserved per trial")
    gpus_per_trial: float = Field(
        0.0, ge=0, description="GPUs per trial; fractions pack trials (0.25 = 4 per GPU)"
    )
    batch_size: int = Field(32, ge=1, description="mini-batch size (unless the space searches it)")
    hidden: tuple[int, ...] | None = Field(
        None, description="hidden layer sizes of mlp or cnn, e.g. 128,128 (a model_args entry)"
    )
    seed: int = Field(0, ge=0, description="sweep seed: sampler, data split and per-trial seeds")
    checkpoint_every: int = Field(
        5, ge=0, description="checkpoint every N epochs (0: only at a trial's end)"
    )
    keep_checkpoints: int = Field(
        2, ge=1, description="checkpoints kept per trial, best by val_loss"
    )
    confirm_top: int = Field(
        3, ge=1, description="confirm the best K configurations of the search (see --confirm-seeds)"
    )
    confirm_seeds: int = Field(
        3,
        ge=0,
        description="train each confirmed configuration again from scratch with this many fresh "
        "seeds, to --max-epochs; the best mean wins (0: no confirmation, the search's best wins)",
    )
    audit_pruned: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="continue this fraction of the trials ASHA pruned to --max-epochs after the "
        "search, and report how many would have beaten the winner (0: no audit)",
    )
    max_failures: int = Field(
        2, ge=0, description="retries of a crashed trial from its last checkpoint"
    )
    fail_fast: int = Field(
        3,
        ge=0,
        description="stop the sweep (exit 1) once the first N trials to end have all ended with "
        "the same error (type, message and your file:line) and none without one, and retry no "
        "error that repeats (0: off, every failure gets its --max-failures retries)",
    )
    trial_timeout: float | None = Field(
        None, gt=0, description="stop a trial that sends no result for this many seconds"
    )
    node_wait: float = Field(
        60,
        gt=0,
        description="on a cluster joined with --address: seconds to wait for nodes that fit a "
        "trial (an autoscaling cluster that starts from no worker: minutes)",
    )
    address: str | None = Field(
        None, description="Ray cluster to join ('auto', ray://host:port); default: local"
    )
    resume: bool = Field(False, description="continue the interrupted sweep --name in --storage")
    retest: bool = Field(
        False,
        description="read the test split again, for a new best trial of an extended sweep "
        "(each reading is recorded in test_readings.json and the report)",
    )
    dashboard: bool = Field(
        False, description="start Ray's dashboard on 127.0.0.1 (local Ray) and print its URL"
    )
    smoke: bool = Field(False, description="a tiny sweep (3 trials, 3 epochs) that runs in seconds")

    @field_validator("hidden", mode="before")
    @classmethod
    def _split_sizes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else budget.parse_duration(value)

    @field_validator("model_args", mode="before")
    @classmethod
    def _parse_arguments(cls, value: Any) -> Any:
        return parse_arguments(value) if isinstance(value, str) else value

    @field_validator("model", "dataset", "space")
    @classmethod
    def _absolute_file(cls, value: str) -> str:
        """A ``file.py:attr``, a table file or a YAML space as an absolute path: workers and a
        later --resume start in other folders."""
        if user_code.is_reference(value):
            return user_code.normalize(value)
        if "://" not in value and PurePosixPath(value).suffix.lower() in LOCAL_FILE_SUFFIXES:
            return str(Path(value).expanduser().resolve())
        return value

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, name: str) -> str:
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
        return name

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if name and not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"invalid sweep name {name!r}; use letters, digits, '.', '_' and '-' "
                "(no paths), starting with a letter or digit"
            )
        return name

    @field_validator("storage", "dataset")
    @classmethod
    def _no_credentials(cls, location: str) -> str:
        """Secrets in a URI would be printed and saved with the sweep; the environment holds
        them instead (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS, ...)."""
        parts = urllib.parse.urlsplit(location) if "://" in location else None
        if parts is None:
            return location
        keys = {key.lower() for key, _ in urllib.parse.parse_qsl(parts.query)}
        if parts.password is not None or keys & CREDENTIAL_KEYS:
            raise ValueError(
                "credentials in a URI would end up in logs and result files; pass them in "
                "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3://) instead"
            )
        return location

    @model_validator(mode="after")
    def _consistent(self) -> SweepConfig:
        if self.grace_period > self.max_epochs:
            raise ValueError(
                f"grace_period ({self.grace_period}) exceeds max_epochs ({self.max_epochs})"
            )
        if self.resume and not self.name:
            raise ValueError("--resume needs --name of the sweep to continue")
        if self.hidden is not None and "hidden" in self.model_args:
            raise ValueError("hidden is set twice: by --hidden and in model_args")
        return self

    @property
    def sweep_name(self) -> str:
        return self.name or time.strftime("sweep-%Y%m%d-%H%M%S")

    @property
    def trial_limit(self) -> int | None:
        """The search's trials at most: ``--num-trials``, or the default without a time budget
        (None: as many as the budget holds)."""
        if self.num_trials is None and self.time_budget is None:
            return DEFAULT_TRIALS
        return self.num_trials

    @property
    def joins_cluster(self) -> bool:
        """Whether the sweep joins a running Ray cluster (``--address``, or ``RAY_ADDRESS`` as
        ``ray job submit`` and KubeRay set it) rather than a local Ray."""
        return bool(self.address or os.environ.get("RAY_ADDRESS"))

    def trial_settings(self) -> dict[str, Any]:
        """What every trial shares: the fixed part of the trial config (flat, JSON-safe)."""
        hidden = {} if self.hidden is None else {"hidden": list(self.hidden)}
        return {
            "model": self.model,
            "model_args": {**self.model_args, **hidden},
            "dataset": self.dataset,
            "label": self.label,
            "batch_size": self.batch_size,
            "max_epochs": self.max_epochs,
            "seed": self.seed,
        }


def parse_arguments(text: str) -> dict[str, Any]:
    """``width=64,dropout=0.1`` or a YAML mapping (``{width: 64, sizes: [8, 8]}``) to a dict;
    each value is read as YAML, so numbers are numbers."""
    text = text.strip()
    try:
        if text.startswith("{"):
            value = yaml.safe_load(text)
        else:
            pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
            if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
                raise ValueError
            value = {key.strip(): yaml.safe_load(raw) for key, raw in pairs}
    except (yaml.YAMLError, ValueError):
        raise ValueError(
            f"cannot read {text!r}; write key=value,key=value or a mapping such as {{width: 64}}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{text!r} is not a mapping; write key=value,key=value")
    return value
