"""Hex decoding that tolerates the drift seen in the wild (``0x`` prefixes, upper case)."""

from __future__ import annotations

import re

from .errors import InputError

# bytes.fromhex accepts inner whitespace; evidence never contains any, so validate strictly.
_HEX = re.compile(r"[0-9a-fA-F]*")


def is_hex(text: str) -> bool:
    """True when ``text`` is only hex digits (either case; no prefix, no whitespace)."""
    return _HEX.fullmatch(text) is not None


def hex_bytes(text: str) -> bytes | None:
    """Decode hex with an optional ``0x`` prefix; ``None`` unless it is exactly hex digits.

    Fast path for the event log (tens of fields per document): ``bytes.fromhex`` does the work,
    and a length check rejects the whitespace it would otherwise skip.
    """
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        return None
    return data if 2 * len(data) == len(body) else None


def strip_hex(text: str) -> str:
    """Lower-case ``text`` and drop one ``0x``/``0X`` prefix."""
    text = text.strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    return text.lower()


def decode_hex(text: str, *, location: str, length: int | None = None) -> bytes:
    """Decode hex (optional ``0x``), raising :class:`InputError` at ``location`` when malformed."""
    body = strip_hex(text)
    if len(body) % 2:
        raise InputError("odd number of hex digits", location=location)
    if not is_hex(body):
        raise InputError("not hexadecimal", location=location)
    data = bytes.fromhex(body)
    if length is not None and len(data) != length:
        raise InputError(f"expected {length} bytes, got {len(data)}", location=location)
    return data


def json_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a JSON path: ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"
