"""Intel collateral for quote verification (``QuoteCollateralV3`` as dcap-qvl writes it as JSON).

Collateral is per FMSPC (platform family) and is valid for about 30 days. Parse it once and reuse
the :class:`Collateral` for every quote of that platform family.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import dcap_qvl
from cryptography import x509

from . import decoding
from .errors import InputError
from .issuer_chains import CollateralChains, summarize_collateral

#: dcap-qvl JSON fields; all are required.
_FIELDS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)


@dataclass(frozen=True)
class Collateral:
    """Parsed collateral, its SHA-256 and what its TCB info says (unverified until used)."""

    inner: dcap_qvl.QuoteCollateralV3
    sha256: str
    fmspc: str | None
    tcb_info_issue_date: str | None
    tcb_info_next_update: str | None

    @cached_property
    def issuer_chains(self) -> CollateralChains:
        """The issuer chains' signatures and roots (checked once per parsed collateral)."""
        return summarize_collateral(self.inner)

    @classmethod
    def from_json(cls, data: bytes | str) -> Collateral:
        """Parse dcap-qvl collateral JSON; :class:`InputError` names what is wrong."""
        try:
            raw = decoding.utf8(data)
            text = raw.decode("utf-8")
            document = decoding.json_loads(text)
        except ValueError:  # UnicodeDecodeError too
            raise InputError("collateral is not UTF-8 JSON") from None
        if not isinstance(document, dict):
            raise InputError("collateral is not a JSON object")
        for field in _FIELDS:
            if not isinstance(document.get(field), str):
                raise InputError("missing or not a string", location=field)
        try:
            inner = dcap_qvl.QuoteCollateralV3.from_json(text)
        except (ValueError, TypeError) as exc:
            raise InputError(f"dcap-qvl rejects the collateral: {_first_line(exc)}") from None
        fmspc = issue = next_update = None
        try:
            tcb_info = decoding.json_loads(document["tcb_info"])
        except ValueError as exc:
            raise InputError(str(exc), location="tcb_info") from None
        if isinstance(tcb_info, dict):
            fmspc = _str_or_none(tcb_info.get("fmspc"))
            issue = _str_or_none(tcb_info.get("issueDate"))
            next_update = _str_or_none(tcb_info.get("nextUpdate"))
        return cls(
            inner=inner,
            sha256=hashlib.sha256(raw).hexdigest(),
            fmspc=fmspc.upper() if fmspc else None,
            tcb_info_issue_date=issue,
            tcb_info_next_update=next_update,
        )


def validity_window(collateral: Collateral) -> tuple[datetime, datetime] | None:
    """When the collateral can verify anything: [latest issue date, earliest next update).

    Covers the TCB info and QE identity (``issueDate``/``nextUpdate``) and both CRLs
    (``thisUpdate``/``nextUpdate``). ``None`` when a date is missing or unreadable: such a
    collateral is not reusable (a cache refetches it). Pure: the caller compares with its time.
    """
    starts: list[datetime] = []
    ends: list[datetime] = []
    try:
        for text in (collateral.inner.tcb_info, collateral.inner.qe_identity):
            document = decoding.json_loads(text)
            body = document if isinstance(document, dict) else {}
            starts.append(_utc(datetime.fromisoformat(str(body["issueDate"]))))
            ends.append(_utc(datetime.fromisoformat(str(body["nextUpdate"]))))
        for der in (collateral.inner.pck_crl, collateral.inner.root_ca_crl):
            crl = x509.load_der_x509_crl(der)
            if crl.next_update_utc is None:
                return None
            starts.append(crl.last_update_utc)
            ends.append(crl.next_update_utc)
    except (KeyError, ValueError, TypeError):
        return None
    return max(starts), min(ends)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment.astimezone(UTC)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
