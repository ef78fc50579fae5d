"""The tamper matrix: every field of every passing case, changed alone, must make the verdict fail.

Cases: the forged demo (under its test root) and every real corpus case whose verdict is pass,
each verified at its ``verify_at`` with its chain, compose and trust root. For each input the
matrix changes one thing to a different value of the same shape (``tests/mutations.py``):

- evidence: every JSON leaf (every leaf of embedded JSON strings too), each event's imr, type,
  name, payload and digest, the order of adjacent events;
- the quote: every header byte, the first and last byte of every TD report field (each 48-byte
  measurement), every type and size field, a spread of the signatures, the QE report, the
  certificates' base64, armor and line breaks, and the padding;
- the collateral: bytes of the CRLs and signatures, a sample of each issuer certificate's DER,
  leaves of the signed TCB info and QE identity;
- the PEM chain: a sample of each certificate's DER; the compose file: changed bytes and an added
  trailing newline.

A mutation is *refused* when the verdict is ``fail`` (a document that no longer parses gives
``evidence_parse``/``collateral_parse``: refused too). The few that cannot matter are listed in
:data:`ALLOWED`, each with why; anything else that passes is a defect of the verifier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.corpus import CASES, Case, forged
from tests.mutations import (
    Inputs,
    Mutation,
    changed_byte,
    compact,
    der_sample,
    json_mutations,
    pem_certificates,
    pem_with_der,
    quote_sample,
    scalar_mutations,
    spread,
    tally,
    with_inputs,
)

RUNTIME_EVENT_TYPE = 0x08000001

#: The demo under its test root, and the real corpus cases that pass.
MATRIX_CASES: list[Case] = [forged("demo")] + [c for c in CASES if c.expected["verdict"] == "pass"]


@dataclass(frozen=True)
class Allowed:
    """Mutations (``pattern`` matches ``case/mutation id``) that cannot change what is proven.

    ``example`` is one mutation the entry is there for: it must pass (the entry is needed)."""

    pattern: str
    reason: str
    example: str

    def matches(self, key: str) -> bool:
        return re.search(self.pattern, key) is not None


ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        r"/evidence:name: ",
        "the CVM's display name in the Phala Cloud API: chosen by its owner, not measured, not "
        "used and not reported",
        "demo/evidence:name: char changed",
    ),
    Allowed(
        r"/evidence:is_(online|public): ",
        "the API's status of the CVM when asked (running; listed publicly): not part of what the "
        "quote attests, not used and not reported",
        "app-uptodate/evidence:is_online: toggled",
    ),
    Allowed(
        r"/evidence:error: null->value",
        "the API's error message only explains a missing quote (quote_parse cites it); a quote "
        "that is there is verified all the same",
        "app-uptodate/evidence:error: null->value",
    ),
    Allowed(
        r"/event\[\d+\] boot RTMR[0-2] (event|event_payload|event_type): ",
        "a boot event (RTMR0-2) is replayed with the digest it carries, as TCG logs are (payloads "
        "may be stripped): its name, type and payload are not measured and the verifier reads "
        "nothing else of it (a type changed to the runtime type fails: those live in RTMR3). "
        "With an RA-TLS chain the leaf's event-log extension still catches the change",
        "kms-uptodate/event[0] boot RTMR0 event_payload: last hex digit",
    ),
    Allowed(
        r"/event\[\d+\] runtime [a-z-]+ digest: emptied",
        "an empty runtime digest is legal (dstack 0.6 lite logs): runtime digests are recomputed "
        "from name and payload for the replay, and a given one is only compared, never used",
        "kms-uptodate/event[22] runtime compose-hash digest: emptied",
    ),
    Allowed(
        r"/event order: .* \(different RTMRs\)",
        "each RTMR is its own hash chain: the order of the events of one register is measured, "
        "how the events of different registers interleave is not",
        "kms-uptodate/event order: [10] <-> [11] (different RTMRs)",
    ),
    Allowed(
        r"/evidence:vm_config(::|: )",
        "GetQuote's vm_config is the host's unsigned description of the VM and cannot be checked "
        "offline: the VM shape is measured into RTMR0, which only the OS image can recompute (the "
        "policy pins RTMR0 instead), and dstack 0.6 writes another os_image_hash there than its "
        "os-image-hash event (dstack-verifier's tdx-lite fixture). It is not used, not reported",
        "kms-uptodate/evidence:vm_config::cpu_count: +1",
    ),
    Allowed(
        r"/quote\[\d+\] pck\.(cert\d+\.line_break|after_pem)",
        "the PEM text around the PCK certificates' base64 (line breaks, the NUL terminator) is "
        "whitespace or explanatory text that PEM parsers skip (RFC 7468): the certificates' DER, "
        "which dcap-qvl verifies and issuer_chains compares, is unchanged",
        "plain-td/quote[4935] pck.after_pem",
    ),
)


# --- the mutations of one case --------------------------------------------------------------


@dataclass
class Document:
    """The evidence JSON of a case, with where its quote and event log are."""

    data: dict[str, Any]
    getquote: bool

    @classmethod
    def of(cls, inputs: Inputs) -> Document:
        data = json.loads(inputs.evidence)
        return cls(data, "quote" in data and "app_certificates" not in data)

    @property
    def quote_hex(self) -> str:
        if self.getquote:
            return str(self.data["quote"])
        return str(self.data["app_certificates"][0]["quote"])

    def with_quote(self, hex_text: str) -> bytes:
        if self.getquote:
            return _dump({**self.data, "quote": hex_text})
        certs = [dict(c) for c in self.data["app_certificates"]]
        certs[0]["quote"] = hex_text
        return _dump({**self.data, "app_certificates": certs})

    @property
    def events(self) -> list[dict[str, Any]]:
        if self.getquote:
            return list(json.loads(self.data["event_log"]))
        return list(self.data["tcb_info"]["event_log"])

    def with_events(self, events: list[dict[str, Any]]) -> bytes:
        if self.getquote:
            return _dump({**self.data, "event_log": compact(events)})
        return _dump({**self.data, "tcb_info": {**self.data["tcb_info"], "event_log": events}})

    def is_event_log(self, path: tuple[str | int, ...]) -> bool:
        return (
            path[:1] == ("event_log",) if self.getquote else path[:2] == ("tcb_info", "event_log")
        )

    def is_quote(self, path: tuple[str | int, ...]) -> bool:
        if self.getquote:
            return path == ("quote",)
        return path == ("app_certificates", 0, "quote")


def _dump(document: object) -> bytes:
    return json.dumps(document, indent=2).encode()


def evidence_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """Every JSON leaf of the evidence but the quote and the event log (their own generators)."""
    doc = Document.of(inputs)
    nulls = {"quote": doc.quote_hex}

    def skip(path: tuple[str | int, ...]) -> bool:
        return doc.is_quote(path) or doc.is_event_log(path)

    for description, changed in json_mutations(doc.data, skip=skip, null_values=nulls):
        yield Mutation(f"evidence:{description}", with_inputs(inputs, evidence=_dump(changed)))


def _event_label(index: int, event: dict[str, Any]) -> str:
    if event.get("event_type") == RUNTIME_EVENT_TYPE:
        return f"event[{index}] runtime {event.get('event')}"
    return f"event[{index}] boot RTMR{event.get('imr')}"


def event_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """Each event's imr, type, name, payload and digest; adjacent events swapped."""
    doc = Document.of(inputs)
    events = doc.events
    for index, event in enumerate(events):
        label = _event_label(index, event)
        for key in ("imr", "event_type", "event", "event_payload", "digest"):
            changes = scalar_mutations(key, event.get(key))[:1]
            if key == "digest" and event.get("digest"):
                changes.append(("emptied", ""))
            for how, value in changes:
                changed = [*events[:index], {**event, key: value}, *events[index + 1 :]]
                yield Mutation(
                    f"{label} {key}: {how}", with_inputs(inputs, evidence=doc.with_events(changed))
                )
    for index in range(len(events) - 1):
        first, second = events[index], events[index + 1]
        if first == second:
            continue
        swapped = [*events[:index], second, first, *events[index + 2 :]]
        same = "same RTMR" if first.get("imr") == second.get("imr") else "different RTMRs"
        yield Mutation(
            f"event order: [{index}] <-> [{index + 1}] ({same})",
            with_inputs(inputs, evidence=doc.with_events(swapped)),
        )
    if events:
        # the event log as a whole: not JSON any more
        text = compact(events)[:-1]
        data = {**doc.data}
        if doc.getquote:
            data["event_log"] = text
        else:
            data["tcb_info"] = {**data["tcb_info"], "event_log": text}
        yield Mutation("event log: text truncated", with_inputs(inputs, evidence=_dump(data)))


def quote_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """A sample of the quote's bytes across header, body, signature and certification data."""
    doc = Document.of(inputs)
    text = doc.quote_hex
    prefix = "0x" if text[:2] in ("0x", "0X") else ""
    quote = bytes.fromhex(text[len(prefix) :])
    for region, index in quote_sample(quote):
        changed = changed_byte(quote, index)
        yield Mutation(
            f"quote[{index}] {region}",
            with_inputs(inputs, evidence=doc.with_quote(prefix + changed.hex())),
        )


COLLATERAL_HEX = ("root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature")
COLLATERAL_PEM = ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain")
COLLATERAL_JSON = ("tcb_info", "qe_identity")


def collateral_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """CRL and signature bytes, issuer certificates' DER, TCB info and QE identity leaves."""
    collateral: dict[str, Any] = json.loads(inputs.collateral)

    def mutated(key: str, value: str) -> Inputs:
        return with_inputs(inputs, collateral=json.dumps({**collateral, key: value}).encode())

    for key in COLLATERAL_HEX:
        data = bytes.fromhex(collateral[key])
        for index in spread(0, len(data), 6):
            yield Mutation(
                f"collateral:{key}[{index}]", mutated(key, changed_byte(data, index).hex())
            )
    for key in COLLATERAL_PEM:
        pem = collateral[key].encode()
        for number, der in enumerate(pem_certificates(pem)):
            for index in der_sample(der, 6):
                changed = pem_with_der(
                    pem, number, der[:index] + bytes([der[index] ^ 1]) + der[index + 1 :]
                )
                yield Mutation(
                    f"collateral:{key} cert{number} DER[{index}]", mutated(key, changed.decode())
                )
    for key in COLLATERAL_JSON:
        for description, changed in json_mutations({key: collateral[key]}, sample=24):
            yield Mutation(f"collateral:{description}", mutated(key, changed[key]))


def chain_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """A sample of each PEM certificate's DER bytes."""
    if inputs.chain is None:
        return
    for number, der in enumerate(pem_certificates(inputs.chain)):
        for index in der_sample(der, 12):
            changed = der[:index] + bytes([der[index] ^ 1]) + der[index + 1 :]
            yield Mutation(
                f"chain: cert{number} DER[{index}]",
                with_inputs(inputs, chain=pem_with_der(inputs.chain, number, changed)),
            )


def compose_mutations(inputs: Inputs) -> Iterator[Mutation]:
    """One changed byte (first, middle, last) and an added trailing newline."""
    if inputs.compose is None:
        return
    compose = inputs.compose
    for index in spread(0, len(compose), 3):
        changed = compose[:index] + bytes([compose[index] ^ 1]) + compose[index + 1 :]
        yield Mutation(f"compose: byte {index}", with_inputs(inputs, compose=changed))
    yield Mutation("compose: trailing newline", with_inputs(inputs, compose=compose + b"\n"))


GENERATORS = {
    "evidence": evidence_mutations,
    "events": event_mutations,
    "quote": quote_mutations,
    "collateral": collateral_mutations,
    "chain": chain_mutations,
    "compose": compose_mutations,
}


# --- running the matrix ---------------------------------------------------------------------

TALLY = tally("tamper matrix")


def _allowed(key: str) -> Allowed | None:
    return next((entry for entry in ALLOWED if entry.matches(key)), None)


@pytest.mark.parametrize("kind", list(GENERATORS))
@pytest.mark.parametrize("case", MATRIX_CASES, ids=[c.name for c in MATRIX_CASES])
def test_every_mutation_is_refused(case: Case, kind: str) -> None:
    inputs = Inputs.of(case)
    assert inputs.verify().passed, "the matrix starts from passing evidence"
    passed: list[str] = []
    crashed: list[str] = []
    for mutation in GENERATORS[kind](inputs):
        assert mutation.inputs != inputs, f"{mutation.id} changed nothing"
        report = mutation.inputs.verify()
        TALLY.tried += 1
        key = f"{case.name}/{mutation.id}"
        # an exception inside a check fails closed, but it is a defect all the same
        crashed += [
            f"{key}: {f.id}: {f.reason}" for f in report.findings if "internal error" in f.reason
        ]
        if report.verdict.value == "fail":
            TALLY.refused += 1
        elif _allowed(key) is not None:
            TALLY.allowed += 1
        else:
            passed.append(key)
    assert not crashed, "checks crashed:\n" + "\n".join(crashed)
    assert not passed, f"{len(passed)} mutations still pass:\n" + "\n".join(passed)


@pytest.mark.parametrize("entry", ALLOWED, ids=[a.example for a in ALLOWED])
def test_every_allowance_is_needed(entry: Allowed) -> None:
    # Its example is a real mutation of the matrix, it matches, and it does pass.
    case_name, mutation_id = entry.example.split("/", 1)
    inputs = Inputs.of(next(c for c in MATRIX_CASES if c.name == case_name))
    found = [m for g in GENERATORS.values() for m in g(inputs) if m.id == mutation_id]
    assert len(found) == 1, mutation_id
    assert _allowed(entry.example) is entry
    assert found[0].inputs.verify().passed


def test_mutations_have_distinct_ids() -> None:
    inputs = Inputs.of(forged("demo"))
    ids = [m.id for g in GENERATORS.values() for m in g(inputs)]
    assert len(ids) == len(set(ids))
