"""File storage: `ctx.storage` in functions, `app.storage` in the notebook, and what the server's
upload and download routes ask of them.

A stored file is a `_storage` row (`sha256` base64, `size`, `contentType`), written through the
engine's transactions like any document, and its bytes in the `BlobStore` (engine/blobs.py). The
`StorageService` ties the two: `store` stages the bytes (durable before any commit refers to
them), then writes the row in the caller's transaction (a mutation's) or in a commit of its own
(actions, the notebook, uploads); the staged bytes are released once that transaction has settled,
so a mutation that fails leaves neither row nor bytes.

Which ctx has which method follows Convex: queries read URLs and metadata (`StorageReader`),
mutations also store, read, delete and make upload URLs (`StorageWriter`), actions do all of it in
transactions of their own (`StorageActionWriter`; awaitables in an `async def` action).

A file is served at `<url>/api/storage/<uuid>`: as in Convex, the uuid, not the storage id, is the
secret download handle. convex_lab derives it from the storage id with an HMAC keyed by the App's
admin key, so it needs no column of its own and stays the same when the file is opened again.
Upload URLs carry a token signed the same way, valid for an hour (Convex's lifetime) and usable
more than once within it, as Convex's are.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import mimetypes
import os
import re
import threading
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from ..engine.blobs import STORAGE_TABLE, Blob, BlobStore, BlobWriter, hex_of
from ..engine.query import Query
from ..engine.transaction import UNLIMITED
from ..errors import InvalidArgument, StorageIdNotFound

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.database import Commit, Database
    from ..engine.transaction import Transaction

DEFAULT_MAX_FILE_SIZE = 1 << 30  # 1 GiB
UPLOAD_TOKEN_LIFETIME_MS = 60 * 60 * 1000  # Convex's: an upload URL is valid for one hour
UPLOAD_PATH = "/api/storage/upload"
SERVE_PREFIX = "/api/storage/"
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class StorageService:
    """The files of one App: staging bytes, `_storage` rows, download handles, upload tokens.

    Args:
        database: The App's `Database`; its `_storage` rows are counted, and its commits followed.
        root: The folder beside the database file, or None (a temporary one, made on first need).
        secret: Returns the App's admin key (the key of download handles and upload tokens).
        url: Returns the App's server URL (starting the server when needed).

    Attributes:
        max_file_size (int): The largest file `store` and uploads accept, in bytes.
    """

    def __init__(self, database: "Database", root: str | None, secret: Callable[[], str],
                 url: Callable[[], str]) -> None:
        self.database = database
        self.blobs = BlobStore(root)
        self.max_file_size = DEFAULT_MAX_FILE_SIZE
        self._secret = secret
        self._url = url
        self._key: bytes | None = None
        self._handles: dict[str, str] | None = None  # download uuid -> storage id, made on first need
        self._handles_lock = threading.Lock()
        # Called after each commit of its own (the runtime's `after_mutation`, set by the App).
        self.after_commit: Callable[[], None] | None = None
        table = database.store.tables.get(STORAGE_TABLE)
        self.blobs.load(table.docs.values() if table is not None else ())
        database.listeners.append(self._committed)
        # A mutation's staged files are released once it committed or rolled back.
        database.settle_listeners.append(lambda txn: self.blobs.release(txn.staged_files))

    def close(self) -> None:
        self.blobs.close()

    # -- handles and tokens ---------------------------------------------------------------------
    def key(self) -> bytes:
        if self._key is None:
            self._key = hashlib.sha256(b"convex_lab storage|" + self._secret().encode("utf-8")).digest()
        return self._key

    def handle_of(self, storage_id: str) -> str:
        """The file's download uuid (Convex's `storageId` in `get_metadata`, the serve URL's name)."""
        digest = hmac.new(self.key(), b"handle|" + storage_id.encode("ascii"), hashlib.sha256).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _handle_index(self) -> dict[str, str]:
        """uuid -> storage id of every committed row. Built under the commit lock (the caller's)."""
        with self._handles_lock:
            if self._handles is None:
                table = self.database.store.tables.get(STORAGE_TABLE)
                ids = list(table.docs) if table is not None else []
                self._handles = {self.handle_of(doc_id): doc_id for doc_id in ids}
            return self._handles

    def _committed(self, commit: "Commit") -> None:
        self.blobs.committed(commit)
        if self._handles is None:
            return
        with self._handles_lock:
            for write in commit.changes:
                if write.table.name != STORAGE_TABLE:
                    continue
                if write.new is None:
                    self._handles.pop(self.handle_of(write.id), None)
                else:
                    self._handles[self.handle_of(write.id)] = write.id

    def upload_token(self, now_ms: float | None = None) -> str:
        issued = int(time.time() * 1000 if now_ms is None else now_ms)
        body = issued.to_bytes(8, "big") + os.urandom(8)
        mac = hmac.new(self.key(), b"upload|" + body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode("ascii")

    def check_upload_token(self, token: str | None, now_ms: float | None = None) -> str | None:
        """Why `token` cannot upload (a sentence), or None when it can."""
        if not token:
            return "The upload URL has no token. Get an upload URL from ctx.storage.generate_upload_url()."
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raw = b""
        body, mac = raw[:16], raw[16:]
        expected = hmac.new(self.key(), b"upload|" + body, hashlib.sha256).digest()[:16]
        if len(raw) != 32 or not hmac.compare_digest(mac, expected):
            return "The upload URL's token is not valid for this deployment."
        issued = int.from_bytes(body[:8], "big")
        now = time.time() * 1000 if now_ms is None else now_ms
        if now - issued > UPLOAD_TOKEN_LIFETIME_MS:
            return "The upload URL has expired (upload URLs are valid for one hour). Generate a new one."
        return None

    def upload_url(self) -> str:
        return f"{self._url()}{UPLOAD_PATH}?token={self.upload_token()}"

    # -- inside a transaction (queries and mutations) -------------------------------------------
    def resolve(self, txn: "Transaction", storage_id: Any, method: str) -> str | None:
        """The `_storage` id that `storage_id` names (a storage id, or a file's uuid, which Convex
        still accepts as a legacy storage id); None for a uuid of no file."""
        if type(storage_id) is str:
            if txn.normalize_id(STORAGE_TABLE, storage_id, system=True) is not None:
                return storage_id
            if UUID_PATTERN.match(storage_id):
                return self._handle_index().get(storage_id.lower())
        shown = repr(storage_id) if type(storage_id) is not str else f'"{storage_id}"'
        raise InvalidArgument(f"Invalid argument `storageId` for `storage.{method}`: {shown} is not an id of "
                              'the "_storage" table (the id `store` or an upload returned).')

    def row(self, txn: "Transaction", storage_id: Any, method: str) -> dict | None:
        doc_id = self.resolve(txn, storage_id, method)
        return txn.get(doc_id) if doc_id is not None else None

    def url_in(self, txn: "Transaction", storage_id: Any) -> str | None:
        row = self.row(txn, storage_id, "getUrl")
        return None if row is None else f"{self._url()}{SERVE_PREFIX}{self.handle_of(row['_id'])}"

    def metadata_in(self, txn: "Transaction", storage_id: Any) -> dict | None:
        row = self.row(txn, storage_id, "getMetadata")
        if row is None:
            return None
        return {"storageId": self.handle_of(row["_id"]), "sha256": hex_of(row["sha256"]),
                "size": int(row["size"]), "contentType": row.get("contentType")}

    def store_in(self, txn: "Transaction", data: Any, content_type: Any, staged: list[Blob]) -> str:
        """Stage `data` and insert its row in `txn`; `staged` is released when `txn` settles."""
        content_type = _content_type(content_type)
        blob = self.blobs.stage(data, self.max_file_size, staged)
        return self.insert_row(txn, blob, content_type)

    @staticmethod
    def insert_row(txn: "Transaction", blob: Blob, content_type: str | None) -> str:
        return txn.insert(STORAGE_TABLE, {"sha256": blob.sha256, "size": float(blob.size),
                                          "contentType": content_type}, system=True)

    def get_in(self, txn: "Transaction", storage_id: Any) -> bytes | None:
        return self._read(self.row(txn, storage_id, "get"))

    def delete_in(self, txn: "Transaction", storage_id: Any) -> None:
        row = self.row(txn, storage_id, "delete")
        if row is None:
            raise StorageIdNotFound(f"storage id {storage_id} not found")
        txn.delete(row["_id"], system=True)

    def _read(self, row: dict | None) -> bytes | None:
        if row is None:
            return None
        path = self.blobs.path_of(hex_of(row["sha256"]) or "")
        if path is None:
            return None
        try:
            with open(path, "rb") as file:
                return file.read()
        except FileNotFoundError:  # deleted meanwhile
            return None

    # -- in transactions of their own (actions, the notebook, uploads) --------------------------
    def _query(self, fn: Callable[["Transaction"], Any]) -> Any:
        return self.database.run_query(fn)[0]

    def _mutate(self, fn: Callable[["Transaction"], Any]) -> Any:
        result = self.database.run_mutation(fn)[0]
        if self.after_commit is not None:
            self.after_commit()  # as after a mutation: the live queries it touched have been told
        return result

    def store(self, data: Any, content_type: Any = None) -> str:
        content_type = _content_type(content_type)
        staged: list[Blob] = []
        try:
            blob = self.blobs.stage(data, self.max_file_size, staged)
            return self._mutate(lambda txn: self.insert_row(txn, blob, content_type))
        finally:
            self.blobs.release(staged)

    def writer(self) -> BlobWriter:
        """A writer for an upload's bytes; `finish_upload` stores them."""
        return self.blobs.writer(self.max_file_size)

    def finish_upload(self, writer: BlobWriter, content_type: str | None, digest: str | None) -> str:
        """Store an upload's bytes (raising `FileTooLarge`, or `ValueError` when the `Digest`
        header's sha-256 differs from the bytes); the new storage id."""
        staged: list[Blob] = []
        try:
            blob = writer.finish(staged)
            if digest is not None and not hmac.compare_digest(digest, blob.sha256):
                raise ValueError(f"The body's sha-256 is {blob.sha256}, not the {digest} of the Digest header.")
            return self._mutate(lambda txn: self.insert_row(txn, blob, _content_type(content_type)))
        finally:
            self.blobs.release(staged)

    def get(self, storage_id: Any) -> bytes | None:
        return self._read(self._query(lambda txn: self.row(txn, storage_id, "get")))

    def get_url(self, storage_id: Any) -> str | None:
        return self._query(lambda txn: self.url_in(txn, storage_id))

    def get_metadata(self, storage_id: Any) -> dict | None:
        return self._query(lambda txn: self.metadata_in(txn, storage_id))

    def delete(self, storage_id: Any) -> None:
        self._mutate(lambda txn: self.delete_in(txn, storage_id))

    def served_file(self, handle: str) -> tuple[str, dict] | None:
        """For the serve route: the path of the bytes of the file whose uuid is `handle`, and
        its row; None when there is no such file."""
        def find(txn: "Transaction") -> dict | None:
            doc_id = self._handle_index().get(handle.lower())
            return txn.get(doc_id) if doc_id is not None else None

        row = self._query(find)
        if row is None:
            return None
        path = self.blobs.path_of(hex_of(row["sha256"]) or "")
        return (path, row) if path is not None else None


def _content_type(content_type: Any) -> str | None:
    if content_type is None or content_type == "":
        return None
    if type(content_type) is not str:
        raise TypeError(f"content_type must be a string (a MIME type such as 'image/png') or None, "
                        f"got {type(content_type).__name__}.")
    return content_type


# ---------------------------------------------------------------------------------------------
# ctx.storage


_WRITER_METHODS = frozenset({"store", "get", "delete", "generate_upload_url", "generateUploadUrl"})


class StorageReader:
    """`ctx.storage` in a query: URLs and metadata of stored files (as Convex's `StorageReader`).

    Reads of a file's row are part of the query's read set: a live query that asked for a URL
    re-runs when the file is deleted.
    """

    __slots__ = ("_service", "_txn")

    def __init__(self, service: StorageService, txn: "Transaction") -> None:
        self._service = service
        self._txn = txn

    def get_url(self, storage_id: str) -> str | None:
        """The URL that serves the file's bytes (`<app.url>/api/storage/<uuid>`; the server is
        started if needed), or `None` when no file has that id. `getUrl` is the same method.

        Raises:
            InvalidArgument: `storage_id` is not an id of the `_storage` table (nor a file's uuid).
        """
        return self._service.url_in(self._txn, storage_id)

    def get_metadata(self, storage_id: str) -> dict | None:
        """`{"storageId": <uuid>, "sha256": <hex>, "size": <int>, "contentType": <str | None>}`, or
        `None` when no file has that id. Convex deprecates it for `ctx.db.system.get(id)`, whose
        row keeps `sha256` in base64. `getMetadata` is the same method.

        Raises:
            InvalidArgument: `storage_id` is not an id of the `_storage` table (nor a file's uuid).
        """
        return self._service.metadata_in(self._txn, storage_id)

    getUrl, getMetadata = get_url, get_metadata

    def __getattr__(self, name: str) -> Any:
        if name in _WRITER_METHODS:
            raise AttributeError(f"ctx.storage.{name} is not available in a query (queries only read URLs "
                                 "and metadata). Call it from a mutation or an action.")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")


class StorageWriter(StorageReader):
    """`ctx.storage` in a mutation: also stores, reads, deletes, and makes upload URLs.

    What a mutation stores or deletes happens only if it commits: a mutation that raises leaves
    no row and no bytes behind.
    """

    __slots__ = ()

    def store(self, data: Any, content_type: str | None = None) -> str:
        """Store `data` (bytes, or a binary file object) as a new file; its storage id.

        Args:
            data: The file's bytes (`bytes`, `bytearray`, `memoryview`, or an object with `read`).
            content_type: Its MIME type (`"image/png"`), kept as the row's `contentType` and sent
                when the file is served; `None` for unknown.

        Raises:
            FileTooLarge: `data` is larger than `app.storage.max_file_size`.
            TypeError: `data` is not bytes or a binary file object.
        """
        return self._service.store_in(self._txn, data, content_type, self._txn.staged_files)

    def get(self, storage_id: str) -> bytes | None:
        """The file's bytes, or `None` when no file has that id.

        Raises:
            InvalidArgument: `storage_id` is not an id of the `_storage` table (nor a file's uuid).
        """
        return self._service.get_in(self._txn, storage_id)

    def delete(self, storage_id: str) -> None:
        """Delete the file: its `_storage` row now, its bytes once the mutation commits and no
        other row has the same bytes.

        Raises:
            StorageIdNotFound: No file has that id (`storage id <id> not found`).
            InvalidArgument: `storage_id` is not an id of the `_storage` table (nor a file's uuid).
        """
        self._service.delete_in(self._txn, storage_id)

    def generate_upload_url(self) -> str:
        """A URL a client `POST`s a file's bytes to (its `Content-Type` header becomes the
        file's); the answer is `{"storageId": <id>}`. Valid for one hour. Starts the server if
        needed. `generateUploadUrl` is the same method."""
        return self._service.upload_url()

    generateUploadUrl = generate_upload_url


class StorageActionWriter:
    """`ctx.storage` in an action: every method, each in a transaction of its own.

    In a plain `def` action the methods block and return; in an `async def` action they return
    awaitables (`await ctx.storage.store(...)`). The Convex names (`getUrl`, `getMetadata`,
    `generateUploadUrl`) are the same methods.
    """

    __slots__ = ("_service", "_async")

    def __init__(self, service: StorageService, is_async: bool) -> None:
        self._service = service
        self._async = is_async

    def _run(self, fn: Callable, *args: Any) -> Any:
        if self._async:  # off the loop: storing and reading files block
            return asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))
        return fn(*args)

    def store(self, data: Any, content_type: str | None = None) -> Any:
        """Store `data` (bytes or a binary file object) as a new file; its storage id (as
        `StorageWriter.store`, committed at once)."""
        return self._run(self._service.store, data, content_type)

    def get(self, storage_id: str) -> Any:
        """The file's bytes, or `None`."""
        return self._run(self._service.get, storage_id)

    def get_url(self, storage_id: str) -> Any:
        """The URL serving the file, or `None`."""
        return self._run(self._service.get_url, storage_id)

    def get_metadata(self, storage_id: str) -> Any:
        """`{"storageId", "sha256" (hex), "size", "contentType"}`, or `None`."""
        return self._run(self._service.get_metadata, storage_id)

    def delete(self, storage_id: str) -> Any:
        """Delete the file (`StorageIdNotFound` when there is none)."""
        return self._run(self._service.delete, storage_id)

    def generate_upload_url(self) -> Any:
        """An upload URL, valid for one hour."""
        return self._run(self._service.upload_url)

    getUrl, getMetadata, generateUploadUrl = get_url, get_metadata, generate_upload_url


# ---------------------------------------------------------------------------------------------
# app.storage


class AppStorage:
    """`app.storage`: the App's stored files, from the notebook.

    The same operations as `ctx.storage` in an action, each its own commit, plus paths, a
    listing and the size limit. Files live content-addressed (by sha256) in a folder beside the
    database file (`<file>.storage/`), or in a temporary folder for an in-memory App, removed
    when it closes.

    Examples:
        >>> file_id = app.storage.store(b"hello", content_type="text/plain")
        >>> app.storage.get(file_id)
        b'hello'
        >>> app.storage.get_metadata(file_id)["size"]
        5
        >>> app.storage.delete(file_id)
        >>> app.storage.get(file_id) is None
        True
    """

    __slots__ = ("_service",)

    def __init__(self, service: StorageService) -> None:
        self._service = service

    @property
    def max_file_size(self) -> int:
        """The largest file `store` and uploads accept, in bytes (1 GiB unless set). Larger
        ones raise `FileTooLarge` (uploads get HTTP 413). Kept for this App object only."""
        return self._service.max_file_size

    @max_file_size.setter
    def max_file_size(self, value: int) -> None:
        if type(value) is not int or value < 0:
            raise ValueError(f"max_file_size must be a number of bytes (an int >= 0), got {value!r}.")
        self._service.max_file_size = value

    @property
    def folder(self) -> str | None:
        """The folder holding the files' bytes (None for an in-memory App with no file yet)."""
        return self._service.blobs.root

    def store(self, data: Any, content_type: str | None = None) -> str:
        """Store a file; its storage id (an `Id<"_storage">`).

        Args:
            data: The bytes, a binary file object, or a path (`str` or `pathlib.Path`) to read.
            content_type: The MIME type; for a path, guessed from its extension when not given.

        Raises:
            FileTooLarge: The file is larger than `max_file_size`.
            FileNotFoundError: The path names no file.
        """
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if content_type is None:
                content_type = mimetypes.guess_type(path)[0]
            with open(path, "rb") as file:
                return self._service.store(file, content_type)
        return self._service.store(data, content_type)

    def get(self, storage_id: str) -> bytes | None:
        """The file's bytes, or `None` when no file has that id."""
        return self._service.get(storage_id)

    def get_url(self, storage_id: str) -> str | None:
        """The URL serving the file (the server starts if needed), or `None`."""
        return self._service.get_url(storage_id)

    def get_metadata(self, storage_id: str) -> dict | None:
        """`{"storageId": <uuid>, "sha256": <hex>, "size": <int>, "contentType": ...}`, or `None`."""
        return self._service.get_metadata(storage_id)

    def delete(self, storage_id: str) -> None:
        """Delete the file (its bytes go when no other file has the same ones).

        Raises:
            StorageIdNotFound: No file has that id.
        """
        self._service.delete(storage_id)

    def generate_upload_url(self) -> str:
        """An upload URL (valid for one hour): `POST` the bytes, get `{"storageId": ...}`."""
        return self._service.upload_url()

    def list(self) -> list[dict]:
        """Every stored file's `_storage` row (`_id`, `_creationTime`, `sha256` base64, `size`,
        `contentType`), oldest first."""
        return self._service.database.run_query(lambda txn: Query(txn, STORAGE_TABLE).collect(),
                                                limits=UNLIMITED)[0]

    def __len__(self) -> int:
        return len(self.list())

    def __repr__(self) -> str:
        return f"<convex_lab storage: {len(self)} files>"

