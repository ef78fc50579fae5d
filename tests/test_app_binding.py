"""Compose binding: exact bytes, MRCONFIGID forms, compose text consistency."""

from __future__ import annotations

import hashlib

from tests.corpus import case
from verifier.app_binding import check_compose_hash, check_compose_texts, check_mr_config_id
from verifier.findings import Status

COMPOSE = case("kms-uptodate").compose or b""
MEASURED = hashlib.sha256(COMPOSE).digest()


def test_real_compose_binds_to_its_event() -> None:
    assert (
        check_compose_hash(
            COMPOSE, bytes.fromhex(case("kms-uptodate").expected["compose_hash_event"])
        ).status
        is Status.PASS
    )


def test_a_trailing_newline_breaks_the_binding() -> None:
    finding = check_compose_hash(COMPOSE + b"\n", MEASURED)
    assert finding.status is Status.FAIL
    assert finding.expected == MEASURED.hex()


def test_reserialised_json_breaks_the_binding() -> None:
    import json

    reserialised = json.dumps(json.loads(COMPOSE)).encode()
    assert reserialised != COMPOSE
    assert check_compose_hash(reserialised, MEASURED).status is Status.FAIL


def test_no_compose_text_is_a_skip_and_no_event_is_a_failure() -> None:
    assert check_compose_hash(None, MEASURED).status is Status.SKIP
    assert check_compose_hash(COMPOSE, None).status is Status.FAIL


def test_mr_config_id_forms() -> None:
    v1 = b"\x01" + MEASURED + bytes(15)
    assert check_mr_config_id(v1, MEASURED).status is Status.PASS
    assert check_mr_config_id(bytes(48), MEASURED).status is Status.SKIP
    other = b"\x01" + bytes(32) + bytes(15)
    assert check_mr_config_id(other, MEASURED).status is Status.FAIL
    assert check_mr_config_id(v1, None).status is Status.FAIL
    unknown = b"\x02" + MEASURED + bytes(15)
    finding = check_mr_config_id(unknown, MEASURED)
    assert finding.status is Status.FAIL and "unknown MRCONFIGID format 0x02" in finding.reason
    trailing = b"\x01" + MEASURED + bytes(14) + b"\x01"
    assert check_mr_config_id(trailing, MEASURED).status is Status.FAIL


def test_compose_texts_must_agree() -> None:
    assert check_compose_texts({"a": b"x"}).status is Status.SKIP
    assert check_compose_texts({"a": b"x", "b": b"x"}).status is Status.PASS
    finding = check_compose_texts({"tcb_info.app_compose": b"x", "compose_file": b"y"})
    assert finding.status is Status.FAIL and "compose_file" in finding.reason
