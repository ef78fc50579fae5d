"""Event log decoding, runtime digests (V1, V2, empty) and RTMR replay."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.corpus import RAW_DIR, case
from verifier.eventlog import (
    RUNTIME_EVENT_TYPE,
    decode_event_log,
    replay,
    runtime_digest,
    runtime_identity,
)
from verifier.evidence import load_evidence
from verifier.evidence.phala import EventLogEntry
from verifier.quote import parse_td_quote

RT = RUNTIME_EVENT_TYPE


def entry(
    name: str,
    payload: bytes,
    *,
    imr: int = 3,
    digest: str = "",
    event_type: int = RT,
    version: int | None = None,
    preimage: str | None = None,
) -> EventLogEntry:
    data: dict[str, object] = {
        "imr": imr,
        "event_type": event_type,
        "digest": digest,
        "event": name,
        "event_payload": payload.hex(),
    }
    if version is not None:
        data["version"] = version
    if preimage is not None:
        data["preimage"] = preimage
    return EventLogEntry.model_validate(data)


def test_v1_digest_is_sha384_of_type_name_payload() -> None:
    # Independent statement of the spec: le32(0x08000001) ":" name ":" payload.
    manual = hashlib.sha384(b"\x01\x00\x00\x08:app-id:" + b"\xde\xad").digest()
    assert runtime_digest("app-id", b"\xde\xad") == manual


def test_v2_digest_is_sha384_of_canonical_json() -> None:
    canonical = b'{"name":"compose-hash","payload":"abcd","type":134217729}'
    assert runtime_digest("compose-hash", b"\xab\xcd", 2) == hashlib.sha384(canonical).digest()
    assert runtime_digest("compose-hash", b"\xab\xcd", 2) != runtime_digest(
        "compose-hash", b"\xab\xcd", 1
    )


def test_replay_extends_each_register_from_zero() -> None:
    boot = "11" * 48
    log = decode_event_log(
        [entry("", b"", imr=0, digest=boot, event_type=1), entry("app-id", b"\x01" * 20)]
    )
    rtmr0 = hashlib.sha384(bytes(48) + bytes.fromhex(boot)).digest()
    rtmr3 = hashlib.sha384(bytes(48) + runtime_digest("app-id", b"\x01" * 20)).digest()
    assert replay(log.events) == (rtmr0, bytes(48), bytes(48), rtmr3)


def test_replay_mixes_v1_and_v2_events() -> None:
    log = decode_event_log(
        [entry("app-id", b"\x01", version=1), entry("compose-hash", b"\x02", version=2)]
    )
    step = hashlib.sha384(bytes(48) + runtime_digest("app-id", b"\x01", 1)).digest()
    step = hashlib.sha384(step + runtime_digest("compose-hash", b"\x02", 2)).digest()
    assert replay(log.events)[3] == step


@pytest.mark.parametrize("name", ["kms-uptodate", "app-uptodate"])
def test_real_logs_replay_to_their_quotes(name: str) -> None:
    evidence = load_evidence(case(name).evidence)
    assert evidence.quote is not None
    log = decode_event_log(evidence.events)
    assert log.problems == ()
    assert replay(log.events) == parse_td_quote(evidence.quote).rtmr


def test_lite_log_with_empty_runtime_digests_replays_by_recomputation() -> None:
    # dstack 0.6 "lite": runtime digests are empty; they are recomputed, never padded.
    evidence = load_evidence((RAW_DIR / "dstack-verifier" / "tdx-lite-getquote.json").read_bytes())
    runtime = [e for e in evidence.events if e.event_type == RT]
    assert runtime and all(e.digest == "" for e in runtime)
    assert evidence.quote is not None
    log = decode_event_log(evidence.events)
    assert replay(log.events) == parse_td_quote(evidence.quote).rtmr


def test_runtime_digest_field_is_never_trusted() -> None:
    lie = "00" * 48
    log = decode_event_log([entry("app-id", b"\x01", digest=lie)])
    assert log.events[0].replay_digest == runtime_digest("app-id", b"\x01")


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"event_payload": "zz"}, "event_payload is not hex"),
        ({"digest": "abc"}, "digest is not hex"),
        ({"digest": "ab" * 32, "event_type": 1, "imr": 1}, "digest is 32 bytes"),
        ({"imr": 1}, "runtime event 'app-id' in RTMR1"),
        ({"imr": 7}, "imr 7 is not 0-3"),
        ({"version": 3}, "unknown event log version 3"),
        ({"preimage": "xyz"}, "preimage is not hex"),
        ({"event_type": 2**32}, "is not a u32"),
        ({"event": "\ud800"}, "not valid Unicode"),
        ({"event_type": RT + 1, "digest": "ab" * 48}, f"event_type {RT + 1} in RTMR3 is not"),
    ],
)
def test_malformed_events_are_reported_and_break_their_register(
    bad: dict[str, object], problem: str
) -> None:
    data: dict[str, object] = {
        "imr": 3,
        "event_type": RT,
        "digest": "",
        "event": "app-id",
        "event_payload": "01",
    }
    data.update(bad)
    log = decode_event_log([EventLogEntry.model_validate(data)])
    assert log.events == ()
    assert len(log.problems) == 1 and problem in log.problems[0]


def test_identity_comes_from_events_before_system_ready() -> None:
    log = decode_event_log(
        [entry("app-id", b"\x01" * 20), entry("system-ready", b""), entry("my-app-event", b"x")]
    )
    identity = runtime_identity(log.events)
    assert identity.get("app-id") == b"\x01" * 20
    assert identity.violations == ()


def test_duplicate_identity_event_is_a_violation() -> None:
    log = decode_event_log(
        [entry("compose-hash", b"\x01" * 32), entry("compose-hash", b"\x02" * 32)]
    )
    identity = runtime_identity(log.events)
    assert identity.get("compose-hash") == b"\x01" * 32
    assert "repeats" in identity.violations[0]


def test_identity_event_after_system_ready_is_never_identity() -> None:
    log = decode_event_log([entry("system-ready", b""), entry("app-id", b"\x09" * 20)])
    identity = runtime_identity(log.events)
    assert identity.get("app-id") is None
    assert "after system-ready" in identity.violations[0]


def test_identity_event_repeated_after_system_ready_is_named_as_after_ready() -> None:
    log = decode_event_log(
        [
            entry("compose-hash", b"\x01" * 32),
            entry("system-ready", b""),
            entry("compose-hash", b"\x02" * 32),
        ]
    )
    identity = runtime_identity(log.events)
    assert identity.get("compose-hash") == b"\x01" * 32
    assert identity.violations == ("identity event 'compose-hash' at event 2 after system-ready",)


def test_app_events_after_system_ready_from_a_real_log_are_fine() -> None:
    raw = json.loads((RAW_DIR / "dstack-verifier" / "quote-report.json").read_text())
    events = [EventLogEntry.model_validate(e) for e in json.loads(raw["event_log"])]
    identity = runtime_identity(decode_event_log(events).events)
    assert identity.violations == ()
    assert identity.get("app-id") is not None


def test_an_event_in_rtmr3_with_another_type_is_malformed() -> None:
    # Defect found by the tamper matrix: a runtime event whose type was changed was replayed with
    # the digest it carries and dropped from the identity, so its name and payload were unbound.
    # RTMR3 is dstack's and holds runtime events only.
    real = runtime_digest("compose-hash", b"\x01")
    log = decode_event_log([entry("compose-hash", b"\x02", digest=real.hex(), event_type=RT + 1)])
    assert log.events == () and log.broken_rtmrs == {3}
    assert "in RTMR3 is not a runtime event" in log.problems[0]
