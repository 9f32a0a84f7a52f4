"""Convex v6 document ids (the format Convex documents for its current ids).

Binary: VInt(table number) ‖ 16-byte internal id ‖ Fletcher-16 footer (little-endian), written in
base32 with Convex's alphabet `0123456789abcdefghjkmnpqrstvwxyz` (RFC 4648 bit order, no padding).
Table numbers and names are mapped elsewhere (the store); this module only encodes and decodes.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache
from itertools import accumulate

__all__ = [
    "encode_id",
    "decode_id",
    "new_id",
    "is_id",
    "table_number_of",
    "FIRST_USER_TABLE_NUMBER",
    "SYSTEM_TABLE_NUMBERS",
]

FIRST_USER_TABLE_NUMBER = 10001

# The backend's default numbers: 512 reserved legacy numbers + the DefaultTableNumber entry
# (crates/model/src/lib.rs). `_scheduled_functions` is the view of `_scheduled_jobs` (entry 27) and
# `_storage` the view of `_file_storage` (entry 28); each view shares its table's number.
# `_environment_variables` is convex_lab's own number: functions never see ids of that table.
SYSTEM_TABLE_NUMBERS = {
    "_storage": 540,
    "_scheduled_functions": 539,
    "_environment_variables": 520,
    # convex_lab's own choice: Convex keeps its `_cron_jobs` internal, so no function ever sees
    # one of its ids (and no user table can take the number: those start at 10001).
    "_cron_jobs": 530,
}

_RFC = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CONVEX = b"0123456789abcdefghjkmnpqrstvwxyz"
_TO_CONVEX = bytes.maketrans(_RFC, _CONVEX)
_TO_RFC = bytes.maketrans(_CONVEX, _RFC)
_ALPHABET = frozenset(_CONVEX.decode("ascii"))

_MIN_LEN = 31  # 1-byte table number: 19 bytes
_MAX_LEN = 37  # 5-byte table number: 23 bytes
_MAX_TABLE_NUMBER = 2**32 - 1
_MS_PER_DAY = 86_400_000


def _encoded_len(n: int) -> int:
    return 8 * (n // 5) + (0, 2, 4, 5, 7)[n % 5]


@lru_cache(maxsize=4096)
def _vint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _fletcher16(data: bytes) -> bytes:
    c0 = sum(data) & 0xFF
    c1 = sum(accumulate(data)) & 0xFF
    return bytes((c0, c1))  # (c1 << 8 | c0) ^ version 0, little-endian


def _b32(data: bytes) -> str:
    return base64.b32encode(data).rstrip(b"=").translate(_TO_CONVEX).decode("ascii")


def encode_id(table_number: int, internal16: bytes) -> str:
    """The id string for a table number and a 16-byte internal id.

    >>> encode_id(10001, bytes(range(16)))
    'j57000820c20a1g7104gm2rc1m70ynr8'
    """
    if not 1 <= table_number <= _MAX_TABLE_NUMBER:
        raise ValueError(f"Invalid table number {table_number}")
    if len(internal16) != 16:
        raise ValueError(f"An internal id is 16 bytes, got {len(internal16)}")
    body = _vint(table_number) + bytes(internal16)
    return _b32(body + _fletcher16(body))


@lru_cache(maxsize=65536)
def decode_id(s: str) -> tuple[int, bytes]:
    """`(table_number, internal16)` of an id string; `ValueError` with the backend's message for a
    wrong length, a bad character, a bad table number, a bad footer or leftover bytes. Unlike the
    backend, non-canonical spellings (nonzero padding bits, an overlong VInt) are refused too, so
    each id has exactly one string. Cached (LRU).

    >>> decode_id("j57000820c20a1g7104gm2rc1m70ynr8") == (10001, bytes(range(16)))
    True
    """
    if type(s) is not str:
        raise ValueError(f"Unable to decode ID: expected a string, got {type(s).__name__}")
    n = len(s)
    if n < _MIN_LEN or n > _MAX_LEN:
        raise ValueError(f"Unable to decode ID: Invalid ID length {n}")
    if not _ALPHABET.issuperset(s):
        raise ValueError("Unable to decode ID: ID wasn't valid base32")
    nbytes = n * 5 // 8
    if _encoded_len(nbytes) != n:
        raise ValueError(f"Unable to decode ID: Invalid ID length {n}")
    rfc = s.encode("ascii").translate(_TO_RFC)
    try:
        buf = base64.b32decode(rfc + b"=" * (-n % 8))
    except binascii.Error:  # pragma: no cover - alphabet and length were checked
        raise ValueError("Unable to decode ID: ID wasn't valid base32") from None
    if _b32(buf) != s:  # nonzero bits in the last character
        raise ValueError("Unable to decode ID: ID wasn't valid base32")
    table_number = 0
    pos = 0
    while True:
        if pos >= 5 or pos >= len(buf):
            raise ValueError("Unable to decode ID: Invalid table number")
        b = buf[pos]
        table_number |= (b & 0x7F) << (7 * pos)
        pos += 1
        if b < 0x80:
            break
    if table_number == 0 or table_number > _MAX_TABLE_NUMBER or _vint(table_number) != buf[:pos]:
        raise ValueError("Unable to decode ID: Invalid table number")
    if len(buf) != pos + 18:
        raise ValueError(f"Unable to decode ID: Invalid ID length {n}")
    body = buf[: pos + 16]
    expected = _fletcher16(body)
    found = buf[pos + 16 :]
    if found != expected:
        raise ValueError(
            f"Unable to decode ID: Invalid ID version {int.from_bytes(found, 'little')} "
            f"(expected {int.from_bytes(expected, 'little')})"
        )
    return table_number, bytes(buf[pos : pos + 16])


def table_number_of(s: str) -> int:
    """The table number of an id string (`ValueError` if it is not one)."""
    return decode_id(s)[0]


def is_id(s: object) -> bool:
    """Whether `s` is a valid id string (of any table).

    >>> is_id("j57d2x5znvkyrkr6hecr1vgk397me3km"), is_id("hello")
    (True, False)
    """
    if type(s) is not str:
        return False
    try:
        decode_id(s)
    except ValueError:
        return False
    return True


def new_id(table_number: int, now_ms: float) -> str:
    """A fresh id: 14 random bytes + the big-endian day number (days since 1970) of `now_ms`.

    Served from a small pool made in batches by `new_ids` (one id costs ~0.3 µs, not ~3 µs).
    """
    days = int(now_ms // _MS_PER_DAY) & 0xFFFF
    pool = _pools.get((table_number, days))
    if not pool:
        pool = _pools[(table_number, days)] = new_ids(table_number, now_ms, _POOL_SIZE)
    return pool.pop()


_POOL_SIZE = 256
_pools: dict[tuple[int, int], list[str]] = {}


def new_ids(table_number: int, now_ms: float, n: int) -> list[str]:
    """`n` fresh ids for one table and day, encoded together with numpy. O(n)."""
    import numpy as np

    days = int(now_ms // _MS_PER_DAY) & 0xFFFF
    prefix = _vint(table_number)
    if (len(prefix) + 18) % 5 or n < 8:
        return [encode_id(table_number, os.urandom(14) + days.to_bytes(2, "big")) for _ in range(n)]
    width = len(prefix) + 16
    body = np.empty((n, width + 2), dtype=np.uint8)
    body[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    body[:, len(prefix): len(prefix) + 14] = np.frombuffer(os.urandom(14 * n), dtype=np.uint8).reshape(n, 14)
    body[:, width - 2] = days >> 8
    body[:, width - 1] = days & 0xFF
    # Fletcher-16: c0 = Σ bytes, c1 = Σ running c0 = Σ bytes weighted by (width - i). Float matmul
    # is exact here (sums stay far below 2**53) and much faster than integer matmul.
    data = body[:, :width].astype(np.float64)
    body[:, width] = data.sum(axis=1).astype(np.int64) & 0xFF
    body[:, width + 1] = (data @ np.arange(width, 0, -1, dtype=np.float64)).astype(np.int64) & 0xFF
    # Base32: each 5-byte group is a 40-bit number spelled by 8 characters of 5 bits.
    groups = body.reshape(-1, 5).astype(np.uint64)
    number40 = groups[:, 0]
    for k in range(1, 5):
        number40 = (number40 << np.uint64(8)) | groups[:, k]
    shifts = np.arange(35, -1, -5, dtype=np.uint64)
    indices = ((number40[:, None] >> shifts) & np.uint64(31)).astype(np.uint8)
    text = np.frombuffer(_CONVEX, dtype=np.uint8)[indices].tobytes().decode("ascii")
    size = (width + 2) // 5 * 8
    return [text[i: i + size] for i in range(0, n * size, size)]
