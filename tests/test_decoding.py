"""Decoding untrusted text: every way ``json.loads`` and ``str.encode`` fail is one ValueError.

Defects found by the fuzzer: a JSON integer of more than 4300 digits (a plain ``ValueError``),
deep nesting (``RecursionError``) and a ``str`` with a lone surrogate (``UnicodeEncodeError``)
escaped the parsers; ``verify`` itself raised on a key-provider payload nested too deeply.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.corpus import case
from verifier import Collateral, InputError, Status, Verdict, load_evidence, load_policy, verify
from verifier.certificates import load_pem_chain
from verifier.decoding import json_loads, utf8

KMS = case("kms-uptodate")
LONG_NUMBER = "1" * 5000
DEEP = "[" * 100_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON: Expecting property name"),
        (LONG_NUMBER, "not JSON: a number has too many digits"),
        (DEEP, "not JSON: nested too deeply"),
    ],
)
def test_json_loads_failures_are_one_value_error(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        json_loads(text)
    assert type(info.value) is ValueError and "\n" not in str(info.value)


def test_utf8_refuses_a_lone_surrogate() -> None:
    assert utf8("é") == b"\xc3\xa9" and utf8(b"\xff") == b"\xff"
    with pytest.raises(ValueError, match="lone surrogate at character 1"):
        utf8("a\ud800")


def test_parsers_refuse_a_str_with_a_lone_surrogate() -> None:
    for parse in (load_evidence, Collateral.from_json, load_pem_chain):
        with pytest.raises(InputError, match=r"not valid Unicode|not UTF-8"):
            parse("\ud800")


def test_verify_makes_a_failing_report_of_a_str_with_a_lone_surrogate() -> None:
    for inputs in (
        {"evidence": "\ud800"},
        {"collateral": "\ud800"},
        {"chain_pem": "\ud800"},
    ):
        kwargs: dict[str, Any] = {"evidence": KMS.evidence, "collateral": KMS.collateral}
        kwargs.update(inputs)
        assert verify(at=KMS.at, **kwargs).verdict is Verdict.FAIL


def _getquote(**changes: Any) -> bytes:
    document: dict[str, Any] = json.loads(KMS.evidence)
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize("text", [LONG_NUMBER, DEEP], ids=["long-number", "deep"])
def test_evidence_json_that_json_loads_cannot_decode_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="not JSON"):
        load_evidence(text)
    with pytest.raises(InputError, match=r"event_log: .*not JSON") as info:
        load_evidence(_getquote(event_log=text))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", [LONG_NUMBER, DEEP], ids=["long-number", "deep"])
def test_collateral_json_that_json_loads_cannot_decode_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError, match="collateral is not UTF-8 JSON"):
        Collateral.from_json(text)
    document = json.loads(KMS.collateral)
    document["tcb_info"] = text
    with pytest.raises(InputError, match="tcb_info: not JSON"):
        Collateral.from_json(json.dumps(document))


@pytest.mark.parametrize("payload", [LONG_NUMBER, DEEP], ids=["long-number", "deep"])
def test_a_key_provider_payload_json_cannot_decode_fails_closed(payload: str) -> None:
    # verify() used to raise: the key-provider payload is decoded outside any check.
    events = json.loads(json.loads(KMS.evidence)["event_log"])
    for event in events:
        if event["event"] == "key-provider":
            event["event_payload"] = payload.encode().hex()
    evidence = _getquote(event_log=json.dumps(events, separators=(",", ":")))
    report = verify(evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    assert report.verdict is Verdict.FAIL
    replay = report.finding("rtmr_replay")
    assert replay is not None and replay.status is Status.FAIL
    assert report.app.key_provider is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"version = {LONG_NUMBER}\n", "not TOML: a number has too many digits"),
        ("version = 1\nx = " + DEEP, "not TOML: nested too deeply"),
    ],
    ids=["long-number", "deep"],
)
def test_policy_toml_that_tomllib_cannot_decode_is_an_input_error(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        load_policy(text.encode(), source="policy.toml")


@pytest.mark.parametrize("text", [LONG_NUMBER, DEEP], ids=["long-number", "deep"])
def test_the_validity_window_of_undecodable_qe_identity_is_none(text: str) -> None:
    # dcap-qvl keeps QE identity as text; validity_window (the fetch cache) decodes it and let
    # RecursionError through.
    from verifier.collateral import validity_window

    document = json.loads(KMS.collateral)
    document["qe_identity"] = text
    assert validity_window(Collateral.from_json(json.dumps(document))) is None
