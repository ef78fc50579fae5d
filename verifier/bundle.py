"""Evidence bundles (``cvm-verifier.bundle/1``): what was fetched, frozen for offline verification.

A bundle is one JSON file holding the attestation exactly as the API served it, the Intel
collateral for its quote, optionally the RA-TLS PEM chain and the compose text, each as a text
*part* with the SHA-256 of its UTF-8 bytes, plus where it came from and when (``fetched_at``).
Anyone can verify it later, offline, bit for bit: ``sha256(bundle.evidence_bytes)`` is the SHA-256
of the response body the API sent.

This module is pure: it takes bytes and returns models, reads no clock and opens no connection
(the fetching lives in :mod:`verifier.fetch`). A bundle never carries a trust root: the root CA
comes only from the caller (fail closed).

Typical library use::

    bundle = load_bundle(Path("cvm.bundle.json").read_bytes())
    report = bundle.verify(at=bundle.fetched_at, policy=policy)
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from .collateral import Collateral
from .decoding import utf8_text
from .errors import InputError
from .evidence import Evidence, load_evidence, parse_model
from .jsonspan import loads_unique
from .policy import BASELINE, Policy
from .quote_verification import TrustRoot
from .report import Report
from .verification import verify

__all__ = [
    "BUNDLE_SCHEMA",
    "BUNDLE_SCHEMA_PREFIX",
    "MAX_BUNDLE_BYTES",
    "Bundle",
    "BundlePart",
    "BundleSource",
    "is_bundle",
    "load_bundle",
    "make_bundle",
]

BUNDLE_SCHEMA = "cvm-verifier.bundle/1"
#: what every version of the bundle schema starts with
BUNDLE_SCHEMA_PREFIX = "cvm-verifier.bundle/"

#: Upper bound on a bundle file (evidence ~100 KiB, collateral ~20 KiB, a chain a few KiB).
MAX_BUNDLE_BYTES = 64 * 1024 * 1024

_OWNED = ConfigDict(frozen=True, extra="forbid")
_SHA256 = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class BundlePart(BaseModel):
    """One frozen input: its exact text and the SHA-256 of that text's UTF-8 bytes."""

    model_config = _OWNED

    sha256: _SHA256
    text: StrictStr

    @classmethod
    def of(cls, data: bytes | str, *, what: str = "part") -> BundlePart:
        """A part holding ``data`` (UTF-8 bytes or text) with its digest."""
        if isinstance(data, str):
            raw = utf8_text(data, location=what)
            text = data
        else:
            raw = bytes(data)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8 (byte {exc.start})", location=what) from None
        return cls(sha256=hashlib.sha256(raw).hexdigest(), text=text)

    @property
    def data(self) -> bytes:
        """The exact bytes (UTF-8 of ``text``)."""
        return utf8_text(self.text, location="text")


class BundleSource(BaseModel):
    """Where the parts came from. Provenance only: nothing here is trusted by verification.

    ``api_url`` is the URL requested (never with a key: the key travels in a header).
    ``instance`` and ``response_sha256`` are set for an instance of the public app endpoint:
    the attestation part is then the exact text of ``instances[instance]`` within the response
    whose SHA-256 is ``response_sha256``.
    """

    model_config = _OWNED

    api_url: StrictStr | None = None
    api_version: StrictStr | None = None
    cvm_id: StrictStr | None = None
    app_id: StrictStr | None = None
    instance: StrictInt | None = Field(default=None, ge=0)
    instance_id: StrictStr | None = None
    response_sha256: _SHA256 | None = None
    request_id: StrictStr | None = None
    pccs_url: StrictStr | None = None


class Bundle(BaseModel):
    """A loaded bundle whose parts match their digests (see :func:`load_bundle`)."""

    model_config = _OWNED

    schema_: Literal["cvm-verifier.bundle/1"] = Field(
        default="cvm-verifier.bundle/1", alias="schema"
    )
    fetched_at: datetime
    source: BundleSource
    attestation: BundlePart
    collateral: BundlePart | None = None
    chain: BundlePart | None = None
    compose: BundlePart | None = None

    @field_validator("fetched_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        # Strict: a string with an explicit offset, never a number or a naive time.
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"not an RFC 3339 time: {value!r}") from None
        else:
            raise ValueError("must be an RFC 3339 time string")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("has no timezone")
        return moment.astimezone(UTC).replace(microsecond=0)

    # -- what verification needs ---------------------------------------------------------

    @property
    def evidence_bytes(self) -> bytes:
        """The attestation exactly as received (its SHA-256 is ``attestation.sha256``)."""
        return self.attestation.data

    @property
    def collateral_json(self) -> str | None:
        """The collateral (dcap-qvl ``QuoteCollateralV3`` JSON), or ``None`` if not fetched."""
        return self.collateral.text if self.collateral else None

    @property
    def chain_pem(self) -> bytes | None:
        return self.chain.data if self.chain else None

    @property
    def compose_bytes(self) -> bytes | None:
        return self.compose.data if self.compose else None

    def evidence(self) -> Evidence:
        """The parsed evidence; :class:`InputError` located in the bundle if malformed."""
        try:
            return load_evidence(self.evidence_bytes)
        except InputError as exc:
            raise exc.within("attestation.text") from None

    def parsed_collateral(self) -> Collateral | None:
        """The parsed collateral, or ``None`` when the bundle has none."""
        if self.collateral is None:
            return None
        try:
            return Collateral.from_json(self.collateral.text)
        except InputError as exc:
            raise exc.within("collateral.text") from None

    def verify(
        self,
        *,
        at: datetime,
        policy: Policy = BASELINE,
        trust_root: TrustRoot | None = None,
        collateral: Collateral | bytes | str | None = None,
    ) -> Report:
        """Verify the bundle at ``at`` (e.g. ``bundle.fetched_at``) with its own parts.

        ``collateral`` replaces the bundle's (required when it has none). The trust root is
        Intel's unless ``trust_root`` says otherwise: a bundle never chooses it.
        """
        chosen: Collateral | bytes | str | None = collateral
        if chosen is None:
            chosen = self.parsed_collateral()
        if chosen is None:
            raise InputError(
                "the bundle has no collateral (fetched with --no-collateral): give one",
                location="collateral",
            )
        return verify(
            self.evidence(),
            collateral=chosen,
            at=at,
            policy=policy,
            chain_pem=self.chain_pem,
            compose=self.compose_bytes,
            trust_root=trust_root,
        )

    def to_json(self) -> str:
        """The bundle file: canonical JSON (fixed key order, 2-space indent, ASCII)."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=False)
        document["fetched_at"] = self.fetched_at.strftime(_TIME_FORMAT)
        return json.dumps(document, indent=2) + "\n"


def is_bundle(data: bytes | str) -> bool:
    """True when ``data`` is a JSON object whose ``schema`` names a cvm-verifier bundle.

    Cheap detection for callers that accept either evidence or a bundle; any version counts, so
    that :func:`load_bundle` can refuse an unsupported one with a clear message.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(document, dict)
        and isinstance(document.get("schema"), str)
        and document["schema"].startswith(BUNDLE_SCHEMA_PREFIX)
    )


def load_bundle(data: bytes | str) -> Bundle:
    """Parse a bundle and check every part against its SHA-256.

    Raises :class:`InputError` (naming the JSON path) for anything but a well-formed
    ``cvm-verifier.bundle/1`` whose parts all match their digests.
    """
    raw = utf8_text(data, location="bundle") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte {exc.start})") from None
    document = loads_unique(text)
    if not isinstance(document, dict):
        raise InputError("a bundle is a JSON object")
    schema = document.get("schema")
    if schema != BUNDLE_SCHEMA:
        if isinstance(schema, str) and schema.startswith(BUNDLE_SCHEMA_PREFIX):
            raise InputError(
                f"unsupported bundle schema {schema!r} (this version reads {BUNDLE_SCHEMA!r})",
                location="schema",
            )
        raise InputError(
            f"not a cvm-verifier bundle (expected {BUNDLE_SCHEMA!r})", location="schema"
        )
    bundle = parse_model(Bundle, document)
    for name in ("attestation", "collateral", "chain", "compose"):
        part: BundlePart | None = getattr(bundle, name)
        if part is None:
            continue
        actual = hashlib.sha256(utf8_text(part.text, location=f"{name}.text")).hexdigest()
        if actual != part.sha256:
            raise InputError(
                f"does not match the part's text (sha256 {actual}): the bundle was altered",
                location=f"{name}.sha256",
            )
    return bundle


def make_bundle(
    attestation: bytes | str,
    *,
    fetched_at: datetime,
    source: BundleSource | None = None,
    collateral: bytes | str | None = None,
    chain: bytes | str | None = None,
    compose: bytes | str | None = None,
) -> Bundle:
    """Freeze the given parts into a :class:`Bundle` (digests computed here).

    ``fetched_at`` must be timezone-aware; it is kept to the second.
    """
    if fetched_at.tzinfo is None or fetched_at.utcoffset() is None:
        raise ValueError("fetched_at must be timezone-aware")
    return Bundle(
        fetched_at=fetched_at,
        source=source or BundleSource(),
        attestation=BundlePart.of(attestation, what="attestation"),
        collateral=None if collateral is None else BundlePart.of(collateral, what="collateral"),
        chain=None if chain is None else BundlePart.of(chain, what="chain"),
        compose=None if compose is None else BundlePart.of(compose, what="compose"),
    )
