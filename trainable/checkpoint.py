"""One self-describing checkpoint bundle per save: written atomically, loaded without pickle code.

A bundle holds the model, optimizer and scheduler states, the epoch, the best validation loss
with the weights that reached it, the PRNG states, the trial config (which names the model's
factory, by registered name or import path, and its arguments, so the bundle alone rebuilds
the model) and a format version. The file is ``{format_version, sha256, payload}`` with the
bundle serialised in ``payload``, so a damaged or half-copied file (a bit flip in a weight
included) is detected on load, and :func:`load_first_good` can fall back to an older checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 3
FILENAME = "bundle.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (wrong format, unreadable)."""


def save(directory: str | os.PathLike, bundle: dict[str, Any]) -> Path:
    """Write ``bundle`` to ``directory/bundle.pt``; a crash mid-write leaves no partial file."""
    target = Path(directory) / FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".bundle-", suffix=".tmp")
    try:
        payload = io.BytesIO()
        torch.save(bundle, payload)
        data = payload.getvalue()
        sealed = {
            "format_version": FORMAT_VERSION,
            "sha256": hashlib.sha256(data).hexdigest(),
            "payload": data,
        }
        with os.fdopen(fd, "wb") as handle:
            torch.save(sealed, handle)
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
    sealed = _torch_load(path, path, "cpu")
    if not isinstance(sealed, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(sealed).__name__}, not a bundle")
    version = sealed.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this code reads {FORMAT_VERSION}"
        )
    data = sealed.get("payload", b"")
    if hashlib.sha256(data).hexdigest() != sealed.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is damaged: its checksum does not match")
    return _torch_load(io.BytesIO(data), path, map_location)


def load_first_good(
    directories: Iterable[str | os.PathLike], map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Path, list[str]]:
    """The first of ``directories`` (newest first) whose bundle loads, its directory, and why
    each one before it could not be used."""
    problems = []
    for directory in directories:
        try:
            return load(directory, map_location), Path(directory), problems
        except CheckpointError as err:
            problems.append(str(err))
    raise CheckpointError("; ".join(problems) or "no checkpoint to load")


def _torch_load(source: Any, path: Path, map_location: str | torch.device) -> Any:
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as err:  # the weights-only unpickler raises anything on damaged bytes
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
