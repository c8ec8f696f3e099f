"""The sweep folder ``<storage>/<name>/`` on a local/NFS path or any ``pyarrow.fs`` URI."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from sweeps.config import ConfigError
from sweeps.storage.atomic_fs import atomic_local_filesystem
from sweeps.storage.layout import CODE, JOURNAL, TENSORBOARD
from trainable import by_value


@dataclass(frozen=True)
class SweepFolder:
    storage: str  # absolute local path or URI: Ray's ``storage_path``
    name: str
    filesystem: pafs.FileSystem
    root: str  # ``storage`` as a path inside ``filesystem``

    @classmethod
    def in_storage(cls, storage: str, name: str) -> SweepFolder:
        if "://" in storage:
            try:
                filesystem, root = pafs.FileSystem.from_uri(storage)
            except (pa.ArrowException, ValueError) as err:
                raise ConfigError(f"unsupported --storage {storage!r}: {err}") from None
            base, sep, query = storage.partition("?")
            return cls(base.rstrip("/") + sep + query, name, filesystem, root.rstrip("/"))
        local = str(Path(storage).expanduser().resolve())
        return cls(local, name, atomic_local_filesystem(), local)

    @property
    def is_local(self) -> bool:
        return "://" not in self.storage

    @property
    def path(self) -> str:
        """The folder inside its filesystem (a plain path when local)."""
        return posixpath.join(self.root, self.name)

    @classmethod
    def from_location(cls, location: str) -> SweepFolder:
        """The sweep folder at a path or URI: ``runs/sweep-1``, ``s3://bucket/runs/x?region=..``."""
        base, sep, query = location.partition("?")
        storage, _, name = base.rstrip("/").rpartition("/")
        if not name:
            raise ConfigError(f"not a sweep folder: {location!r}")
        return cls.in_storage((storage or ".") + sep + query, name)

    @property
    def uri(self) -> str:
        base, sep, query = self.storage.partition("?")
        return f"{base}/{self.name}{sep}{query}"

    def file_uri(self, filename: str) -> str:
        """Where the user finds a file of the sweep: a local path, or a URI."""
        base, sep, query = self.uri.partition("?")
        return f"{base}/{filename}{sep}{query}"

    def uri_for_path(self, path: str) -> str:
        """:meth:`file_uri` a path inside the folder's filesystem (where Ray says a checkpoint is):
        a bucket path alone names no endpoint, scheme or region."""
        return self.file_uri(posixpath.relpath(path, self.path))

    def file(self, filename: str) -> str:
        return posixpath.join(self.path, filename)

    def exists(self) -> bool:
        return self.filesystem.get_file_info(self.path).type == pafs.FileType.Directory

    def has(self, filename: str) -> bool:
        return self.filesystem.get_file_info(self.file(filename)).type == pafs.FileType.File

    def has_folder(self, name: str) -> bool:
        return self.filesystem.get_file_info(self.file(name)).type == pafs.FileType.Directory

    def existing_sweeps(self) -> list[str]:
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def newest(self, pattern: str) -> str | None:
        """The last, by name, of the folder's files matching ``pattern`` (a glob)."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        names = [i.base_name for i in infos if i.type == pafs.FileType.File]
        return max(fnmatch.filter(names, pattern), default=None)

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

    @property
    def cache(self) -> Path:
        """A local folder for what needs a local file while the sweep runs (object stores)."""
        key = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        return Path.home() / ".cache" / "sweeps" / key

    def journal(self) -> str:
        """A local path for the Optuna journal (file locks need a local or NFS file).

        Local storage keeps it in the sweep folder; for object stores it lives in the local
        cache and :meth:`publish` copies it into the sweep folder.
        """
        if self.is_local:
            return self.file(JOURNAL)
        self.cache.mkdir(parents=True, exist_ok=True)
        local = self.cache / JOURNAL
        if not local.exists() and self.has(JOURNAL):
            local.write_bytes(self.read_bytes(JOURNAL))
        return str(local)

    def tensorboard_dir(self, download: bool = False) -> str:
        """The local folder of the sweep's TensorBoard event files (cached for object stores).

        A missing cache starts from the object store's files, as :meth:`journal` does, so a
        sweep resumed on another machine finds its HParams config and trial runs there.
        ``download`` refreshes the cache, to read a finished sweep.
        """
        if self.is_local:
            return self.file(TENSORBOARD)
        local = self.cache / TENSORBOARD
        if download or (not local.exists() and self.has_folder(TENSORBOARD)):
            local.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(
                self.file(TENSORBOARD), str(local),
                source_filesystem=self.filesystem, destination_filesystem=pafs.LocalFileSystem(),
            )  # fmt: skip
        return str(local)

    def publish_journal(self) -> None:
        """Copy the locally kept journal into an object-store folder."""
        if not self.is_local:
            self.write_bytes(JOURNAL, Path(self.journal()).read_bytes())

    def publish(self) -> None:
        """Copy the locally kept journal and TensorBoard files into an object-store folder,
        whose TensorBoard files they replace."""
        if self.is_local:
            return
        self.publish_journal()
        local = self.cache / TENSORBOARD
        if local.is_dir():
            self.filesystem.delete_dir_contents(self.file(TENSORBOARD), missing_dir_ok=True)
            pafs.copy_files(
                str(local), self.file(TENSORBOARD),
                source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.filesystem,
            )  # fmt: skip

    def write_bytes(self, filename: str, data: bytes) -> str:
        """Write whole or not at all: a local folder's filesystem renames each file into place
        when complete (see :mod:`sweeps.storage.atomic_fs`), an object store puts an object
        whole."""
        self.filesystem.create_dir(self.path, recursive=True)
        target = self.file(filename)
        with self.filesystem.open_output_stream(target) as out:
            out.write(data)
        return target

    def write_code(self, code: bytes | None) -> None:
        """Keep the objects that came by value (see :mod:`trainable.by_value`), for a resume
        from the command line, a replay and a checkpoint rebuilt."""
        if code is not None:
            self.write_bytes(CODE, code)

    def load_code(self, references: list[str]) -> None:
        """Register the folder's objects by value for those of ``references`` this process has
        none for (an object the caller passed wins). Loading them runs their code."""
        by_value.install_missing(
            references, lambda: self.read_bytes(CODE) if self.has(CODE) else None
        )

    def read_bytes(self, filename: str) -> bytes:
        with self.filesystem.open_input_stream(self.file(filename)) as handle:
            return handle.read()

    def read_text(self, filename: str) -> str:
        return self.read_bytes(filename).decode()
