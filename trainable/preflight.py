"""What a sweep's driver checks of a trial before Ray starts, so that bad input fails in one line.

The config is valid; the data reads (a user's loader is called, and returns something usable);
the model's factory resolves and every parameter it needs is supplied. Where the model or the
data is the user's, the model is also built once on the CPU and run on one real batch, which
must give one score per class. The built-in MLP on built-in data skips that step: it flattens
any input and ends in one logit per class (its contract test shows it), and building it would
import torch before Ray starts (seconds on a small machine) for nothing.
"""

from __future__ import annotations

from typing import Any

from trainable import factory, sources, user_code
from trainable.config import TrialConfig
from trainable.factory import DataFacts
from trainable.user_code import UserCodeError

BUILT_WITHOUT_A_CHECK = "mlp"


def check(config: dict[str, Any]) -> None:
    """Raise a one-line error (a UserCodeError, DataError or TrialConfigError) if ``config``
    cannot train."""
    cfg = TrialConfig.parse(config)
    users_data = user_code.is_reference(cfg.dataset)
    facts = _facts(cfg) if users_data else _builtin_facts(cfg)
    fn = factory.resolve(cfg.model)
    factory.arguments(
        fn, cfg.model, searched=cfg.model_hyperparameters, fixed=cfg.model_args, facts=facts
    )
    if users_data or cfg.model != BUILT_WITHOUT_A_CHECK:
        run_once(cfg)


def run_once(cfg: TrialConfig) -> None:
    """Build the model on the CPU and check its scores for one real training batch."""
    import torch

    from trainable.run import build_model, load_split

    split = load_split(cfg, torch.device("cpu"))
    model = build_model(cfg, split)
    x, y = split.sample(cfg.batch_size)
    model.eval()
    try:
        with torch.no_grad():
            scores = model(x)
    except Exception as err:
        raise user_code.raised("model", f"{cfg.model} (on a batch of shape {tuple(x.shape)})",
                               err) from None  # fmt: skip
    expected = (len(y), split.facts.num_classes)
    shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else None
    if shape != expected:
        got = f"shape {shape}" if shape is not None else user_code.a_kind_of(scores)
        raise UserCodeError(
            f"model {cfg.model} gives {got} for a batch of {len(y)}; it must give one score per "
            f"class, shape (batch, num_classes) = {expected} (logits or log-probabilities)"
        )


def _facts(cfg: TrialConfig) -> DataFacts:
    from trainable import data

    return data.load(cfg.dataset, label=cfg.label, seed=cfg.seed).facts


def _builtin_facts(cfg: TrialConfig) -> DataFacts:
    """The facts of a built-in source or a table file, read without torch."""
    features, _, classes = sources.read(cfg.dataset, cfg.label, cfg.seed)
    return DataFacts(len(classes), tuple(features.shape[1:]))
