"""The filesystem Ray writes local sweeps through: files appear whole or not at all."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pyarrow.fs as pafs

from sweeps.atomic_fs import atomic_local_filesystem


def test_a_writer_killed_midway_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "experiment_state-1.json"
    target.write_text('{"trials": "the last snapshot"}')
    code = (
        "import os; from sweeps.atomic_fs import atomic_local_filesystem; "
        f"s = atomic_local_filesystem().open_output_stream({str(target)!r}); "
        's.write(b\'{"trials": "half a\'); s.flush(); os._exit(9)'
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert target.read_text() == '{"trials": "the last snapshot"}'
    # The half-written copy is hidden; Ray's globs (experiment_state-*.json) do not see it.
    [partial] = [p.name for p in tmp_path.iterdir() if p != target]
    assert partial.startswith(".experiment_state-1.json.")


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
