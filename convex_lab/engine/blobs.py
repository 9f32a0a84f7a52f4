"""File storage's bytes: content-addressed files beside the database, counted by reference.

Each file's bytes live once, named by their sha256 (hex), in one folder: `<database>.storage/`
next to a database file, a temporary folder for an in-memory App (removed by `close`). The folder
holds only `<sha256 hex>` files and `tmp/`, so listing what a snapshot must carry is one
`listdir`. `_storage` rows (written through the engine's transactions) point at them by their
`sha256` field (base64, as Convex keeps it).

The order that keeps rows and bytes consistent:
- `stage` writes the bytes to `tmp/` (hashing and counting them), fsyncs them (file-backed),
  and only then moves them to their name: the row that a commit makes durable afterwards never
  points at bytes that are not durable. The staged file is counted as *pending* until the
  caller `release`s it, once the transaction that writes its row committed or rolled back.
- A file is removed when no committed row uses it and nothing pending does: when a commit
  deletes its last row (`committed`, a commit listener), or when a rolled-back transaction
  releases it. Two rows with the same bytes share one file; deleting one keeps it.
- A crash between staging and the commit leaves at most an unreferenced file (or a `tmp/` file),
  which `load` sweeps when the database is opened again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections import Counter
from typing import Any, Iterable, Iterator

from ..errors import FileTooLarge
from ..interrupts import DEFERRED

STORAGE_TABLE = "_storage"
TMP = "tmp"
CHUNK = 1 << 20
_HEX_NAME = re.compile(r"^[0-9a-f]{64}$")


class Blob:
    """One staged file: its sha256 (hex and base64, as `_storage` rows keep it) and size."""

    __slots__ = ("hex", "size")

    def __init__(self, hex_digest: str, size: int) -> None:
        self.hex = hex_digest
        self.size = size

    @property
    def sha256(self) -> str:
        return base64.b64encode(bytes.fromhex(self.hex)).decode("ascii")

    def __repr__(self) -> str:
        return f"Blob({self.hex[:12]}…, {self.size} bytes)"


def hex_of(sha256_b64: Any) -> str | None:
    """The hex name of a `_storage` row's base64 sha256, or None when it is not one."""
    try:
        raw = base64.b64decode(sha256_b64, validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def human_size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def too_large(max_size: int) -> FileTooLarge:
    limit = human_size(max_size)
    if not limit.endswith(" bytes"):
        limit += f", {max_size} bytes"
    return FileTooLarge(f"The file is larger than the file size limit ({limit}). "
                        "Raise app.storage.max_file_size to store larger files.")


def chunks_of(source: Any) -> Iterator[bytes]:
    """The bytes of `source` (bytes-like, or a binary file object with `read`) in chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
        return
    read = getattr(source, "read", None)
    if read is None:
        raise TypeError(f"A file's data must be bytes (or a binary file object), got {type(source).__name__}.")
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        if isinstance(chunk, str):
            raise TypeError("The file object was opened in text mode; open it in binary mode ('rb').")
        yield bytes(chunk)


class BlobWriter:
    """Bytes being staged (`BlobStore.writer`): `write` chunks, then `finish` or `abort`."""

    def __init__(self, store: "BlobStore", max_size: int) -> None:
        self._store = store
        self.max_size = max_size
        self.size = 0
        self.over_limit = False
        self._digest = hashlib.sha256()
        self._file = None
        self.tmp_path: str | None = None

    def open(self) -> None:
        """Make the temporary file. (Separate from `__init__`: the caller holds the writer, which
        can `abort`, before any file exists, so no Ctrl-C can leave one unowned.)"""
        try:
            with DEFERRED:  # the file and what removes it again come into being together
                fd, self.tmp_path = tempfile.mkstemp(dir=self._store.directory(TMP))
                self._file = os.fdopen(fd, "wb")
        except BaseException:
            self.abort()
            raise

    def write(self, chunk: bytes) -> None:
        """Add `chunk`. Past `max_size` nothing more is kept (`over_limit`); `finish` refuses it."""
        self.size += len(chunk)
        if self.size > self.max_size:
            self.over_limit = True
        if self.over_limit:
            return
        self._digest.update(chunk)
        self._file.write(chunk)  # type: ignore[union-attr]

    def finish(self, staged: list[Blob]) -> Blob:
        """Make the bytes durable under their name and count them as pending (appended to
        `staged`, which the caller releases once the row's transaction settled). Raises
        `FileTooLarge` (and removes the bytes) when over the limit."""
        try:
            if self.over_limit:
                raise too_large(self.max_size)
            file = self._file
            file.flush()  # type: ignore[union-attr]
            if self._store.durable:
                os.fsync(file.fileno())  # type: ignore[union-attr]
            blob = Blob(self._digest.hexdigest(), self.size)
            self._store._place(self, blob, staged)
            return blob
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Forget the bytes (idempotent)."""
        with DEFERRED:
            file, self._file = self._file, None
            if file is not None:
                file.close()
            path, self.tmp_path = self.tmp_path, None
            if path is not None:
                _unlink(path)


class BlobStore:
    """The content-addressed files of one database, and how many rows use each.

    Attributes:
        root (str | None): The folder; for an in-memory App, None until the first file.
        durable (bool): Whether files are fsynced before a commit may point at them.
        refs (Counter): Committed `_storage` rows per sha256 hex.
        pending (Counter): Staged files per sha256 hex whose transaction has not settled.
    """

    def __init__(self, root: str | None) -> None:
        self.durable = root is not None
        self.root = root
        self._temporary: Any = None  # the finalizer removing an in-memory App's folder
        self._lock = threading.Lock()  # placing, counting and removing files
        self.refs: Counter[str] = Counter()
        self.pending: Counter[str] = Counter()

    # -- the folder -----------------------------------------------------------------------------
    def directory(self, sub: str | None = None) -> str:
        """The folder (made on first need), or its subfolder `sub`."""
        with self._lock:
            if self.root is None:
                self.root = tempfile.mkdtemp(prefix="convex_lab-storage-")
                self._temporary = weakref.finalize(self, shutil.rmtree, self.root, True)
            path = self.root if sub is None else os.path.join(self.root, sub)
            os.makedirs(path, exist_ok=True)
        return path

    def path_of(self, hex_digest: str) -> str | None:
        """Where the bytes named `hex_digest` are, or None when no file has that name."""
        if self.root is None or not _HEX_NAME.match(hex_digest):
            return None
        path = os.path.join(self.root, hex_digest)
        return path if os.path.isfile(path) else None

    def files(self) -> list[str]:
        """The names (sha256 hex) of the files on disk, sorted."""
        if self.root is None or not os.path.isdir(self.root):
            return []
        return sorted(name for name in os.listdir(self.root) if _HEX_NAME.match(name))

    def close(self) -> None:
        """Remove an in-memory App's folder (a file-backed App's stays with its database)."""
        if self._temporary is not None:
            self._temporary()

    # -- staging --------------------------------------------------------------------------------
    def writer(self, max_size: int) -> BlobWriter:
        """An open writer (for an upload's chunks)."""
        writer = BlobWriter(self, max_size)
        writer.open()
        return writer

    def stage(self, source: Any, max_size: int, staged: list[Blob]) -> Blob:
        """Stage the bytes of `source` (see `BlobWriter.finish`)."""
        if isinstance(source, (bytes, bytearray, memoryview)) and len(source) > max_size:
            raise too_large(max_size)
        chunks = chunks_of(source)
        first = next(chunks, b"")  # a source of the wrong type fails before any file is made
        writer = BlobWriter(self, max_size)
        try:  # whatever happens from here (Ctrl-C included), no temporary file is left
            writer.open()
            writer.write(first)
            for chunk in chunks:
                writer.write(chunk)
                if writer.over_limit:
                    break
            return writer.finish(staged)
        except BaseException:
            writer.abort()
            raise

    def _place(self, writer: BlobWriter, blob: Blob, staged: list[Blob]) -> None:
        final = os.path.join(self.root, blob.hex)  # type: ignore[arg-type]
        with DEFERRED, self._lock:
            file, writer._file = writer._file, None
            file.close()  # type: ignore[union-attr]
            tmp, writer.tmp_path = writer.tmp_path, None
            if os.path.isfile(final):  # the same bytes are there already
                _unlink(tmp)  # type: ignore[arg-type]
            else:
                os.replace(tmp, final)  # type: ignore[arg-type]
                if self.durable:
                    _fsync_directory(self.root)  # type: ignore[arg-type]
            self.pending[blob.hex] += 1
            staged.append(blob)

    def release(self, staged: list[Blob]) -> None:
        """The transaction that wrote the rows of `staged` committed or rolled back: stop
        counting them as pending, removing bytes no row uses. Idempotent (empties `staged`)."""
        if not staged:
            return
        with DEFERRED, self._lock:
            while staged:
                blob = staged.pop()
                self.pending[blob.hex] -= 1
                if self.pending[blob.hex] <= 0:
                    del self.pending[blob.hex]
                self._remove_if_unused(blob.hex)

    # -- references -------------------------------------------------------------------------------
    def load(self, rows: Iterable[dict]) -> None:
        """Count the rows of a database just opened, and sweep what a crash left behind: `tmp/`
        and files no row uses."""
        with self._lock:
            for row in rows:
                name = hex_of(row.get("sha256"))
                if name is not None:
                    self.refs[name] += 1
        if self.root is None or not os.path.isdir(self.root):
            return
        shutil.rmtree(os.path.join(self.root, TMP), ignore_errors=True)
        with self._lock:
            for name in self.files():
                self._remove_if_unused(name)

    def committed(self, commit: Any) -> None:
        """Commit listener: count the `_storage` rows it inserted and deleted; remove the bytes
        of a deleted row when no other row (and nothing pending) uses them."""
        changed = [(w.old, w.new) for w in commit.changes if w.table.name == STORAGE_TABLE]
        for table, docs in commit.bulk:
            if table.name == STORAGE_TABLE:
                changed += [(None, doc) for doc in docs]
        if not changed:
            return
        with self._lock:
            for _, new in changed:  # every new reference first: a commit that deletes one row
                name = hex_of(new.get("sha256")) if new is not None else None  # and adds another
                if name is not None:  # with the same bytes keeps them
                    self.refs[name] += 1
            for old, _ in changed:
                name = hex_of(old.get("sha256")) if old is not None else None
                if name is not None:
                    self.refs[name] -= 1
                    if self.refs[name] <= 0:
                        del self.refs[name]
                    self._remove_if_unused(name)

    def _remove_if_unused(self, name: str) -> None:
        # With the lock held.
        if self.refs.get(name, 0) <= 0 and self.pending.get(name, 0) <= 0 and self.root is not None:
            _unlink(os.path.join(self.root, name))

    def _check(self) -> None:
        """Assert that the files on disk are exactly those rows or pending stages use (tests)."""
        with self._lock:
            on_disk = set(self.files())
            used = {name for name, n in self.refs.items() if n > 0} | {n for n, c in self.pending.items() if c > 0}
            assert on_disk <= used, f"unreferenced files: {sorted(on_disk - used)}"
            tmp = os.path.join(self.root, TMP) if self.root is not None else None
            assert tmp is None or not os.path.isdir(tmp) or not os.listdir(tmp), f"left in tmp/: {os.listdir(tmp)}"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_directory(path: str) -> None:
    """Make a rename in `path` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
