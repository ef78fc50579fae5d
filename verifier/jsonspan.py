"""Where a JSON value sits in the text it was served as: exact spans, never re-serialisation.

Signed JSON (Intel's TCB info and QE identity) is signed over the exact bytes of an inner object as
served, and evidence is hashed over the exact bytes received. Parsing and re-serialising would
change spacing, escapes or key order and break both, so these helpers return ``(start, end)``
offsets into the original text instead. Duplicate keys are refused: a document whose signed span
and parsed value could disagree is ambiguous.
"""

from __future__ import annotations

import json
import re

from .errors import InputError

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

Span = tuple[int, int]


def _skip(text: str, index: int) -> int:
    match = _WS.match(text, index)
    return match.end() if match else index


def _value_end(text: str, index: int, location: str) -> int:
    try:
        _, end = _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at offset {exc.pos}", location=location) from None
    except RecursionError:
        raise InputError("not JSON: nested too deeply", location=location) from None
    return end


def object_spans(text: str, start: int = 0, *, location: str = "$") -> tuple[dict[str, Span], int]:
    """The span of each member value of the JSON object at ``start`` (after whitespace).

    Returns the spans by key and the offset just after the closing brace.
    """
    index = _skip(text, start)
    if not text.startswith("{", index):
        raise InputError("not a JSON object", location=location)
    index = _skip(text, index + 1)
    spans: dict[str, Span] = {}
    if text.startswith("}", index):
        return spans, index + 1
    while True:
        if not text.startswith('"', index):
            raise InputError(f"expected a key at offset {index}", location=location)
        try:
            key, index = json.decoder.scanstring(text, index + 1)  # type: ignore[attr-defined]
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", location=location) from None
        if key in spans:
            raise InputError(f"duplicate key {key!r}: ambiguous", location=location)
        index = _skip(text, index)
        if not text.startswith(":", index):
            raise InputError(f"expected ':' at offset {index}", location=location)
        value_start = _skip(text, index + 1)
        value_end = _value_end(text, value_start, f"{location}.{key}")
        spans[key] = (value_start, value_end)
        index = _skip(text, value_end)
        if text.startswith(",", index):
            index = _skip(text, index + 1)
            continue
        if text.startswith("}", index):
            return spans, index + 1
        raise InputError(f"expected ',' or '}}' at offset {index}", location=location)


def array_spans(text: str, start: int = 0, *, location: str = "$") -> tuple[list[Span], int]:
    """The span of each element of the JSON array at ``start`` (after whitespace)."""
    index = _skip(text, start)
    if not text.startswith("[", index):
        raise InputError("not a JSON array", location=location)
    index = _skip(text, index + 1)
    spans: list[Span] = []
    if text.startswith("]", index):
        return spans, index + 1
    while True:
        value_end = _value_end(text, index, f"{location}[{len(spans)}]")
        spans.append((index, value_end))
        index = _skip(text, value_end)
        if text.startswith(",", index):
            index = _skip(text, index + 1)
            continue
        if text.startswith("]", index):
            return spans, index + 1
        raise InputError(f"expected ',' or ']' at offset {index}", location=location)


def loads_unique(text: str, *, location: str = "$") -> object:
    """``json.loads`` that refuses duplicate keys anywhere (the document must parse one way)."""

    def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        result: dict[str, object] = {}
        for key, value in pairs:
            if key in result:
                raise InputError(f"duplicate key {key!r}: ambiguous", location=location)
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", location=location
        ) from None
    except RecursionError:
        raise InputError("not JSON: nested too deeply", location=location) from None


def document_spans(text: str, *, location: str = "$") -> dict[str, Span]:
    """Member spans of a whole JSON document that must be one object, with no duplicate key."""
    loads_unique(text, location=location)
    spans, _ = object_spans(text, 0, location=location)
    return spans
