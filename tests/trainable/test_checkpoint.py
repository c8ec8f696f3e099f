"""Tests for trainable.checkpoint: atomic saves, weights-only bundles, clear load errors."""

from __future__ import annotations

import pytest
import torch

from trainable import checkpoint
from trainable.checkpoint import FILENAME, FORMAT_VERSION, CheckpointError
from trainable.run import TrainingRun

BUNDLE_KEYS = {
    "model", "optimizer", "scheduler", "epoch", "best_val_loss", "best_epoch", "best_model",
    "rng", "config", "format_version",
}  # fmt: skip


def _bundle(value: float) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "epoch": int(value)}


def test_save_writes_only_bundle_file(tmp_path) -> None:
    target = checkpoint.save(tmp_path / "nested" / "dir", _bundle(1.0))
    assert target == tmp_path / "nested" / "dir" / FILENAME
    assert [p.name for p in target.parent.iterdir()] == [FILENAME]


def test_save_then_load_round_trips_with_format_version(tmp_path) -> None:
    checkpoint.save(tmp_path, _bundle(2.0))
    loaded = checkpoint.load(tmp_path)
    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["epoch"] == 2
    assert torch.equal(loaded["model"]["w"], torch.full((3,), 2.0))


def test_save_overwrites_previous_bundle(tmp_path) -> None:
    checkpoint.save(tmp_path, _bundle(1.0))
    checkpoint.save(tmp_path, _bundle(5.0))
    assert checkpoint.load(tmp_path)["epoch"] == 5
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]


def test_failed_save_keeps_previous_bundle_and_leaves_no_temp_file(tmp_path, monkeypatch) -> None:
    checkpoint.save(tmp_path, _bundle(1.0))
    before = (tmp_path / FILENAME).read_bytes()

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path, _bundle(9.0))
    monkeypatch.undo()

    assert (tmp_path / FILENAME).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]
    assert checkpoint.load(tmp_path)["epoch"] == 1


def test_interrupted_first_save_leaves_directory_empty(tmp_path, monkeypatch) -> None:
    def interrupted(obj, handle, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, _bundle(1.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", [0, 2, None])
def test_load_rejects_wrong_format_version(tmp_path, version) -> None:
    payload = {"epoch": 1} if version is None else {"epoch": 1, "format_version": version}
    torch.save(payload, tmp_path / FILENAME)
    with pytest.raises(CheckpointError, match=f"format version {version}; this code reads 1"):
        checkpoint.load(tmp_path)


def test_load_rejects_truncated_file(tmp_path) -> None:
    checkpoint.save(tmp_path, _bundle(1.0))
    path = tmp_path / FILENAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path)


def test_load_rejects_empty_file(tmp_path) -> None:
    (tmp_path / FILENAME).write_bytes(b"")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path)


def test_load_rejects_missing_bundle(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path / "nowhere")


def test_load_rejects_garbage_file(tmp_path) -> None:
    (tmp_path / FILENAME).write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        checkpoint.load(tmp_path)


def test_load_rejects_non_dict_payload(tmp_path) -> None:
    torch.save([1, 2, 3], tmp_path / FILENAME)
    with pytest.raises(CheckpointError):
        checkpoint.load(tmp_path)


def test_training_run_bundle_loads_with_weights_only(tmp_path) -> None:
    run = TrainingRun({"dataset": "digits", "hidden": (8,), "max_epochs": 1, "batch_size": 256})
    run.step()
    run.save(str(tmp_path))
    raw = torch.load(tmp_path / FILENAME, weights_only=True)
    assert set(raw) == BUNDLE_KEYS
    assert raw["epoch"] == 1
    assert raw["config"]["hidden"] == (8,)
    assert set(raw["rng"]) >= {"shuffle", "torch"}
    assert raw["model"].keys() == run.model.state_dict().keys()
    loaded = checkpoint.load(tmp_path)
    assert set(loaded) == BUNDLE_KEYS
