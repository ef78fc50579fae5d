"""The error hierarchy: an ``InputError`` is one safe line whatever input it quotes.

Defect found by the fuzzer: a policy key holding a line break (a TOML quoted key ``"a\\nb"``, or
U+0085) made the error span two lines, and control characters (``\\x1b[31m``) went to the
terminal as they were.
"""

from __future__ import annotations

import pytest

from verifier import InputError, load_policy
from verifier.errors import one_line


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, é and tabs\tare kept", "plain text, é and tabs\\tare kept"),
        ("a\nb\r\nc", "a\\nb\\r\\nc"),
        ("\x85\u2028\u2029\x0b\x0c\x1c", "\\x85\\u2028\\u2029\\x0b\\x0c\\x1c"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\ud800", "\\ud800"),
    ],
)
def test_one_line_escapes_line_breaks_and_control_characters(text: str, shown: str) -> None:
    assert one_line(text) == shown
    assert len(one_line(text).splitlines()) == 1


def test_an_input_error_quoting_a_line_break_is_one_line() -> None:
    text = b'version = 1\nunpinned = true\n[tcb]\n"a\\nb\\u001b[31m\xc2\x85" = 1\n'
    with pytest.raises(InputError) as info:
        load_policy(text, source="policy\n.toml")
    message = str(info.value)
    assert message.startswith("policy\\n.toml:")
    assert message.endswith(": tcb.a\\nb\\x1b[31m\\x85: unknown key")
    assert len(message.splitlines()) == 1
    location = info.value.within("dir\x1b").location
    assert location is not None and location.startswith("dir\\x1b: policy\\n.toml:")
