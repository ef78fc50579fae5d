"""Exact spans of JSON values in the text they were served as."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.corpus import case
from verifier.errors import InputError
from verifier.jsonspan import array_spans, document_spans, loads_unique, object_spans


def test_member_spans_are_the_exact_text_whatever_the_spacing() -> None:
    text = ' {\n  "signature" : "ab" ,"tcbInfo":{"b":1,  "a":[1, 2]}\t}\n'
    spans = document_spans(text)
    assert {k: text[a:b] for k, (a, b) in spans.items()} == {
        "signature": '"ab"',
        "tcbInfo": '{"b":1,  "a":[1, 2]}',
    }


def test_the_span_of_a_real_tcb_info_is_its_signed_text() -> None:
    collateral = json.loads(case("app-uptodate").collateral)
    body = '{"tcbInfo":' + collateral["tcb_info"] + ',"signature":"00"}'
    start, end = document_spans(body)["tcbInfo"]
    assert body[start:end] == collateral["tcb_info"]


def test_array_element_spans() -> None:
    text = '{"instances": [ {"quote": "0a"} ,{"quote":null}, 3 ]}'
    start, _ = document_spans(text)["instances"]
    spans, _ = array_spans(text, start)
    assert [text[a:b] for a, b in spans] == ['{"quote": "0a"}', '{"quote":null}', "3"]
    assert array_spans("[]")[0] == []
    assert object_spans("{}")[0] == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
        ("[1]", "not a JSON object"),
        ('{"a": 1} {}', "not JSON"),
        ('{"a": }', "not JSON"),
        ("", "not JSON"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_malformed_or_ambiguous_documents_are_input_errors(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        document_spans(text)


def test_array_spans_reject_what_is_not_an_array() -> None:
    with pytest.raises(InputError, match="not a JSON array"):
        array_spans('{"a": 1}')
    with pytest.raises(InputError, match="expected ','"):
        array_spans("[1 2]")


def test_loads_unique_parses_like_json_loads() -> None:
    assert loads_unique('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=10,
)


@settings(max_examples=50)
@given(st.dictionaries(st.text(max_size=5), json_values, max_size=5), st.booleans())
def test_every_span_parses_back_to_its_value(document: dict[str, object], indent: bool) -> None:
    text = json.dumps(document, indent=2 if indent else None, ensure_ascii=False)
    spans = document_spans(text)
    assert list(spans) == list(document)
    for key, (start, end) in spans.items():
        assert json.loads(text[start:end]) == document[key]
