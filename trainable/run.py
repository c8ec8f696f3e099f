"""One trial's training, epoch by epoch, with everything needed to stop and resume it exactly.

:class:`TrainingRun` is what the Ray adapter drives, and what benchmarks drive without Ray.
"""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import torch

from trainable import by_value, checkpoint, data, factory, loop, seeding
from trainable.config import TrialConfig
from trainable.data import batching
from trainable.optim import build_optimizer, build_scheduler
from trainable.result import EpochResult


class TrainingRun:
    """Model, optimizer, ExponentialLR, shuffling generator and progress of one trial.

    ``workers`` is the number of DataLoader processes reading a Dataset ahead of the loop
    (resident tensors need none).
    """

    def __init__(
        self,
        config: dict[str, Any] | TrialConfig,
        device: str | torch.device = "cpu",
        workers: int = 0,
    ):
        self.config = config if isinstance(config, TrialConfig) else TrialConfig.parse(config)
        self.device = torch.device(device)
        self.workers = workers
        cfg = self.config
        self.split = load_split(cfg, self.device)
        seed = seeding.trial_seed(cfg.seed, cfg.trial_index, cfg.replicate)
        torch.manual_seed(seed)  # fixes the weight initialisation
        self.generator = seeding.seeded_generator(seed)
        self.model = build_model(cfg, self.split).to(self.device)
        self.optimizer = build_optimizer(
            cfg.optimizer, self.model.parameters(),
            lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum,
        )  # fmt: skip
        self.scheduler = build_scheduler(self.optimizer, cfg.gamma)
        self.epoch = 0
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.max_epochs

    def step(self) -> EpochResult:
        """Train one epoch, validate, decay the learning rate; return the epoch's metrics.

        ``diverged`` is set (and the run should end) when a loss is NaN or infinite; ``done``
        when it diverged or this was the last epoch.
        """
        cfg = self.config
        lr = self.optimizer.param_groups[0]["lr"]
        batches = self.split.train_batches(cfg.batch_size, self.generator, self.workers)
        train = loop.train_epoch(self.model, batches, self.optimizer)
        batches = self.split.eval_batches("val", cfg.batch_size, self.workers)
        val = loop.evaluate(self.model, batches)
        self.scheduler.step()
        self.epoch += 1
        diverged = not (math.isfinite(train.loss) and math.isfinite(val.loss))
        if not diverged and val.loss < self.best_val_loss:
            self.best_val_loss, self.best_epoch = val.loss, self.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        return EpochResult(
            epoch=self.epoch,
            train_loss=train.loss,
            train_acc=train.accuracy,
            train_rows=train.rows,
            val_loss=val.loss,
            val_acc=val.accuracy,
            lr=lr,
            best_val_loss=self.best_val_loss,
            best_epoch=self.best_epoch,
            diverged=diverged,
            done=diverged or self.finished,
        )

    def test(self) -> dict[str, Any]:
        """Loss and accuracy of the best-validation weights on the test split: call once."""
        model = copy.deepcopy(self.model)
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return _test(model, self.split, self.config.batch_size, self.workers)

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint bundle (see :mod:`trainable.checkpoint`)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "best_model": self.best_state,
            "rng": seeding.rng_state(self.generator),
            "config": self.config.model_dump(),
        }

    def load_state_dict(self, bundle: dict[str, Any]) -> None:
        self.model.load_state_dict(bundle["model"])
        self.optimizer.load_state_dict(bundle["optimizer"])
        self.scheduler.load_state_dict(bundle["scheduler"])
        self.epoch = bundle["epoch"]
        self.best_val_loss = bundle["best_val_loss"]
        self.best_epoch = bundle["best_epoch"]
        self.best_state = bundle["best_model"]
        seeding.set_rng_state(self.generator, bundle["rng"])

    def save(self, directory: str) -> None:
        checkpoint.save(directory, self.state_dict())

    def restore(self, directory: str) -> None:
        self.load_state_dict(checkpoint.load(directory, map_location=self.device))

    @classmethod
    def from_checkpoint(
        cls,
        directory: str,
        device: str | torch.device = "cpu",
        *,
        model: Any = None,
        dataset: Any = None,
    ) -> TrainingRun:
        """Rebuild a run from its bundle (the config, which names the model and the data,
        travels inside it).

        ``model`` and ``dataset``, a class or function, stand for what the config names: pass
        them for code defined in a notebook (they win over the sweep folder's copy, see
        :mod:`trainable.by_value`), or to rebuild with code that moved.
        """
        bundle = checkpoint.load(directory, map_location=device)
        config = bundle["config"]
        for name, obj in (("model", model), ("dataset", dataset)):
            if obj is not None:
                by_value.register(config[name], obj)
        # The sweep folder's code by value, above the checkpoint, for what was not passed.
        references = [config["model"], config["dataset"]]
        by_value.install_missing(references, lambda: _code_above(directory))
        run = cls(config, device)
        run.load_state_dict(bundle)
        return run


def _code_above(directory: str) -> bytes | None:
    """The sweep folder's code by value, found above a checkpoint in ``directory``."""
    found = by_value.find_file(directory)
    return found.read_bytes() if found is not None else None


def load_split(cfg: TrialConfig, device: torch.device) -> data.Split:
    return data.load(cfg.dataset, label=cfg.label, seed=cfg.seed).to(device)


def build_model(cfg: TrialConfig, split: data.Split) -> torch.nn.Module:
    """The trial's model from its factory (a name or a user's import path) and arguments."""
    return factory.build(
        cfg.model, searched=cfg.model_hyperparameters, fixed=cfg.model_args, facts=split.facts
    )


def checkpoint_test_metrics(directory: str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """:meth:`TrainingRun.test` of a checkpoint's best-validation weights, building only the
    model: a process's first optimizer is slow to build (torch imports its compiler then)."""
    device = torch.device(device)
    bundle = checkpoint.load(directory, map_location=device)
    cfg = TrialConfig.parse(bundle["config"])
    split = load_split(cfg, device)
    model = build_model(cfg, split).to(device)
    model.load_state_dict(bundle["best_model"] or bundle["model"])
    return _test(model, split, cfg.batch_size, 0)


def _test(
    model: torch.nn.Module, split: data.Split, batch_size: int, workers: int
) -> dict[str, Any]:
    """Loss and accuracy on the test split, and a SHA-256 of the rows as read: the lockbox
    (``sweeps.lockbox``) records which rows a figure came from."""
    digest = hashlib.sha256()
    batches = split.eval_batches("test", batch_size, workers)
    metrics = loop.evaluate(model, _hashed(batches, digest))
    return {"test_loss": metrics.loss, "test_acc": metrics.accuracy,
            "test_rows_sha256": digest.hexdigest()}  # fmt: skip


def _hashed(batches: batching.Batches, digest: Any) -> batching.Batches:
    """The batches, each tensor's bytes added to ``digest`` as read (a tuple's in order, a
    mapping's by sorted key, then the labels)."""
    for x, y in batches:
        for _, tensor in (*batching.tensors(x), ("", y)):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        yield x, y
