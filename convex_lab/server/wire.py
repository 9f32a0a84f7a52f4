"""The HTTP API's formats, as Convex's clients speak them: request bodies, value formats, the
success and error envelopes, protocol errors, timestamps, client versions and auth headers.

Nothing here touches tornado or runs a function: `http_api.py` reads requests and calls these;
values convert through `convex_lab.values` only.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import struct
import traceback
from pathlib import Path
from typing import Any

import orjson

from ..errors import ArgumentValidationError, ConvexError, ReturnsValidationError
from ..values import convex_value, dumps_export, from_convex_json, to_clean_json, to_convex_json

# Convex's request size limit for the function endpoints: function arguments may be 16 MiB,
# plus room for the rest of the body.
MAX_REQUEST_BYTES = (1 << 24) + 2000

ENCODED = "convex_encoded_json"
CLEAN = "json"
EXPORT = "export_json"
_FORMATS = {
    "convex_encoded_json": ENCODED,
    "convex_json": ENCODED,  # alias
    "json": CLEAN,
    "convex_clean_json": CLEAN,  # legacy alias
    "export_json": EXPORT,
}


class HttpError(Exception):
    """A protocol error: answered with a non-2xx status and `{"code": ..., "message": ...}`.

    Function errors are not these: they are answered with 200 and `{"status": "error", ...}`.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "message": self.message})


def bad_request(code: str, message: str) -> HttpError:
    return HttpError(400, code, message)


# ---------------------------------------------------------------------------------------------
# Client versions and value formats


def parse_format(name: Any) -> str | None:
    """The format a request names (`None` when it names none); 400 `BadFormat` for an unknown one."""
    if name is None:
        return None
    fmt = _FORMATS.get(name) if type(name) is str else None
    if fmt is None:
        raise bad_request("BadFormat", f"format param must be one of [`json`]. Got {name}")
    return fmt


_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def default_format(client_header: str | None) -> str:
    """The format of a response whose request named none, from its `Convex-Client` header.

    Clients newer than npm 1.4.1 (also the CLI) and python 0.5.0, unknown clients and requests
    without the header get clean `json`; older npm and python clients the encoded form. A header
    that is not `<client>-<version>` is refused (400 `InvalidVersion`), as Convex refuses it.
    """
    if client_header is None:
        return CLEAN
    parts = client_header.split("-")
    if len(parts) < 2:
        raise bad_request(
            "InvalidVersion",
            f"Failed to parse client version string: '{client_header}'. Expected format is "
            "{client_name}-{semver}, e.g. my-esolang-client-0.0.1",
        )
    for n in range(1, len(parts)):  # the longest version that parses, from the right
        match = _SEMVER.match("-".join(parts[n:]))
        if match:
            client = "-".join(parts[:n]).lower()
            version = tuple(int(x) for x in match.groups())
            break
    else:
        return CLEAN  # a version Convex does not recognise counts as new
    if client in ("npm", "npm-cli", "actions"):
        return CLEAN if version >= (1, 4, 1) else ENCODED
    if client in ("python", "python-convex"):
        return CLEAN if version >= (0, 5, 0) else ENCODED
    return CLEAN


def export_value(value: Any, fmt: str) -> orjson.Fragment:
    """An internal value in a response format, as JSON text for `orjson.dumps` to embed.

    Object fields come out sorted, as Convex stores and sends them."""
    if fmt == ENCODED:
        return orjson.Fragment(orjson.dumps(to_convex_json(value), option=orjson.OPT_SORT_KEYS))
    if fmt == CLEAN:
        return orjson.Fragment(orjson.dumps(to_clean_json(value), option=orjson.OPT_SORT_KEYS))
    # Export JSON, float layout as Convex writes it (`36.0`, `1e16`).
    return orjson.Fragment(dumps_export(value))


# ---------------------------------------------------------------------------------------------
# Request bodies


def parse_json(body: bytes, content_type: str | None) -> Any:
    """A request's JSON body; 400 `BadJsonBody` when it is not JSON or not declared as JSON."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise bad_request("BadJsonBody", "Expected request with `Content-Type: application/json`")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request("BadJsonBody", f"Failed to parse the request body as JSON: {exc}") from None


def too_large(limit: int = MAX_REQUEST_BYTES) -> HttpError:
    return bad_request(
        "BadJsonBody",
        f"Failed to buffer the request body: length limit exceeded (the limit is {limit:,} bytes).",
    )


_JSON_TYPES = {dict: "a map", list: "a sequence", str: "a string", bool: "a boolean", int: "an integer",
               float: "a floating point number", type(None): "null"}


def _shape_error(message: str) -> HttpError:
    return bad_request("BadJsonBody", f"Failed to deserialize the JSON body into the target type: {message}")


def body_object(body: Any, what: str) -> dict:
    if type(body) is not dict:
        raise _shape_error(f"invalid type: {_JSON_TYPES.get(type(body), 'a value')}, expected {what}")
    return body


def field(body: dict, name: str, *, required: bool = True, kind: type | None = str) -> Any:
    """`body[name]`, checked: 400 `BadJsonBody` naming the field when missing or of the wrong type."""
    if name not in body or (not required and body[name] is None):
        if required:
            raise _shape_error(f"missing field `{name}`")
        return None
    value = body[name]
    if kind is not None and type(value) is not kind:
        expected = _JSON_TYPES.get(kind, kind.__name__)
        raise _shape_error(f"{name}: invalid type: {_JSON_TYPES.get(type(value), 'a value')}, expected {expected}")
    return value


def positional_args(args: Any) -> list:
    """A request's `args` as Convex's positional list: an array is taken as it is (the legacy
    positional form, which the JS client sends as `[args]`), anything else is the one argument."""
    return args if type(args) is list else [args]


def decode_ts(text: Any) -> int:
    """A timestamp as the HTTP API writes it: base64 of 8 little-endian bytes."""
    if type(text) is not str:
        raise _shape_error(f"ts: invalid type: {_JSON_TYPES.get(type(text), 'a value')}, expected a string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != 8:
        raise bad_request("BadJsonBody", f"Invalid ts {text!r}: expected base64 of 8 bytes, as /api/query_ts returns.")
    return struct.unpack("<Q", data)[0]


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", ts)).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Responses


def request_id() -> str:
    return secrets.token_hex(8)


def success(value: Any, fmt: str, lines: list[str]) -> dict:
    body: dict = {"status": "success", "value": export_value(value, fmt)}
    if lines:
        body["logLines"] = lines
    return body


def failure(message: str, request: str, lines: list[str], fmt: str, data: Any = None, has_data: bool = False) -> dict:
    """A function error: `errorMessage` as Convex writes it (the request id, `Server Error`, the
    message, each line of it ending in a newline), `errorData` for a `ConvexError`."""
    body: dict = {"status": "error", "errorMessage": f"[Request ID: {request}] Server Error\n{message}"}
    if has_data:
        body["errorData"] = export_value(data, fmt)
    if lines:
        body["logLines"] = lines
    return body


_PACKAGE = str(Path(__file__).resolve().parent.parent)


def _frames(exc: BaseException) -> str:
    """The user's frames of a traceback, innermost first, as Convex prints a stack
    (`    at handler (file:line)`); convex_lab's own frames are left out."""
    lines = []
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(_PACKAGE):
            continue
        lines.append(f"    at {frame.name} ({frame.filename}:{frame.lineno})\n")
    return "".join(lines)


def error_text(exc: BaseException) -> tuple[str, Any, bool]:
    """What a function's error shows a network caller: the message (ending in a newline), and
    a `ConvexError`'s data (converted to a Convex value) with whether there is any.

    Validation errors read as Convex's (`ArgumentValidationError: ...`, without the
    `[CONVEX Q(path)]` tag that in-process callers see); an error raised in the handler is
    `Uncaught <Type>: <message>` followed by the handler's frames."""
    if isinstance(exc, (ArgumentValidationError, ReturnsValidationError)):
        message = exc.message
        if message.startswith("[CONVEX "):
            message = message.split("] ", 1)[-1]
        return message + "\n", None, False
    data, has_data = None, False
    if isinstance(exc, ConvexError):
        try:
            data, has_data = convex_value(exc.data), True
        except (TypeError, ValueError) as bad:
            return f"Uncaught ConvexError: {exc} (its data is not a Convex value: {bad})\n{_frames(exc)}", None, False
    return f"Uncaught {type(exc).__name__}: {exc}\n{_frames(exc)}", data, has_data


def plain_message(message: str) -> tuple[str, Any, bool]:
    """A function error convex_lab reports before anything runs (unknown function, ...)."""
    return message + "\n", None, False


def dumps(body: Any) -> bytes:
    return orjson.dumps(body)


def loads_args(args: list) -> list:
    """Positional args from Convex JSON to internal values (ValueError on a bad encoding)."""
    return [from_convex_json(arg) for arg in args]


# ---------------------------------------------------------------------------------------------
# Auth headers


def parse_authorization(header: str | None, admin_key_param: str | None) -> tuple[str, str | None, str | None]:
    """Split an `Authorization` header: `("admin", key, acting_as_b64)`, `("user", token, None)` or
    `("none", None, None)`. `?adminKey=` counts when there is no header. Malformed → 400."""
    if header is None:
        if admin_key_param is not None:
            return "admin", admin_key_param, None
        return "none", None, None
    if len(header) < 7:
        raise bad_request("InvalidHeaderFailure", "Invalid authentication header")
    scheme = header[:7].lower()
    if scheme == "convex ":
        key, sep, acting = header[7:].partition(":")
        return "admin", key, acting if sep else None
    if scheme == "bearer " and len(header) > 7:
        return "user", header[7:].strip(), None
    raise bad_request("InvalidAdminKey", "Invalid admin key")


def acting_identity(encoded: str) -> dict:
    """The identity an admin acts as (`Convex <key>:<base64 JSON>`), as `get_user_identity` gives it."""
    try:
        attributes = orjson.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        attributes = None
    if type(attributes) is not dict:
        raise bad_request("HeaderParseFailure", "Malformed Authorization header.")
    identity = dict(attributes)
    if "tokenIdentifier" not in identity:
        if not (isinstance(identity.get("issuer"), str) and isinstance(identity.get("subject"), str)):
            raise bad_request("HeaderParseFailure", "Malformed Authorization header.")
        identity["tokenIdentifier"] = f"{identity['issuer']}|{identity['subject']}"
    return identity
