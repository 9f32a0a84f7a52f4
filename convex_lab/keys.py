"""Order-preserving byte encoding of Convex values and index keys.

`encode_value(a) < encode_value(b)` (plain `bytes` comparison) exactly when a < b in Convex's total
order (see docs/guide/values.md), and the encodings are equal exactly when the values are
Convex-equal. This module only encodes; the sorted indexes that use it live in `engine/store.py`.

Format (ours; only the order matters): a type tag, then a payload.

    UNSET 01 | null 03 | Int64 04 + 8 bytes big-endian of n + 2**63 | Float64 0D + 8 bytes
    (IEEE total-order transform, NaNs canonical but signed) | false 0E | true 0F |
    string 10 + escaped UTF-8 + 00 | bytes 11 + escaped + 00 | array 12 + items + 00 |
    object 15 + (01 + escaped name + 00 + value)* in UTF-8 name order + 00

Escaping turns each 00 byte into 00 FF, so the terminator 00 sorts below any continuation, and a
key component never continues with FF: `prefix_end(enc(x))` bounds exactly the keys whose
component there equals x.
"""

from __future__ import annotations

import struct
from math import copysign
from typing import Any, Iterable

from .values import UNSET as UNSET_VALUE, Int64, _Unset

__all__ = ["encode_value", "encode_key", "successor", "prefix_end"]

_D = struct.Struct(">d")
_Q = struct.Struct(">Q")
_d_pack = _D.pack
_q_pack = _Q.pack
_q_unpack = _Q.unpack
_SIGN = 1 << 63
_ALL = (1 << 64) - 1

_UNSET = b"\x01"
_NULL = b"\x03"
_FALSE = b"\x0e"
_TRUE = b"\x0f"
# Canonical NaNs keep their sign: -NaN sorts below -inf, +NaN above +inf.
_NAN_POS = b"\x0d" + _q_pack(0x7FF8000000000000 | _SIGN)
_NAN_NEG = b"\x0d" + _q_pack(0xFFF8000000000000 ^ _ALL)


def _enc_float(x: float) -> bytes:
    if x != x:
        return _NAN_NEG if copysign(1.0, x) < 0.0 else _NAN_POS
    bits = _q_unpack(_d_pack(x))[0]
    return b"\x0d" + _q_pack(bits ^ _ALL if bits >= _SIGN else bits | _SIGN)


def _enc_str(s: str) -> bytes:
    try:
        b = s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep code point order, never crash
        b = s.encode("utf-8", "surrogatepass")
    if b"\x00" in b:
        b = b.replace(b"\x00", b"\x00\xff")
    return b"\x10" + b + b"\x00"


def _enc_bytes(b: bytes) -> bytes:
    if b"\x00" in b:
        b = b.replace(b"\x00", b"\x00\xff")
    return b"\x11" + b + b"\x00"


def _enc_int(n: int) -> bytes:
    return b"\x04" + _q_pack(n + _SIGN)


def _enc_list(v: list) -> bytes:
    return b"\x12" + b"".join([encode_value(x) for x in v]) + b"\x00"


def _enc_name(k: str) -> bytes:
    b = k.encode("utf-8", "surrogatepass")
    if b"\x00" in b:
        b = b.replace(b"\x00", b"\x00\xff")
    return b"\x01" + b + b"\x00"


def _enc_dict(v: dict) -> bytes:
    parts = [b"\x15"]
    append = parts.append
    # Python str order is code point order, which is UTF-8 byte order.
    for k in sorted(v):
        append(_enc_name(k))
        append(encode_value(v[k]))
    append(b"\x00")
    return b"".join(parts)


def _bad(x: Any) -> bytes:
    raise TypeError(f"{x!r} is not an internal Convex value (expected None, bool, float, Int64, str, bytes, list, dict or UNSET)")


_ENCODERS: dict[type, Any] = {
    str: _enc_str,
    float: _enc_float,
    Int64: _enc_int,
    bool: lambda b: _TRUE if b else _FALSE,
    type(None): lambda _: _NULL,
    bytes: _enc_bytes,
    list: _enc_list,
    dict: _enc_dict,
    _Unset: lambda _: _UNSET,
}


def encode_value(v: Any) -> bytes:
    """The order-preserving encoding of one internal value (`UNSET` encodes as missing).

    O(size of v); strings and floats take a fast path.

    >>> encode_value(Int64(1)) < encode_value(-1.0) < encode_value(False) < encode_value("")
    True
    """
    t = type(v)
    if t is str:
        return _enc_str(v)
    if t is float:
        return _enc_float(v)
    enc = _ENCODERS.get(t)
    if enc is None:
        return _bad(v)
    return enc(v)


def encode_key(values: Iterable[Any]) -> bytes:
    """The encoding of an index key: the concatenated encodings of its components.

    >>> encode_key(("a", 1.0)) == encode_value("a") + encode_value(1.0)
    True
    """
    return b"".join([encode_value(v) for v in values])


def successor(k: bytes) -> bytes:
    """The smallest byte string above `k` (for exclusive lower bounds)."""
    return k + b"\x00"


def prefix_end(k: bytes) -> bytes:
    """A bound above every key that starts with the encoded components `k` and below every key
    whose components differ there (for prefix/equality ranges)."""
    return k + b"\xff"


def encode_column(values: list[Any]) -> list[bytes]:
    """`[encode_value(v) for v in values]`, vectorised with numpy when every value is a float
    (creation times, numeric fields): the bulk paths (imports, reopen, index backfill) use it.

    >>> encode_column([1.0, -0.0]) == [encode_value(1.0), encode_value(-0.0)]
    True
    """
    if len(values) < 64 or not all(type(v) is float for v in values):
        if values and all(type(v) is str for v in values):
            if any("\x00" in v for v in values):
                return [_enc_str(v) for v in values]
            # Inlined _enc_str for strings without NUL (the common case): ~2× faster in bulk.
            return [b"\x10" + v.encode("utf-8", "surrogatepass") + b"\x00" for v in values]
        return [encode_value(v) for v in values]
    import numpy as np

    floats = np.asarray(values, dtype=np.float64)
    bits = floats.view(np.uint64).copy()
    nan = np.isnan(floats)
    if nan.any():
        negative_nan = nan & (bits >> np.uint64(63)).astype(bool)
        bits[nan] = np.uint64(0x7FF8000000000000)
        bits[negative_nan] = np.uint64(0xFFF8000000000000)
    negative = (bits >> np.uint64(63)).astype(bool)
    ordered = np.where(negative, ~bits, bits | np.uint64(_SIGN))
    blob = ordered.astype(">u8").tobytes()
    tag = b"\x0d"
    return [tag + blob[i: i + 8] for i in range(0, len(blob), 8)]


_FIXED_WIDTH = {0x01: 1, 0x03: 1, 0x0E: 1, 0x0F: 1, 0x04: 9, 0x0D: 9}


def component_end(key: bytes, start: int = 0) -> int:
    """The offset just past the encoded value that begins at `key[start]`. O(length of it).

    Lets the subscription index bucket keys by their first component without decoding them.

    >>> k = encode_value("ab") + encode_value(1.0)
    >>> k[:component_end(k)] == encode_value("ab")
    True
    """
    tag = key[start]
    width = _FIXED_WIDTH.get(tag)
    if width is not None:
        return start + width
    if tag == 0x10 or tag == 0x11:
        return _escaped_end(key, start + 1)
    if tag == 0x12:
        pos = start + 1
        while key[pos] != 0x00:
            pos = component_end(key, pos)
        return pos + 1
    if tag == 0x15:
        pos = start + 1
        while key[pos] != 0x00:
            pos = component_end(key, _escaped_end(key, pos + 1))  # 01 + name + 00, then the value
        return pos + 1
    raise ValueError(f"Not an encoded key component: tag {tag:#04x} at offset {start}")


def _escaped_end(key: bytes, pos: int) -> int:
    # Escaped text ends at a 00 byte that is not followed by FF (00 FF is an escaped NUL).
    while True:
        pos = key.index(b"\x00", pos)
        if pos + 1 < len(key) and key[pos + 1] == 0xFF:
            pos += 2
            continue
        return pos + 1


def decode_key(key: bytes) -> tuple[list[Any], str]:
    """The values an index key (or range bound) encodes, and how it ends: "" for a complete key,
    "+" for `successor(k)` (just after k), "top" for `prefix_end(k)` (after every key with that
    prefix). For showing read sets to people; the engine never needs to decode.

    >>> decode_key(prefix_end(encode_value("a")))
    (['a'], 'top')
    """
    try:
        return _decode_components(key)
    except (ValueError, IndexError):
        # A trailing FF after a string's terminator reads like an escaped NUL: it was prefix_end.
        if key.endswith(b"\xff"):
            values, end = _decode_components(key[:-1])
            if not end:
                return values, "top"
        raise


def _decode_components(key: bytes) -> tuple[list[Any], str]:
    values: list[Any] = []
    pos = 0
    while pos < len(key):
        if key[pos] == 0xFF and pos == len(key) - 1:
            return values, "top"
        if key[pos] == 0x00 and pos == len(key) - 1:
            return values, "+"
        end = component_end(key, pos)
        values.append(_decode_component(key[pos:end]))
        pos = end
    return values, ""


def _unescape(data: bytes) -> bytes:
    return data.replace(b"\x00\xff", b"\x00")


def _decode_component(part: bytes) -> Any:
    tag = part[0]
    if tag == 0x01:
        return UNSET_VALUE
    if tag == 0x03:
        return None
    if tag == 0x0E:
        return False
    if tag == 0x0F:
        return True
    if tag == 0x04:
        return Int64(_Q.unpack(part[1:9])[0] - _SIGN)
    if tag == 0x0D:
        bits = _Q.unpack(part[1:9])[0]
        bits = bits ^ _SIGN if bits >= _SIGN else bits ^ _ALL
        return _D.unpack(_Q.pack(bits))[0]
    if tag == 0x10:
        return _unescape(part[1:-1]).decode("utf-8", "surrogatepass")
    if tag == 0x11:
        return _unescape(part[1:-1])
    if tag == 0x12:
        items, pos = [], 1
        while part[pos] != 0x00:
            end = component_end(part, pos)
            items.append(_decode_component(part[pos:end]))
            pos = end
        return items
    if tag == 0x15:
        obj, pos = {}, 1
        while part[pos] != 0x00:
            name_end = _escaped_end(part, pos + 1)
            name = _unescape(part[pos + 1: name_end - 1]).decode("utf-8", "surrogatepass")
            end = component_end(part, name_end)
            obj[name] = _decode_component(part[name_end:end])
            pos = end
        return obj
    raise ValueError(f"Not an encoded key component: tag {tag:#04x}")
