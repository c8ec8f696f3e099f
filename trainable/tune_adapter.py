"""The only module of :mod:`trainable` that imports Ray: a class Trainable over TrainingRun.

Ray's template method: ``setup`` builds the run, ``step`` is one epoch, ``save_checkpoint`` /
``load_checkpoint`` write and read the bundle, and ``reset_config`` lets the Tuner hand a live
actor the next trial (``reuse_actors``), keeping the process, its threads and its cached dataset.

A trial of a resumed sweep is a new Ray trial whose config says, under :data:`RESUME`, which
checkpoints its earlier runs left (newest first): it continues from the first that loads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
import torch
from ray import tune

from trainable import by_value, checkpoint
from trainable.checkpoint import CheckpointError, load_first_good
from trainable.run import TrainingRun

logger = logging.getLogger(__name__)
CHECKPOINT_GLOB = "checkpoint_[0-9]*"  # Ray's checkpoint folders in a trial folder
# The config key of a trial that continues an earlier run of it: a mapping of
RESUME = "resume"
RESUME_CHECKPOINTS = "checkpoints"  # its checkpoints' paths or URIs, newest first
RESUME_RECORDED = "recorded"  # the last epoch the sweep's record has of it


def _device() -> torch.device:
    # Ray sets CUDA_VISIBLE_DEVICES to the GPUs it allotted, so the first visible one is ours.
    if ray.get_gpu_ids() and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


class SweepTrainable(tune.Trainable):
    """One trial of a sweep; reports epoch metrics and never the test split."""

    def setup(self, config: dict[str, Any], code: bytes | None = None) -> None:
        """``code``: the user's objects that travel by value (see :mod:`trainable.by_value`),
        which the sweep passes through ``tune.with_parameters`` (Ray's object store)."""
        if code is not None:
            by_value.install(code)
        # Ray logs every checkpoint at INFO; the sweep saves one per trial and N epochs.
        logging.getLogger("ray.train").setLevel(logging.WARNING)
        cpus = max(1, int(self.trial_resources.head_cpus) if self.trial_resources else 1)
        torch.set_num_threads(cpus)
        # A Dataset is read by DataLoader processes on the trial's other CPUs, if it has any.
        self.workers = cpus - 1
        self._start(config, _device())

    def _start(self, config: dict[str, Any], device: torch.device) -> None:
        resume = config.get(RESUME) or {}
        self.run = TrainingRun(
            {k: v for k, v in config.items() if k != RESUME}, device, self.workers
        )
        if resume.get(RESUME_CHECKPOINTS):
            self._resume(resume[RESUME_CHECKPOINTS])

    def _resume(self, sources: list[str]) -> None:
        """Continue from the first of ``sources`` that loads; from the start if none does
        (the epochs re-trained are the same: the run is seeded)."""
        problems = []
        for source in sources:
            try:
                with tune.Checkpoint(source).as_directory() as directory:
                    bundle = checkpoint.load(directory, self.run.device)
            except (CheckpointError, OSError, pa.ArrowException) as err:
                problems.append(f"{source}: {str(err).splitlines()[0] if str(err) else err!r}")
                continue
            for problem in problems:
                logger.warning("skipped a checkpoint: %s; resuming from %s", problem, source)
            self.run.load_state_dict(bundle)
            return
        logger.warning(
            "no checkpoint of the trial loads (%s); it starts again", "; ".join(problems)
        )

    def step(self) -> dict[str, Any]:
        """One epoch; its result as the plain dict Ray takes, ``done`` when it diverged or was
        the last epoch."""
        return self.run.step().as_dict()

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        self.run.save(checkpoint_dir)

    def load_checkpoint(self, checkpoint: str) -> None:
        """Restore from ``checkpoint``, or from the newest older one beside it if it is damaged.

        On local or NFS storage Ray hands over the trial's own checkpoint folder, so the older
        checkpoints it kept (``checkpoint_NNNNNN``) are its siblings.
        """
        latest = Path(checkpoint)
        older = sorted(
            (p for p in latest.parent.glob(CHECKPOINT_GLOB) if p.name < latest.name),
            reverse=True,
        )
        bundle, used, problems = load_first_good([latest, *older], self.run.device)
        for problem in problems:
            logger.warning("skipped a checkpoint: %s; resuming from %s", problem, used)
        self.run.load_state_dict(bundle)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._start(new_config, self.run.device)
        return True
