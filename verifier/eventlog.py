"""The dstack event log: decoding, runtime-event digests, RTMR replay and the app's identity.

Spec (dstack ``cc-eventlog``): every RTMR starts as 48 zero bytes and, in log order,
``rtmr[imr] = SHA384(rtmr[imr] || digest)``. Boot events of RTMR0-2 contribute the digest they
carry (their payloads may be stripped). dstack runtime events (``event_type`` 0x08000001, RTMR3
only, and RTMR3 holds nothing else) contribute a digest that is **recomputed** from name and
payload, never read:

- V1: ``SHA384(le32(0x08000001) || ":" || name || ":" || payload)``
- V2 (``version: 2``): ``SHA384(canonical JSON {"name", "payload": lowercase hex, "type"})``
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from .evidence.phala import EventLogEntry
from .hexutil import hex_bytes as _hex

RUNTIME_EVENT_TYPE = 0x08000001
RTMR_COUNT = 4
SHA384_SIZE = 48

#: Runtime events that say who the CVM is. Each must occur once, before ``system-ready``.
IDENTITY_EVENTS = frozenset(
    {
        "app-id",
        "compose-hash",
        "instance-id",
        "key-provider",
        "os-image-hash",
        "mr-kms",
        "rootfs-hash",
    }
)
SYSTEM_READY = "system-ready"
#: Events that must not repeat: identity events and the boundary itself.
SINGLETON_EVENTS = IDENTITY_EVENTS | {SYSTEM_READY}


@dataclass(frozen=True)
class Event:
    """A decoded event. ``replay_digest`` is what is extended into the RTMR (``None``: unusable)."""

    index: int
    imr: int
    event_type: int
    name: str
    payload: bytes
    given_digest: bytes
    version: int
    preimage: bytes | None
    replay_digest: bytes | None

    @property
    def is_runtime(self) -> bool:
        return self.event_type == RUNTIME_EVENT_TYPE


@dataclass(frozen=True)
class DecodedLog:
    """The events that could be decoded and a description of each one that could not."""

    events: tuple[Event, ...]
    problems: tuple[str, ...]
    #: RTMRs that cannot be replayed because one of their events is malformed
    broken_rtmrs: frozenset[int] = field(default_factory=frozenset)

    @cached_property
    def replayed(self) -> tuple[bytes, bytes, bytes, bytes]:
        """RTMR0-3 replayed from this log (computed once; :func:`replay`)."""
        return replay(self.events)


def runtime_preimage(name: str, payload: bytes, version: int) -> bytes:
    """The exact bytes whose SHA-384 is a dstack runtime event's digest."""
    if version == 2:
        canonical = json.dumps(
            {"name": name, "payload": payload.hex(), "type": RUNTIME_EVENT_TYPE},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return canonical.encode("utf-8")
    return RUNTIME_EVENT_TYPE.to_bytes(4, "little") + b":" + name.encode("utf-8") + b":" + payload


def runtime_digest(name: str, payload: bytes, version: int = 1) -> bytes:
    """SHA-384 digest of a dstack runtime event (V1 or V2)."""
    return hashlib.sha384(runtime_preimage(name, payload, version)).digest()


def decode_event_log(entries: Sequence[EventLogEntry]) -> DecodedLog:
    """Check each entry and compute the digest it contributes to the replay."""
    events: list[Event] = []
    problems: list[str] = []
    broken: set[int] = set()

    def bad(index: int, imr: int, what: str) -> None:
        problems.append(f"event {index}: {what}")
        if 0 <= imr < RTMR_COUNT:
            broken.add(imr)

    for index, entry in enumerate(entries):
        imr = entry.imr
        if not 0 <= imr < RTMR_COUNT:
            bad(index, imr, f"imr {imr} is not 0-3")
            continue
        if not 0 <= entry.event_type <= 0xFFFFFFFF:
            bad(index, imr, f"event_type {entry.event_type} is not a u32")
            continue
        payload = _hex(entry.event_payload)
        digest = _hex(entry.digest)
        if payload is None:
            bad(index, imr, "event_payload is not hex")
            continue
        if digest is None:
            bad(index, imr, "digest is not hex")
            continue
        try:
            entry.event.encode("utf-8")
        except UnicodeEncodeError:
            bad(index, imr, "event name is not valid Unicode")
            continue
        preimage = None
        if entry.preimage is not None:
            preimage = _hex(entry.preimage)
            if preimage is None:
                bad(index, imr, "preimage is not hex")
                continue
        version = 1 if entry.version is None else entry.version
        if imr == 3 and entry.event_type != RUNTIME_EVENT_TYPE:
            # RTMR3 is dstack's alone and holds runtime events only. Any other type would be
            # replayed with the digest it carries, leaving its name and payload unbound.
            bad(index, imr, f"event_type {entry.event_type} in RTMR3 is not a runtime event")
            continue
        if entry.event_type == RUNTIME_EVENT_TYPE:
            if imr != 3:
                bad(index, imr, f"runtime event '{entry.event}' in RTMR{imr}, not RTMR3")
                continue
            if version not in (1, 2):
                bad(index, imr, f"unknown event log version {version}")
                continue
            if digest and len(digest) != SHA384_SIZE:
                bad(index, imr, f"digest is {len(digest)} bytes, not {SHA384_SIZE}")
                continue
            replay = runtime_digest(entry.event, payload, version)
        else:
            if len(digest) != SHA384_SIZE:
                bad(index, imr, f"digest is {len(digest)} bytes, not {SHA384_SIZE}")
                continue
            replay = digest
        events.append(
            Event(
                index=index,
                imr=imr,
                event_type=entry.event_type,
                name=entry.event,
                payload=payload,
                given_digest=digest,
                version=version,
                preimage=preimage,
                replay_digest=replay,
            )
        )
    return DecodedLog(
        events=tuple(events), problems=tuple(problems), broken_rtmrs=frozenset(broken)
    )


def replay(events: Sequence[Event]) -> tuple[bytes, bytes, bytes, bytes]:
    """Replay RTMR0-3 from zero with each event's replay digest, in log order."""
    registers = [bytes(SHA384_SIZE)] * RTMR_COUNT
    for event in events:
        if event.replay_digest is not None:
            registers[event.imr] = hashlib.sha384(
                registers[event.imr] + event.replay_digest
            ).digest()
    return registers[0], registers[1], registers[2], registers[3]


@dataclass(frozen=True)
class RuntimeIdentity:
    """Identity payloads of RTMR3 (runtime events before ``system-ready``)."""

    values: dict[str, bytes]
    #: singleton events seen more than once, or identity events after system-ready
    violations: tuple[str, ...]
    #: names of the runtime events after ``system-ready`` (the application's), in log order
    after_ready: tuple[str, ...] = ()

    def get(self, name: str) -> bytes | None:
        return self.values.get(name)


def runtime_identity(events: Sequence[Event]) -> RuntimeIdentity:
    """Collect identity events; events after ``system-ready`` are the app's and never identity."""
    values: dict[str, bytes] = {}
    seen: dict[str, int] = {}
    violations: list[str] = []
    after_ready: list[str] = []
    ready = False
    for event in events:
        if not event.is_runtime:
            continue
        name = event.name
        if ready:
            after_ready.append(name)
        # After system-ready the app emits events: an identity name there is the app's claim,
        # reported as such even when the same event also occurred before (ATTESTATION-FACTS §4).
        if ready and name in IDENTITY_EVENTS:
            violations.append(f"identity event '{name}' at event {event.index} after system-ready")
            continue
        if name in SINGLETON_EVENTS:
            if name in seen:
                violations.append(f"'{name}' at event {event.index} repeats event {seen[name]}")
                continue
            seen[name] = event.index
        if name == SYSTEM_READY:
            ready = True
        elif name in IDENTITY_EVENTS:
            values[name] = event.payload
    return RuntimeIdentity(
        values=values, violations=tuple(violations), after_ready=tuple(after_ready)
    )
