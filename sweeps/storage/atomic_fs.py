"""The filesystem of a local sweep folder, on which a file appears whole or not at all.

Both the sweep's own files (``SweepFolder.write_bytes``) and Ray's go through it.

Ray copies its experiment snapshots, each checkpoint and each trial's logs into the sweep
folder with pyarrow, which opens the file (emptying it) and then writes it. A process killed in
between left an empty file: once the newest ``experiment_state-*.json``, when a resume still read
it, and ``--resume`` died; a checkpoint so emptied would cost the epochs since the one before.
Here each file is written beside its place, under a hidden name, and renamed over it once
complete: a rename is atomic on a POSIX filesystem (NFS included), so a reader sees the old
file or the new one.

Ray pickles the filesystem to its workers (they copy checkpoints), so this module imports
nothing but pyarrow; its package :mod:`sweeps.storage`, which Python imports first, imports
nothing until one of its names is used.
"""

from __future__ import annotations

import io
import os
import secrets
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs


def atomic_local_filesystem() -> pafs.PyFileSystem:
    return pafs.PyFileSystem(AtomicLocalHandler())


class _AtomicFile:
    """A binary file written under a hidden name and renamed to ``path`` when closed.

    Ray re-copies every trial's logs (``result.json``, ``progress.csv``, ``params.*``) into
    the sweep folder at each experiment snapshot, changed or not: O(trials) files a snapshot,
    and the snapshots grow with the trials. So a small file is held in memory and, if the
    folder already has these very bytes, left alone: no staging file, no rename (the figures
    are in the commit that made it so). A file past ``IN_MEMORY`` is staged on disk as it is
    written.
    """

    IN_MEMORY = 1 << 20

    def __init__(self, path: str) -> None:
        self.path = path
        self.memory: io.BytesIO | None = io.BytesIO()
        self.staging: str | None = None
        self.file: BinaryIO | None = None
        self.closed = False

    def write(self, data: Any) -> int:
        if self.memory is not None and self.memory.tell() + len(data) > self.IN_MEMORY:
            self._stage()
        return (self.file or self.memory).write(data)

    def _stage(self) -> None:
        directory, name = os.path.split(self.path)
        self.staging = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.partial")
        self.file = open(self.staging, "wb")  # noqa: SIM115 (closed in close())
        if self.memory is not None:
            self.file.write(self.memory.getbuffer())
            self.memory = None

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.memory is not None:
            if _has_bytes(self.path, self.memory.getbuffer()):
                return
            self._stage()
        self.file.close()
        os.replace(self.staging, self.path)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return (self.file or self.memory).tell()


def _has_bytes(path: str, data: memoryview) -> bool:
    """Whether the file at ``path`` holds exactly ``data``."""
    try:
        with open(path, "rb") as file:
            return file.read(len(data) + 1) == data
    except OSError:
        return False


class AtomicLocalHandler(pafs.FileSystemHandler):
    """pyarrow's LocalFileSystem, but for ``open_output_stream``, which writes atomically."""

    def __init__(self) -> None:
        self.local = pafs.LocalFileSystem()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AtomicLocalHandler)

    def __hash__(self) -> int:
        return hash(AtomicLocalHandler)

    def __reduce__(self) -> tuple:
        return AtomicLocalHandler, ()

    def get_type_name(self) -> str:
        return "atomic-local"

    def normalize_path(self, path: str) -> str:
        return self.local.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.local.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError("refusing to delete the contents of the filesystem's root")

    def delete_file(self, path: str) -> None:
        self.local.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.local.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.local.copy_file(src, dest)

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str) -> pa.NativeFile:
        return self.local.open_input_file(path)

    def open_output_stream(self, path: str, metadata: dict | None) -> pa.NativeFile:
        return pa.PythonFile(_AtomicFile(path), mode="w")

    def open_append_stream(self, path: str, metadata: dict | None) -> pa.NativeFile:
        return self.local.open_append_stream(path)
