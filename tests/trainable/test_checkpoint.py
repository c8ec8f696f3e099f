"""Tests for trainable.checkpoint: atomic saves, weights-only bundles, clear load errors."""

from __future__ import annotations

import hashlib

import pytest
import torch

from trainable import checkpoint
from trainable.checkpoint import FILENAME, FORMAT_VERSION, CheckpointError
from trainable.run import TrainingRun

BUNDLE_KEYS = {
    "model", "optimizer", "scheduler", "epoch", "best_val_loss", "best_epoch", "best_model",
    "rng", "config",
}  # fmt: skip


def _bundle(value: float) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "epoch": int(value)}


def test_save_writes_only_bundle_file(tmp_path) -> None:
    target = checkpoint.save(tmp_path / "nested" / "dir", _bundle(1.0))
    assert target == tmp_path / "nested" / "dir" / FILENAME
    assert [p.name for p in target.parent.iterdir()] == [FILENAME]


def test_save_then_load_round_trips_with_format_version_and_checksum(tmp_path) -> None:
    checkpoint.save(tmp_path, _bundle(2.0))
    sealed = torch.load(tmp_path / FILENAME, weights_only=True)
    assert set(sealed) == {"format_version", "sha256", "payload"}
    assert sealed["format_version"] == FORMAT_VERSION
    assert sealed["sha256"] == hashlib.sha256(sealed["payload"]).hexdigest()
    loaded = checkpoint.load(tmp_path)
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


@pytest.mark.parametrize("version", [1, FORMAT_VERSION - 1, FORMAT_VERSION + 1, None])
def test_load_rejects_wrong_format_version(tmp_path, version) -> None:
    payload = {"epoch": 1} if version is None else {"epoch": 1, "format_version": version}
    torch.save(payload, tmp_path / FILENAME)
    expected = f"format version {version}; this code reads {FORMAT_VERSION}$"
    with pytest.raises(CheckpointError, match=expected):
        checkpoint.load(tmp_path)


def test_a_flipped_bit_in_the_weights_is_detected(tmp_path) -> None:
    checkpoint.save(tmp_path, _bundle(1.0))
    sealed = torch.load(tmp_path / FILENAME, weights_only=True)
    payload = bytearray(sealed["payload"])
    payload[len(payload) // 2] ^= 0x01
    torch.save({**sealed, "payload": bytes(payload)}, tmp_path / FILENAME)
    with pytest.raises(CheckpointError, match="damaged: its checksum does not match"):
        checkpoint.load(tmp_path)


def test_load_first_good_falls_back_past_damaged_checkpoints(tmp_path) -> None:
    for epoch in (1, 2, 3):
        checkpoint.save(tmp_path / f"checkpoint_{epoch}", _bundle(float(epoch)))
    latest = tmp_path / "checkpoint_3" / FILENAME
    latest.write_bytes(latest.read_bytes()[:100])  # half-written
    order = [tmp_path / f"checkpoint_{epoch}" for epoch in (3, 2, 1)]
    bundle, used, problems = checkpoint.load_first_good(order)
    assert (bundle["epoch"], used) == (2, tmp_path / "checkpoint_2")
    assert len(problems) == 1 and "checkpoint_3" in problems[0]


def test_load_first_good_says_why_none_could_be_used(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        checkpoint.load_first_good([tmp_path / "a", tmp_path / "b"])


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
    config = {
        "dataset": "digits", "model_args": {"hidden": (8,)}, "activation": "tanh",
        "max_epochs": 1, "batch_size": 256,
    }  # fmt: skip
    run = TrainingRun(config)
    run.step()
    run.save(str(tmp_path))
    raw = checkpoint.load(tmp_path)
    assert set(raw) == BUNDLE_KEYS
    assert raw["epoch"] == 1
    # The config names the model's factory and every argument it was built with.
    assert raw["config"]["model"] == "mlp"
    assert raw["config"]["model_args"] == {"hidden": (8,)}
    assert raw["config"]["activation"] == "tanh"
    assert set(raw["rng"]) >= {"shuffle", "torch"}
    assert raw["model"].keys() == run.model.state_dict().keys()
