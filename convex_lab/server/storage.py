"""File storage's HTTP routes, as Convex's: uploads and downloads.

- `POST /api/storage/upload?token=...` (the URL `generate_upload_url` returns): the body is the
  file, its `Content-Type` header the file's content type, an optional `Digest: sha-256=<base64>`
  is checked; the answer is `{"storageId": <id>}`. The body is streamed to a temporary file, so
  a file of any size up to `app.storage.max_file_size` never sits in memory; one over it is read
  to its end (so the client gets its answer), kept nowhere, and answered with 413.
- `GET|HEAD /api/storage/<uuid>` (the URL `get_url` returns): the bytes, with `Content-Type`,
  `Content-Length`, `Digest`, `Cache-Control` and `Accept-Ranges` as Convex sends them; one
  `Range` gives 206, several 416. Only a uuid is a valid name (400 `InvalidStoragePath`
  otherwise: no `..`, no encoded slashes, no other ids reach the file system); a uuid of no
  file is 404.
CORS as on every `/api` route (`ApiHandler`).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

import tornado.web

from ..engine.blobs import too_large as file_too_large
from ..errors import FileTooLarge
from ..runtime.storage import SERVE_PREFIX, UPLOAD_PATH, UUID_PATTERN
from .http_api import ApiHandler
from .wire import HttpError, bad_request

if TYPE_CHECKING:  # pragma: no cover
    from .server import Server

CHUNK = 1 << 20
CACHE_CONTROL = "private, max-age=2592000"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def too_large(exc: FileTooLarge) -> HttpError:
    return HttpError(413, "FileTooLarge", str(exc))


def digest_header(value: str | None) -> str | None:
    """The base64 sha-256 of a `Digest: sha-256=<base64>` header (None when absent)."""
    if value is None:
        return None
    for part in value.split(","):
        algorithm, _, digest = part.strip().partition("=")
        if algorithm.lower() == "sha-256" and digest:
            return digest
    raise bad_request("InvalidDigest", f"The Digest header {value!r} has no sha-256=<base64> value.")


@tornado.web.stream_request_body
class UploadHandler(ApiHandler):
    """`POST /api/storage/upload?token=...`."""

    def prepare(self) -> None:
        self._refusal: HttpError | None = None
        self._writer: Any = None
        self._received = 0
        service = self.app._storage
        problem = service.check_upload_token(self.get_query_argument("token", None))
        if problem is not None:
            self._refusal = bad_request("StorageUploadTokenInvalid", problem)
            return
        # Read any body to its end (the answer comes after it); the limit is ours, not tornado's.
        self.request.connection.set_max_body_size(sys.maxsize)
        self._writer = service.writer()

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._writer is not None:
            self._writer.write(chunk)

    async def post(self) -> None:
        if self._refusal is not None:
            raise self._refusal
        writer, self._writer = self._writer, None  # from here the worker owns it
        digest = digest_header(self.request.headers.get("Digest"))
        if writer.over_limit:
            writer.abort()
            raise too_large(file_too_large(writer.max_size))
        try:
            storage_id = await self.server.run_blocking(
                self.app._storage.finish_upload, writer, self.request.headers.get("Content-Type"), digest)
        except FileTooLarge as exc:
            raise too_large(exc) from None
        except ValueError as exc:
            raise bad_request("InvalidDigest", str(exc)) from None
        self.reply({"storageId": storage_id})

    def on_finish(self) -> None:
        self._abort()

    def on_connection_close(self) -> None:
        self._abort()

    def _abort(self) -> None:
        writer, self._writer = getattr(self, "_writer", None), None
        if writer is not None:
            writer.abort()


class ServeHandler(ApiHandler):
    """`GET|HEAD /api/storage/<uuid>`."""

    def prepare(self) -> None:  # no body to collect
        pass

    async def get(self, _: str) -> None:
        handle = self.request.path[len(SERVE_PREFIX):]  # the raw path: nothing decoded
        if not UUID_PATTERN.match(handle):
            raise bad_request("InvalidStoragePath", f"Invalid storage path: {handle!r} is not a file's uuid "
                                                    "(get one from ctx.storage.get_url).")
        found = await self.server.run_blocking(self.app._storage.served_file, handle)
        if found is None:
            raise HttpError(404, "FileNotFound", f"No file has the uuid {handle}.")
        path, row = found
        try:
            file = open(path, "rb")
        except FileNotFoundError:  # deleted since
            raise HttpError(404, "FileNotFound", f"No file has the uuid {handle}.") from None
        with file:
            size = int(row["size"])
            wanted = self._range(size)
            if wanted is None:
                return
            start, end = wanted
            self.set_header("Content-Type", row.get("contentType") or "application/octet-stream")
            self.set_header("Digest", f"sha-256={row['sha256']}")
            self.set_header("Cache-Control", CACHE_CONTROL)
            self.set_header("Accept-Ranges", "bytes")
            self.set_header("Content-Length", str(end - start))
            if self.request.method == "HEAD":
                self.finish()
                return
            file.seek(start)
            left = end - start
            while left > 0:
                chunk = file.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                self.write(chunk)
                await self.flush()
        self.finish()

    head = get

    def _range(self, size: int) -> tuple[int, int] | None:
        """The byte range to send, `[start, end)`; sets 206 and `Content-Range` for a `Range`.
        None when it answered 416 itself (an error answer would drop `Content-Range`)."""
        header = self.request.headers.get("Range")
        if header is None:
            return 0, size
        match = _RANGE.match(header.strip())
        if match is None or (not match.group(1) and not match.group(2)):
            return self._unsatisfiable(size, f"Only one byte range is supported, got {header!r}.")
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last) + 1, size) if last else size
        else:  # the last N bytes
            start, end = max(size - int(last), 0), size
        if start >= size or start >= end:
            return self._unsatisfiable(size, f"The range {header!r} is outside the file ({size} bytes).")
        self.set_status(206)
        self.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        return start, end

    def _unsatisfiable(self, size: int, message: str) -> None:
        self.set_status(416)
        self.set_header("Content-Range", f"bytes */{size}")
        self.set_header("Content-Type", "application/json")
        self.finish(HttpError(416, "RangeNotSatisfiable", message).body())
        return None


def routes(server: "Server") -> list:
    options = {"server": server}
    return [
        (UPLOAD_PATH, UploadHandler, options),
        (SERVE_PREFIX + r"(.*)", ServeHandler, options),
    ]
