"""Decoding untrusted input: text given as ``str`` and JSON text.

``json.loads`` fails in three ways on hostile text: ``JSONDecodeError``, a plain ``ValueError``
for an integer of more than 4300 digits (CPython's limit on int/str conversion), and
``RecursionError`` for deep nesting; and a ``str`` argument with a lone surrogate cannot even be
encoded. Each helper turns all of these into one ``ValueError`` with a one-line reason (or, for
:func:`utf8_text`, which knows where the text came from, an :class:`InputError` naming it), so
that every parser refuses bad input the same way instead of crashing.
"""

from __future__ import annotations

import json

from .errors import InputError


def json_loads(text: str | bytes) -> object:
    """Decode JSON text; ``ValueError`` (one line, starting "not JSON") when it cannot be."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("not JSON: nested too deeply") from None
    except ValueError:
        raise ValueError("not JSON: a number has too many digits") from None


def utf8_text(text: str, *, location: str) -> bytes:
    """The UTF-8 bytes of a string taken from a document; :class:`InputError` at ``location`` for
    a lone surrogate (a JSON ``"\\ud800"`` escape decodes to one, and no UTF-8 holds it)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "contains a lone surrogate: not valid Unicode", location=location
        ) from None


def utf8(data: bytes | str) -> bytes:
    """The bytes of ``data``, a ``str`` encoded as UTF-8; ``ValueError`` for a lone surrogate."""
    if not isinstance(data, str):
        return bytes(data)
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode: a lone surrogate at character {exc.start}") from None
