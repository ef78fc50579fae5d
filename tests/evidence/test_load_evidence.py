"""``load_evidence``: both real formats, documented drift, and one test per kind of malformation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.corpus import case
from tests.shapes import app_instance, stopped_instance
from verifier import EvidenceFormat, InputError, load_evidence

APP = case("app-uptodate")
KMS = case("kms-uptodate")


def _app() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(APP.evidence)
    return document


def _getquote() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(KMS.evidence)
    return document


def _dump(document: object) -> bytes:
    return json.dumps(document).encode()


def _error(raw: bytes | str) -> InputError:
    with pytest.raises(InputError) as info:
        load_evidence(raw)
    return info.value


# --- the two real formats -------------------------------------------------------------------


def test_cvm_attestation_is_detected_and_its_leaf_quote_taken() -> None:
    evidence = load_evidence(APP.evidence)
    leaf_hex = _app()["app_certificates"][0]["quote"]
    assert evidence.format is EvidenceFormat.PHALA_CVM_ATTESTATION
    assert evidence.quote == bytes.fromhex(leaf_hex.removeprefix("0x"))
    assert evidence.quote_location == "app_certificates[0].quote"
    assert len(evidence.events) == len(_app()["tcb_info"]["event_log"])


def test_getquote_is_detected_and_its_event_log_string_decoded() -> None:
    evidence = load_evidence(KMS.evidence)
    assert evidence.format is EvidenceFormat.DSTACK_GETQUOTE
    assert len(evidence.events) == len(json.loads(_getquote()["event_log"]))
    assert evidence.compose is None  # GetQuote carries no compose: it is given separately


def test_sha256_covers_the_exact_bytes() -> None:
    spaced = APP.evidence + b"\n\n"
    assert load_evidence(spaced).sha256 != load_evidence(APP.evidence).sha256


# --- documented drift that must be tolerated ------------------------------------------------


def test_sans_as_a_string_is_accepted() -> None:
    document = _app()
    document["app_certificates"][0]["sans"] = "app.example"
    assert load_evidence(_dump(document)).certificates[0].sans == ("app.example",)


def test_quote_hex_with_0x_prefix_is_accepted() -> None:
    document = _app()
    plain = document["app_certificates"][0]["quote"].removeprefix("0x")
    document["app_certificates"][0]["quote"] = "0x" + plain
    assert load_evidence(_dump(document)).quote == bytes.fromhex(plain)


def test_top_level_eventlog_is_accepted() -> None:
    document = _app()
    events = document["tcb_info"].pop("event_log")
    document["eventlog"] = events
    assert len(load_evidence(_dump(document)).events) == len(events)


def test_null_app_compose_means_no_compose_text() -> None:
    document = _app()
    document["tcb_info"]["app_compose"] = None
    document["compose_file"] = None
    evidence = load_evidence(_dump(document))
    assert evidence.compose is None
    assert evidence.compose_file is None


def test_getquote_event_log_as_a_list_is_accepted() -> None:
    document = _getquote()
    document["event_log"] = json.loads(document["event_log"])
    assert len(load_evidence(_dump(document)).events) == len(document["event_log"])


# --- one test per kind of malformation ------------------------------------------------------


def test_not_utf8() -> None:
    assert "not UTF-8" in str(_error(b'{"quote": "\xff"}'))


def test_not_json() -> None:
    assert "not JSON" in str(_error(b'{"quote": '))


def test_json_but_not_an_object() -> None:
    assert "unrecognised evidence" in str(_error(b"[1, 2, 3]"))


def test_object_of_an_unknown_format() -> None:
    assert "unrecognised evidence" in str(_error(b'{"hello": "world"}'))


def test_missing_required_field_names_its_path() -> None:
    document = _app()
    del document["tcb_info"]["mrtd"]
    error = _error(_dump(document))
    assert error.location == "tcb_info.mrtd"


def test_wrong_type_names_its_path() -> None:
    document = _app()
    document["app_certificates"][0]["is_ca"] = "yes"
    error = _error(_dump(document))
    assert error.location == "app_certificates[0].is_ca"


def test_event_imr_of_wrong_type_names_the_event() -> None:
    document = _app()
    document["tcb_info"]["event_log"][3]["imr"] = "3"
    assert _error(_dump(document)).location == "tcb_info.event_log[3].imr"


def test_odd_length_quote_hex() -> None:
    document = _app()
    document["app_certificates"][0]["quote"] = document["app_certificates"][0]["quote"][:-1]
    error = _error(_dump(document))
    assert error.location == "app_certificates[0].quote"


def test_non_hex_quote() -> None:
    document = _getquote()
    document["quote"] = "zz" + document["quote"][2:]
    assert _error(_dump(document)).location == "quote"


def test_getquote_event_log_string_that_is_not_json() -> None:
    document = _getquote()
    document["event_log"] = "[{not json"
    error = _error(_dump(document))
    assert error.location == "event_log"
    assert "not JSON" in str(error)


def test_larger_than_the_limit() -> None:
    assert "larger than" in str(_error(b" " * (16 * 1024 * 1024 + 1)))


def test_nested_too_deeply() -> None:
    assert "not JSON" in str(_error(b"[" * 100_000))


def test_error_message_never_carries_a_traceback_or_the_document() -> None:
    document = copy.deepcopy(_app())
    document["tcb_info"]["rtmr0"] = 7
    message = str(_error(_dump(document)))
    assert "\n" not in message
    assert "Traceback" not in message
    assert len(message) < 300


# --- app instances of the public /apps/{app_id}/attestations endpoint ------------------------


@pytest.mark.parametrize("style", ["eventlog", "eventlog-string", "tcb_info"])
def test_an_app_instance_is_detected_with_its_quote_and_event_log(style: str) -> None:
    instance = app_instance(APP, style=style)
    evidence = load_evidence(_dump(instance))
    direct = load_evidence(APP.evidence)
    assert evidence.format is EvidenceFormat.PHALA_APP_INSTANCE
    assert evidence.quote == direct.quote
    assert evidence.events == direct.events
    assert evidence.certificates == direct.certificates
    assert evidence.quote_location == (
        "app_certificates[0].quote" if style == "tcb_info" else "quote"
    )


def test_a_getquote_shaped_instance_is_an_instance_not_a_getquote() -> None:
    evidence = load_evidence(_dump(app_instance(KMS)))
    assert evidence.format is EvidenceFormat.PHALA_APP_INSTANCE
    assert evidence.quote == load_evidence(KMS.evidence).quote


def test_a_stopped_instance_has_no_quote() -> None:
    evidence = load_evidence(_dump(stopped_instance()))
    assert evidence.format is EvidenceFormat.PHALA_APP_INSTANCE
    assert evidence.quote is None
    assert evidence.events == ()


def test_an_instance_with_a_bad_quote_names_its_path() -> None:
    instance = app_instance(KMS)
    instance["quote"] = "zz"
    assert _error(_dump(instance)).location == "quote"


def test_the_format_can_be_forced() -> None:
    # The same bytes read as a GetQuote fail: an instance's event log is not in event_log.
    raw = _dump(app_instance(KMS))
    assert load_evidence(raw, format=EvidenceFormat.DSTACK_GETQUOTE).events == ()
    assert load_evidence(raw).events
