"""The dstack CVM simulator: its digests against real dstack logs, its replay against the
verifier's, its RA-TLS binding, and its JSON against the real Phala Cloud shape."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.corpus import case
from verifier import Status, TrustRoot, load_evidence, verify
from verifier.certificates import OID_EVENT_LOG, dstack_extension
from verifier.eventlog import decode_event_log
from verifier.eventlog import replay as verifier_replay
from verifier.eventlog import runtime_digest as verifier_digest
from verifier.testing.forge import utc
from verifier.testing.simulator import (
    CvmOptions,
    Defects,
    LogEvent,
    SimulatedCvm,
    demo_compose,
    replay,
    runtime_digest,
    runtime_preimage,
    simulate,
)

AT = utc(2026)
DEMO = simulate()
REAL = case("app-uptodate")


def _verify(cvm: SimulatedCvm, *, getquote: bool = False) -> Any:
    evidence = cvm.getquote_json() if getquote else cvm.cvm_attestation_json()
    return verify(
        evidence,
        collateral=cvm.collateral.to_json(),
        at=AT,
        chain_pem=None if getquote else cvm.chain_pem(),
        compose=cvm.shown_compose if getquote else None,
        trust_root=TrustRoot.from_der(cvm.pki.root_der),
    )


def _failed(report: Any) -> set[str]:
    return {f.id for f in report.findings if f.status is Status.FAIL}


# --- digests and replay ---------------------------------------------------------------------


def test_v1_digests_equal_those_of_a_real_dstack_log() -> None:
    events = json.loads(REAL.evidence)["tcb_info"]["event_log"]
    runtime = [e for e in events if e["event_type"] == 0x08000001]
    assert len(runtime) == 9
    for event in runtime:
        payload = bytes.fromhex(event["event_payload"])
        assert runtime_digest(event["event"], payload).hex() == event["digest"], event["event"]


def test_replay_of_a_real_log_gives_the_real_quote_registers() -> None:
    events = json.loads(REAL.evidence)["tcb_info"]["event_log"]
    decoded = decode_event_log(load_evidence(REAL.evidence).events).events
    assert len(decoded) == len(events)
    log = tuple(
        LogEvent(
            e["imr"],
            e["event_type"],
            bytes.fromhex(e["digest"]),
            e["event"],
            bytes.fromhex(e["event_payload"]),
        )
        for e in events
    )
    registers = replay(log)
    assert [r.hex() for r in registers] == [REAL.expected[f"rtmr{i}"] for i in range(4)]


def test_v2_preimage_is_the_canonical_json() -> None:
    assert runtime_preimage("app-id", b"\xab\x01", 2) == (
        b'{"name":"app-id","payload":"ab01","type":134217729}'
    )
    for name, payload in (("compose-hash", b"\x00" * 32), ("x", b""), ("key-provider", b"{}")):
        for version in (1, 2):
            assert runtime_digest(name, payload, version) == verifier_digest(name, payload, version)


def test_simulated_log_replays_to_the_quote_by_both_implementations() -> None:
    registers = DEMO.td_report.rtmr
    assert replay(DEMO.event_log) == registers
    events = load_evidence(DEMO.cvm_attestation_json()).events
    assert verifier_replay(decode_event_log(events).events) == registers


def test_runtime_events_are_dstack_boot_order() -> None:
    names = [e.name for e in DEMO.event_log if e.is_runtime]
    assert names == [
        "system-preparing",
        "app-id",
        "compose-hash",
        "instance-id",
        "boot-mr-done",
        "os-image-hash",
        "key-provider",
        "storage-fs",
        "system-ready",
    ]
    assert all(e.imr == 3 for e in DEMO.event_log if e.is_runtime)
    assert {e.imr for e in DEMO.event_log if not e.is_runtime} == {0, 1, 2}


# --- bindings -------------------------------------------------------------------------------


def test_quote_binds_the_leaf_key_and_the_leaf_carries_the_quote() -> None:
    spki = DEMO.leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert DEMO.td_report.report_data == hashlib.sha512(b"ratls-cert:" + spki).digest()
    leaf = json.loads(DEMO.cvm_attestation_json())["app_certificates"][0]
    assert bytes.fromhex(leaf["quote"]) == DEMO.quote
    assert DEMO.quote[568:632] == DEMO.td_report.report_data


def test_mr_config_id_and_app_id_bind_the_compose() -> None:
    compose_hash = hashlib.sha256(DEMO.options.compose).digest()
    assert DEMO.td_report.mr_config_id == b"\x01" + compose_hash + bytes(15)
    assert DEMO.app_id == compose_hash[:20]


def test_key_provider_names_the_kms_root_key() -> None:
    payload = next(e.payload for e in DEMO.event_log if e.name == "key-provider")
    root = x509.load_pem_x509_certificates(DEMO.chain_pem().encode())[-1]
    spki = root.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert json.loads(payload) == {"name": "kms", "id": spki.hex()}
    assert payload == b'{"name":"kms","id":"' + spki.hex().encode() + b'"}'


# --- the JSON shapes ------------------------------------------------------------------------


def _key_paths(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        out = []
        for key, inner in value.items():
            out.append(f"{prefix}{key}")
            out += _key_paths(inner, f"{prefix}{key}.")
        return out
    if isinstance(value, list) and value:
        return _key_paths(value[0], f"{prefix}[].")
    return []


def test_cvm_attestation_has_the_real_shape_and_key_order() -> None:
    real = json.loads(REAL.evidence)
    forged = json.loads(DEMO.cvm_attestation_json())
    assert _key_paths(forged) == _key_paths(real)
    assert DEMO.cvm_attestation_json().startswith('{\n  "is_online": true,')
    assert DEMO.cvm_attestation_json().endswith("}\n")
    assert forged["tcb_info"]["app_compose"] == DEMO.options.compose.decode()
    assert forged["compose_file"] == forged["tcb_info"]["app_compose"]


def test_certificate_fields_are_parsed_from_the_real_certificates() -> None:
    chain = x509.load_pem_x509_certificates(DEMO.chain_pem().encode())
    described = json.loads(DEMO.cvm_attestation_json())["app_certificates"]
    assert [c["position_in_chain"] for c in described] == [0, 1, 2]
    for cert, entry in zip(chain, described, strict=True):
        der = cert.public_bytes(serialization.Encoding.DER)
        assert entry["fingerprint"] == hashlib.sha256(der).hexdigest()
        assert entry["serial_number"] == f"{cert.serial_number:x}"
        assert entry["not_before"] == "1975-01-01T00:00:00Z"
        assert entry["signature_algorithm"] == "ecdsa-with-SHA256"
        assert entry["version"] == "v3"
    assert [c["cert_usage"] for c in described] == ["app:custom", "app:ca", None]
    assert [c["is_ca"] for c in described] == [False, True, True]
    assert [c["subject"]["common_name"] for c in described] == [
        "demo-cert",
        "Dstack App CA",
        "Dstack KMS CA",
    ]
    assert described[0]["app_id"] == DEMO.app_id.hex()


def test_the_leaf_event_log_extension_is_the_compact_log() -> None:
    carried = dstack_extension(DEMO.leaf, OID_EVENT_LOG)
    assert carried == json.dumps(DEMO.event_log_json(), separators=(",", ":")).encode()


def test_getquote_json_is_dstack_shaped() -> None:
    document = json.loads(DEMO.getquote_json())
    assert list(document) == ["quote", "event_log", "report_data", "vm_config"]
    assert isinstance(document["event_log"], str)
    assert json.loads(document["event_log"]) == DEMO.event_log_json()
    assert document["report_data"] == DEMO.quote[568:632].hex()


# --- the simulated CVM through the verifier -------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        CvmOptions(),
        CvmOptions(event_log_version=2),
        CvmOptions(event_log_version=2, include_preimage=True),
        CvmOptions(app_events=(("my-app-event", b"hello"), ("another", b""))),
        CvmOptions(seed=b"another cvm", compose=demo_compose(name="other")),
    ],
    ids=["v1", "v2", "v2-preimages", "app-events", "other-seed"],
)
def test_authentic_simulations_pass(options: CvmOptions) -> None:
    cvm = simulate(options)
    for getquote in (False, True):
        report = _verify(cvm, getquote=getquote)
        assert _failed(report) == set(), report.failures()
        assert report.app.app_id == cvm.app_id.hex()
        assert report.app.compose_hash == cvm.compose_hash.hex()


def test_v2_events_say_version_2_and_carry_preimages_only_when_asked() -> None:
    plain = simulate(CvmOptions(event_log_version=2))
    runtime = [e for e in plain.event_log_json() if e["event_type"] == 0x08000001]
    assert all(e["version"] == 2 and "preimage" not in e for e in runtime)
    with_preimages = simulate(CvmOptions(event_log_version=2, include_preimage=True))
    for event in with_preimages.event_log:
        if event.is_runtime:
            assert event.preimage is not None
            assert hashlib.sha384(event.preimage).digest() == event.digest


def test_another_seed_is_another_cvm() -> None:
    other = simulate(CvmOptions(seed=b"another cvm"))
    assert other.leaf_key.private_numbers() != DEMO.leaf_key.private_numbers()
    assert other.instance_id != DEMO.instance_id
    assert other.pki.root_der == DEMO.pki.root_der  # same platform, same test root


def test_simulation_is_deterministic() -> None:
    again = simulate()
    assert again.cvm_attestation_json() == DEMO.cvm_attestation_json()
    assert again.chain_pem() == DEMO.chain_pem()
    assert again.getquote_json() == DEMO.getquote_json()


@pytest.mark.parametrize(
    ("defects", "finding"),
    [
        (Defects(debug_td=True), "td_debug"),
        (Defects(rtmr3_lie=True), "rtmr_replay"),
        (Defects(compose_lie=demo_compose(image_tag="9")), "compose_hash"),
        (Defects(duplicate_identity_event=True), "duplicate_event"),
        (Defects(identity_after_ready=True), "duplicate_event"),
        (Defects(report_data_unbound=True), "report_data_binding"),
        (Defects(foreign_app_ca=True), "cert_signature"),
        (Defects(tcb_info_claims_mismatch=True), "tcb_info_mismatch"),
    ],
)
def test_each_defect_is_the_one_failure(defects: Defects, finding: str) -> None:
    report = _verify(simulate(CvmOptions(defects=defects)))
    assert _failed(report) == {finding}


def test_v2_preimage_mismatch_needs_v2_preimages() -> None:
    with pytest.raises(ValueError, match="needs event_log_version=2"):
        simulate(CvmOptions(defects=Defects(v2_preimage_mismatch=True)))
    with pytest.raises(ValueError, match="1 or 2"):
        simulate(CvmOptions(event_log_version=3))
    bad = simulate(
        CvmOptions(
            event_log_version=2, include_preimage=True, defects=Defects(v2_preimage_mismatch=True)
        )
    )
    assert _failed(_verify(bad)) == {"event_digest"}


def test_log_defects_are_in_the_certificate_too() -> None:
    # The CVM itself reports the lie: the leaf's event-log extension is the reported log.
    lying = simulate(replace(CvmOptions(), defects=Defects(rtmr3_lie=True)))
    report = _verify(lying)
    extension = report.finding("cert_extension_mismatch")
    assert extension is not None and extension.status is Status.PASS
    assert replay(lying.event_log)[3] != lying.td_report.rtmr[3]
    assert replay(lying.measured_events) == lying.td_report.rtmr
