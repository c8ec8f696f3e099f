"""The sweep folder ``<storage>/<name>/`` on a local/NFS path or any ``pyarrow.fs`` URI."""

from __future__ import annotations

import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from sweeps.config import ConfigError

JOURNAL = "optuna.journal"


@dataclass(frozen=True)
class SweepFolder:
    storage: str  # absolute local path or URI: Ray's ``storage_path``
    name: str
    filesystem: pafs.FileSystem
    root: str  # ``storage`` as a path inside ``filesystem``

    @classmethod
    def of(cls, storage: str, name: str) -> SweepFolder:
        if "://" in storage:
            try:
                filesystem, root = pafs.FileSystem.from_uri(storage)
            except (pa.ArrowException, ValueError) as err:
                raise ConfigError(f"unsupported --storage {storage!r}: {err}") from None
            return cls(storage.rstrip("/"), name, filesystem, root.rstrip("/"))
        local = str(Path(storage).expanduser().resolve())
        return cls(local, name, pafs.LocalFileSystem(), local)

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    @property
    def path(self) -> str:
        """The folder inside its filesystem (a plain path when local)."""
        return posixpath.join(self.root, self.name)

    @property
    def uri(self) -> str:
        return f"{self.storage}/{self.name}"

    def file(self, filename: str) -> str:
        return posixpath.join(self.path, filename)

    def exists(self) -> bool:
        return self.filesystem.get_file_info(self.path).type == pafs.FileType.Directory

    def has(self, filename: str) -> bool:
        return self.filesystem.get_file_info(self.file(filename)).type == pafs.FileType.File

    def existing_sweeps(self) -> list[str]:
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def ensure_writable(self) -> None:
        """Create ``storage`` if needed and write a probe file there, or say why it cannot be."""
        try:
            self.filesystem.create_dir(self.root, recursive=True)
            probe = posixpath.join(self.root, f".write-probe-{os.getpid()}")
            with self.filesystem.open_output_stream(probe) as out:
                out.write(b"ok")
            self.filesystem.delete_file(probe)
        except (OSError, pa.ArrowException) as err:
            reason = str(err).splitlines()[0]
            raise ConfigError(f"storage {self.storage} is not writable: {reason}") from None

    def journal(self) -> str:
        """A local path for the Optuna journal (file locks need a local or NFS file).

        Local storage keeps it in the sweep folder; for object stores it lives in a local cache
        and :meth:`publish_journal` copies it into the sweep folder.
        """
        if self.is_local:
            return self.file(JOURNAL)
        key = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        cache = Path.home() / ".cache" / "sweeps" / key
        cache.mkdir(parents=True, exist_ok=True)
        local = cache / JOURNAL
        if not local.exists() and self.has(JOURNAL):
            local.write_bytes(self.read_bytes(JOURNAL))
        return str(local)

    def publish_journal(self) -> None:
        if not self.is_local:
            self.write_bytes(JOURNAL, Path(self.journal()).read_bytes())

    def write_bytes(self, filename: str, data: bytes) -> str:
        """Write atomically where the filesystem can rename (local, NFS)."""
        self.filesystem.create_dir(self.path, recursive=True)
        target = self.file(filename)
        staging = self.file(f".{filename}.tmp-{os.getpid()}")
        with self.filesystem.open_output_stream(staging) as out:
            out.write(data)
        self.filesystem.move(staging, target)
        return target

    def read_bytes(self, filename: str) -> bytes:
        with self.filesystem.open_input_stream(self.file(filename)) as handle:
            return handle.read()

    def read_text(self, filename: str) -> str:
        return self.read_bytes(filename).decode()
