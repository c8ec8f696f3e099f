"""One self-describing checkpoint bundle per save: written atomically, loaded without pickle code.

A bundle holds the model, optimizer and scheduler states, the epoch, the best validation loss
with the weights that reached it, the PRNG states, the trial config and a format version.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
FILENAME = "bundle.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (wrong format, unreadable)."""


def save(directory: str | os.PathLike, bundle: dict[str, Any]) -> Path:
    """Write ``bundle`` to ``directory/bundle.pt``; a crash mid-write leaves no partial file."""
    target = Path(directory) / FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".bundle-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({**bundle, "format_version": FORMAT_VERSION}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a bundle onto ``map_location`` (a GPU checkpoint loads on a CPU-only machine)."""
    path = Path(directory) / FILENAME
    try:
        bundle = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # the weights-only unpickler raises anything on damaged bytes
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(bundle, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(bundle).__name__}, not a bundle")
    version = bundle.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this code reads {FORMAT_VERSION}"
        )
    return bundle
