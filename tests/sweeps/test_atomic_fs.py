"""The filesystem Ray writes local sweeps through: files appear whole or not at all."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pyarrow.fs as pafs
import pytest

from sweeps.storage.atomic_fs import _AtomicFile, atomic_local_filesystem


@pytest.mark.parametrize("size", [10, 3 << 20], ids=["held in memory", "staged on disk"])
def test_a_writer_killed_midway_leaves_the_previous_file_whole(tmp_path, size):
    target = tmp_path / "experiment_state-1.json"
    target.write_text('{"trials": "the last snapshot"}')
    code = (
        "import os; from sweeps.storage.atomic_fs import atomic_local_filesystem; "
        f"s = atomic_local_filesystem().open_output_stream({str(target)!r}); "
        f"s.write(b'x' * {size}); s.flush(); os._exit(9)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert target.read_text() == '{"trials": "the last snapshot"}'
    # A half-written copy is hidden; Ray's globs (experiment_state-*.json) do not see it.
    others = [p.name for p in tmp_path.iterdir() if p != target]
    assert all(name.startswith(".experiment_state-1.json.") for name in others)
    assert len(others) == (size > _AtomicFile.IN_MEMORY)


def test_a_file_is_replaced_only_when_it_is_complete(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    stream = atomic_local_filesystem().open_output_stream(str(target))
    stream.write(b"new, ")
    assert target.read_text() == "old"
    stream.write(b"complete")
    stream.close()
    assert target.read_text() == "new, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_pyarrow_copies_a_checkpoint_folder_through_it_after_a_pickle(tmp_path):
    source = tmp_path / "checkpoint"
    (source / "sub").mkdir(parents=True)
    (source / "model.pt").write_bytes(bytes(range(256)) * 4096)
    (source / "sub" / "meta.json").write_text("{}")
    filesystem = pickle.loads(pickle.dumps(atomic_local_filesystem()))  # as Ray's workers get it
    assert filesystem.equals(atomic_local_filesystem())
    destination = tmp_path / "copy"
    filesystem.create_dir(str(destination), recursive=True)
    pafs.copy_files(str(source), str(destination), destination_filesystem=filesystem)
    copied = sorted(p.relative_to(destination) for p in destination.rglob("*"))
    assert copied == sorted(p.relative_to(source) for p in source.rglob("*"))
    assert (destination / "model.pt").read_bytes() == (source / "model.pt").read_bytes()


def test_the_same_bytes_leave_the_file_as_it_was_and_other_bytes_replace_it(tmp_path):
    target = tmp_path / "result.json"
    target.write_bytes(b'{"epoch": 1}\n')
    before = target.stat()
    filesystem = atomic_local_filesystem()
    with filesystem.open_output_stream(str(target)) as stream:  # Ray's copy at a snapshot
        stream.write(b'{"epoch": 1}\n')
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    for grown in (b'{"epoch": 2}\n', b'{"epoch": 2}\n{"epoch": 3}\n', b""):
        with filesystem.open_output_stream(str(target)) as stream:
            stream.write(grown)
        assert target.read_bytes() == grown
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_worker_unpickles_it_importing_pyarrow_and_nothing_of_the_sweep():
    """Ray's workers unpickle the filesystem, which imports ``sweeps.storage`` first: its names
    are imported on first use, so the worker gets neither Optuna nor the sweep's configuration."""
    heavy = ("optuna", "pydantic", "yaml", "ray", "torch", "trainable", "search_spaces", "sweeps")
    code = (
        "import pickle, sys; pickle.loads(sys.stdin.buffer.read()); "
        f"print(*sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    blob = pickle.dumps(atomic_local_filesystem())
    imported = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True)
    assert imported.returncode == 0, imported.stderr.decode()
    assert imported.stdout.decode().split() == [
        "sweeps",
        "sweeps.storage",
        "sweeps.storage.atomic_fs",
    ]
