"""A minimal DER encoder: just what the SGX PCK extension and dstack extension values need.

``cryptography`` has no generic ASN.1 builder, and the PCK certificate's SGX extension
(``1.2.840.113741.1.13.1``) is a nested SEQUENCE of ``{OID, value}`` pairs that must be written by
hand. Only definite-length, primitive-or-constructed encodings with minimal lengths (DER, X.690
§10) are produced.
"""

from __future__ import annotations

from collections.abc import Iterable

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_SEQUENCE = 0x30


def tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value with a minimal definite length (X.690 §8.1.3)."""
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def _integer_content(value: int) -> bytes:
    """Minimal two's-complement big-endian content of an INTEGER/ENUMERATED (X.690 §8.3)."""
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return value.to_bytes(size, "big", signed=True)


def integer(value: int) -> bytes:
    return tlv(TAG_INTEGER, _integer_content(value))


def enumerated(value: int) -> bytes:
    return tlv(TAG_ENUMERATED, _integer_content(value))


def boolean(value: bool) -> bytes:
    return tlv(TAG_BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(value: bytes) -> bytes:
    return tlv(TAG_OCTET_STRING, value)


def sequence(items: Iterable[bytes]) -> bytes:
    return tlv(TAG_SEQUENCE, b"".join(items))


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (X.690 §8.19)."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2:
        raise ValueError(f"not an object identifier: {dotted}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(TAG_OID, bytes(body))


def read_octet_string(value: bytes) -> bytes:
    """The content of one DER OCTET STRING that spans all of ``value``."""
    if len(value) < 2 or value[0] != TAG_OCTET_STRING:
        raise ValueError("not a DER OCTET STRING")
    length, offset = value[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or len(value) < 2 + size:
            raise ValueError("bad DER length")
        length, offset = int.from_bytes(value[2 : 2 + size], "big"), 2 + size
    if offset + length != len(value):
        raise ValueError("DER length does not cover the value")
    return value[offset:]
