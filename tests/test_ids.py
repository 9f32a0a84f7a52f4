"""ids.py: Convex v6 ids."""

from __future__ import annotations

import json
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convex_lab.ids import (
    FIRST_USER_TABLE_NUMBER,
    SYSTEM_TABLE_NUMBERS,
    decode_id,
    encode_id,
    is_id,
    new_id,
    table_number_of,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


# An independent, slow encoder written from the spec, for building malformed ids.
def vint(n: int) -> bytes:
    out = []
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def footer(body: bytes) -> bytes:
    c0 = sum(body) % 256
    c1 = sum(accumulate(body)) % 256
    return ((c1 << 8) | c0).to_bytes(2, "little")


def b32(data: bytes) -> str:
    bits = "".join(f"{b:08b}" for b in data)
    bits += "0" * (-len(bits) % 5)
    return "".join(ALPHABET[int(bits[i : i + 5], 2)] for i in range(0, len(bits), 5))


def test_known_vectors():
    assert encode_id(10001, bytes(range(16))) == "j57000820c20a1g7104gm2rc1m70ynr8"
    assert decode_id("j57000820c20a1g7104gm2rc1m70ynr8") == (10001, bytes(range(16)))
    for real in ("j579t1x2pxcx6vdfn0gn41k4498ej10p", "j57d2x5znvkyrkr6hecr1vgk397me3km"):
        table, internal = decode_id(real)
        assert table == 10001 and len(internal) == 16
        assert encode_id(table, internal) == real
    # The backend's own stability test vector (table 1017, bytes 251**i mod 256).
    internal = bytes(pow(251, i + 1, 256) for i in range(16))
    assert encode_id(1017, internal) == "z43zp6c3e75gkmz1kfwj6mbbx5sw281h"


def test_fixture_ids_roundtrip():
    ids = json.loads((FIXTURES / "convex_export_sample.json").read_text())["ids"]
    assert ids
    for s, info in ids.items():
        table, internal = decode_id(s)
        assert table == info["tableNumber"]
        assert internal.hex() == info["internalIdHex"]
        assert encode_id(table, internal) == s
    assert all(s.startswith("kg2") for s, i in ids.items() if i["tableNumber"] == SYSTEM_TABLE_NUMBERS["_storage"])


def test_constants():
    assert FIRST_USER_TABLE_NUMBER == 10001
    assert SYSTEM_TABLE_NUMBERS["_storage"] == 540
    assert SYSTEM_TABLE_NUMBERS["_scheduled_functions"] == 539


@given(st.integers(1, 2**32 - 1), st.binary(min_size=16, max_size=16))
def test_roundtrip_and_matches_the_spec_encoder(table, internal):
    s = encode_id(table, internal)
    body = vint(table) + internal
    assert s == b32(body + footer(body))
    assert len(s) == {1: 31, 2: 32, 3: 34, 4: 36, 5: 37}[len(vint(table))]
    assert decode_id(s) == (table, internal)
    assert is_id(s) and table_number_of(s) == table


@pytest.mark.parametrize("table", [128, 10001, 16383])
def test_normal_tables_give_32_characters(table):
    assert len(encode_id(table, bytes(16))) == 32


def test_new_id_layout():
    now_ms = 1753504219929.1677
    s = new_id(10002, now_ms)
    table, internal = decode_id(s)
    assert table == 10002 and s.startswith("j97")
    assert int.from_bytes(internal[14:], "big") == int(now_ms // 86_400_000)
    assert new_id(10002, now_ms) != s


def _err(s: str) -> str:
    with pytest.raises(ValueError) as e:
        decode_id(s)
    assert not is_id(s)
    return str(e.value)


def test_decode_errors():
    good = "j57000820c20a1g7104gm2rc1m70ynr8"
    # 31 characters decode to 19 bytes: too short for a 2-byte table number + 16 + 2
    assert _err(encode_id(10001, bytes(16))[:-1]) in (
        "Unable to decode ID: Invalid ID length 31",
        "Unable to decode ID: ID wasn't valid base32",
    )
    assert _err("abc") == "Unable to decode ID: Invalid ID length 3"
    assert _err(good + "00000000") == "Unable to decode ID: Invalid ID length 40"
    for bad in ("i", "l", "o", "u", "J", "-"):
        assert _err(good[:-1] + bad) == "Unable to decode ID: ID wasn't valid base32"
    # a changed character breaks the checksum
    flipped = good[:5] + ("1" if good[5] != "1" else "2") + good[6:]
    assert _err(flipped).startswith("Unable to decode ID: Invalid ID version ")
    # 33 and 35 characters are never produced by the encoder
    assert _err(good + "0") == "Unable to decode ID: Invalid ID length 33"


def test_decode_rejects_malformed_binary():
    internal = bytes(range(16))
    zero = vint(0) + internal
    assert _err(b32(zero + footer(zero))) == "Unable to decode ID: Invalid table number"
    overlong = b"\x81\x00" + internal  # table 1, non-canonical VInt
    assert _err(b32(overlong + footer(overlong))) == "Unable to decode ID: Invalid table number"
    too_long = b"\xff\xff\xff\xff\xff\x01" + internal[:14]  # VInt longer than 5 bytes
    assert _err(b32(too_long + footer(too_long))) == "Unable to decode ID: Invalid table number"
    body = vint(10001) + internal
    leftover = body + footer(body) + b"\x00"
    assert _err(b32(leftover)) == "Unable to decode ID: Invalid ID length 34"
    wrong = body + bytes(reversed(footer(body)))
    c0c1 = int.from_bytes(footer(body), "little")
    assert _err(b32(wrong)) == (
        f"Unable to decode ID: Invalid ID version {int.from_bytes(bytes(reversed(footer(body))), 'little')} "
        f"(expected {c0c1})"
    )


def test_decode_rejects_nonzero_padding_bits():
    good = encode_id(10001, bytes(range(16)))  # 20 bytes = 32 chars: no padding bits
    one_byte_table = encode_id(5, bytes(range(16)))  # 19 bytes = 31 chars: 3 padding bits
    assert len(one_byte_table) == 31
    last = ALPHABET.index(one_byte_table[-1])
    tweaked = one_byte_table[:-1] + ALPHABET[last | 1]
    if tweaked != one_byte_table:
        assert _err(tweaked) == "Unable to decode ID: ID wasn't valid base32"
    assert decode_id(good)[0] == 10001


def test_is_id_on_non_ids():
    assert not is_id(None) and not is_id(123) and not is_id("") and not is_id("users")
    assert not is_id(b"j57000820c20a1g7104gm2rc1m70ynr8")


def test_encode_id_argument_checks():
    with pytest.raises(ValueError):
        encode_id(0, bytes(16))
    with pytest.raises(ValueError):
        encode_id(10001, bytes(15))


def test_new_ids_batch_matches_encoder():
    from convex_lab.ids import decode_id, encode_id, new_ids

    now_ms = 1.7e12
    for number in (128, 539, 540, 10001, 16383, 5, 20000):
        batch = new_ids(number, now_ms, 300)
        assert len(set(batch)) == 300
        for doc_id in batch:
            decoded_number, internal = decode_id(doc_id)
            assert decoded_number == number
            assert encode_id(number, internal) == doc_id
            assert int.from_bytes(internal[14:], "big") == int(now_ms // 86_400_000)
