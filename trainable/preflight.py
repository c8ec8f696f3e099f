"""What a sweep's driver checks of a trial before Ray starts, so that bad input fails in one line.

The config is valid; the data reads (a user's loader is called, and returns something usable);
the model's factory resolves and every parameter it needs is supplied. Where the model or the
data is the user's, the model is also built once on the CPU and run in eval mode on one real
batch of each part (train, val, test), which must be ``(inputs, labels)`` and give one score
per class; then it makes one training step (forward, loss, backward, the trial's optimizer) on
a batch of the size of the last training batch an epoch has, so that an in-place operation that
breaks the backward pass, or a batch size written into the model, fails here and not in every
trial. Each check reads a batch or two, never a pass over the data.

The built-in MLP on built-in data skips the build: it flattens any input and ends in one logit
per class (its contract test shows it), and building it would import torch before Ray starts
(seconds on a small machine) for nothing.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from trainable import factory, sources, user_code
from trainable.config import TrialConfig
from trainable.factory import DataFacts
from trainable.user_code import UserCodeError

BUILT_WITHOUT_A_CHECK = "mlp"
PARTS = ("train", "val", "test")


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
    """Build the model on the CPU, check its scores for one real batch of each part in eval
    mode, and make one training step."""
    import torch

    from trainable.run import build_model, load_split

    split = load_split(cfg, torch.device("cpu"))
    model = build_model(cfg, split)
    model.eval()
    for part in PARTS:
        x, y = _batch(cfg, split, part, cfg.batch_size)
        doing = "on a batch" if part == "train" else f"on a {part} batch"
        with torch.no_grad():
            scores = _scores(cfg, model, x, doing)
        _check_scores(cfg, scores, len(y), split.facts.num_classes, "")
    _training_step(cfg, model, split)


def _training_step(cfg: TrialConfig, model: Any, split: Any) -> None:
    """One step of the trial's optimizer in training mode on a batch of the size of the last
    training batch of an epoch (``batching.batch_sizes``): the smallest, or where a one-row
    batch was joined to the one before, the one that differs from the batch size."""
    import torch

    from trainable.data import batching
    from trainable.optim import build_optimizer

    rows = batching.batch_sizes(len(split.indices[0]), cfg.batch_size)[-1]
    x, y = _batch(cfg, split, "train", rows)
    doing = f"on a training step with a batch of {rows}"
    model.train()
    scores = _scores(cfg, model, x, doing)
    _check_scores(cfg, scores, len(y), split.facts.num_classes, " in training mode")
    try:
        loss = torch.nn.functional.cross_entropy(scores, y)
        loss.backward()
    except Exception as err:
        raise _failed(cfg, doing, err, _where_backward_failed(model, x, y)) from None
    try:
        optimizer = build_optimizer(
            cfg.optimizer, model.parameters(),
            lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
        )  # fmt: skip
        optimizer.step()
    except Exception as err:
        raise _failed(cfg, doing, err) from None


def _batch(cfg: TrialConfig, split: Any, part: str, rows: int) -> tuple[Any, Any]:
    """The first ``rows`` rows of ``part``, collated and checked as the loop will read them."""
    return split.checked_sample(cfg.dataset, part, rows)


def _scores(cfg: TrialConfig, model: Any, inputs: Any, doing: str) -> Any:
    """The model's scores for ``inputs``; what it raises names ``doing`` and the inputs' shape."""
    from trainable.data import batching

    try:
        return batching.call(model, inputs)
    except Exception as err:
        what = f"{cfg.model} ({doing} of {batching.describe(inputs)})"
        raise user_code.raised("model", what, err) from None


def _check_scores(cfg: TrialConfig, scores: Any, rows: int, classes: int, mode: str) -> None:
    import torch

    expected = (rows, classes)
    shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else None
    if shape != expected:
        got = f"shape {shape}" if shape is not None else user_code.a_kind_of(scores)
        raise UserCodeError(
            f"model {cfg.model} gives {got} for a batch of {rows}{mode}; it must give one score "
            f"per class, shape (batch, num_classes) = {expected} (logits or log-probabilities)"
        )


def _where_backward_failed(model: Any, x: Any, y: Any) -> str | None:
    """The user's line whose operation's gradient could not be computed: a failed backward pass
    has none of the user's frames, so the step runs again with torch's anomaly detection, which
    warns with the forward traceback of the operation that failed."""
    import torch

    from trainable.data import batching

    model.zero_grad(set_to_none=True)
    with warnings.catch_warnings(record=True) as caught, torch.autograd.detect_anomaly():
        warnings.simplefilter("always")
        # The same error again: only the warning's traceback is wanted.
        with contextlib.suppress(Exception):
            torch.nn.functional.cross_entropy(batching.call(model, x), y).backward()
    found = [user_code.where_in(str(w.message)) for w in caught]
    return next((where for where in found if where), None)


def _failed(cfg: TrialConfig, doing: str, err: Exception, where: str | None = None) -> Exception:
    """``user_code.raised``'s one line for the model, at ``where`` when the traceback lacks it."""
    error = user_code.raised("model", f"{cfg.model} ({doing})", err)
    if where is None:
        return error
    return UserCodeError(f"{str(error).rpartition(' (')[0]} ({where})")


def _facts(cfg: TrialConfig) -> DataFacts:
    from trainable import data

    return data.load(cfg.dataset, label=cfg.label, seed=cfg.seed).facts


def _builtin_facts(cfg: TrialConfig) -> DataFacts:
    """The facts of a built-in source or a table file, read without torch."""
    features, _, classes = sources.read(cfg.dataset, cfg.label, cfg.seed)
    return DataFacts(len(classes), tuple(features.shape[1:]))
