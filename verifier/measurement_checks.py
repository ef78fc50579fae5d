"""Checks of the TD's measurements: the event log against the quote, and the unsigned claims."""

from __future__ import annotations

from collections.abc import Sequence

from .eventlog import DecodedLog, Event, RuntimeIdentity, runtime_preimage
from .evidence import TcbClaims
from .findings import Finding
from .hexutil import strip_hex
from .quote import TdQuote


def check_event_log_parse(log: DecodedLog, total: int) -> Finding:
    """``event_log_parse``: every event is well-formed."""
    if log.problems:
        shown = "; ".join(log.problems[:3])
        more = f" (+{len(log.problems) - 3} more)" if len(log.problems) > 3 else ""
        return Finding.failed(
            "event_log_parse",
            f"{len(log.problems)} malformed events: {shown}{more}",
            expected=f"{total} well-formed events",
            actual=f"{total - len(log.problems)} well-formed",
        )
    return Finding.passed("event_log_parse", f"{total} events decoded", actual=str(total))


def check_event_digests(events: Sequence[Event]) -> Finding:
    """``event_digest``: a runtime event's given digest (and preimage) is what it must be."""
    checked = 0
    for event in events:
        if not event.is_runtime:
            continue
        if event.preimage is not None:
            expected_pre = runtime_preimage(event.name, event.payload, event.version)
            if event.preimage != expected_pre:
                return Finding.failed(
                    "event_digest",
                    f"event {event.index} ({event.name}): preimage is not the "
                    f"V{event.version} preimage of its name and payload",
                    expected=expected_pre.hex(),
                    actual=event.preimage.hex(),
                )
        if not event.given_digest:
            continue  # dstack 0.6 "lite" logs omit runtime digests: not a claim, not an error
        checked += 1
        if event.given_digest != event.replay_digest:
            return Finding.failed(
                "event_digest",
                f"event {event.index} ({event.name}): digest does not match its name and payload",
                expected=event.replay_digest.hex() if event.replay_digest else None,
                actual=event.given_digest.hex(),
            )
    return Finding.passed(
        "event_digest", f"{checked} runtime digests recomputed and equal", actual=str(checked)
    )


def check_replay(log: DecodedLog, quote: TdQuote) -> Finding:
    """``rtmr_replay``: the event log reproduces RTMR0-3 of the quote."""
    replayed = log.replayed
    wrong = [i for i in range(4) if replayed[i] != quote.rtmr[i] or i in log.broken_rtmrs]
    if wrong:
        names = ", ".join(f"RTMR{i}" for i in wrong)
        broken = [i for i in wrong if i in log.broken_rtmrs]
        why = f" ({', '.join(f'RTMR{i}' for i in broken)} has malformed events)" if broken else ""
        return Finding.failed(
            "rtmr_replay",
            f"replaying the event log does not give {names} of the quote{why}",
            expected=" ".join(f"rtmr{i}={quote.rtmr[i].hex()}" for i in wrong),
            actual=" ".join(f"rtmr{i}={replayed[i].hex()}" for i in wrong),
        )
    return Finding.passed(
        "rtmr_replay",
        f"{len(log.events)} events replay to RTMR0-3 of the quote",
        actual=f"rtmr3={replayed[3].hex()}",
    )


def check_claims(
    claims: TcbClaims | None, quote: TdQuote, rootfs_hash_event: bytes | None = None
) -> Finding:
    """``tcb_info_mismatch``: tcb_info's register claims equal the quote, and its ``rootfs_hash``
    claim (when given) equals the measured ``rootfs-hash`` event."""
    if claims is None:
        return Finding.skipped("tcb_info_mismatch", "the evidence makes no tcb_info claims")
    pairs = {
        "mrtd": (claims.mrtd, quote.mr_td),
        "rtmr0": (claims.rtmr0, quote.rtmr[0]),
        "rtmr1": (claims.rtmr1, quote.rtmr[1]),
        "rtmr2": (claims.rtmr2, quote.rtmr[2]),
        "rtmr3": (claims.rtmr3, quote.rtmr[3]),
    }
    wrong = {
        name: (strip_hex(claim), real.hex())
        for name, (claim, real) in pairs.items()
        if strip_hex(claim) != real.hex()
    }
    # rootfs_hash repeats the rootfs-hash event (older dstack); null or "" claims nothing.
    if claims.rootfs_hash:
        measured = rootfs_hash_event.hex() if rootfs_hash_event is not None else "none"
        if strip_hex(claims.rootfs_hash) != measured:
            wrong["rootfs_hash"] = (strip_hex(claims.rootfs_hash), measured)
    if wrong:
        return Finding.failed(
            "tcb_info_mismatch",
            f"tcb_info claims {', '.join(wrong)} the quote and event log do not have",
            expected=" ".join(f"{n}={real}" for n, (_, real) in wrong.items()),
            actual=" ".join(f"{n}={claim}" for n, (claim, _) in wrong.items()),
        )
    return Finding.passed("tcb_info_mismatch", "tcb_info mrtd and rtmr0-3 equal the quote")


def check_report_data_claim(claim: str, quote: TdQuote) -> Finding:
    """``report_data_mismatch``: GetQuote's ``report_data`` claim is the quote's report_data."""
    actual = strip_hex(claim)
    if actual != quote.report_data.hex():
        return Finding.failed(
            "report_data_mismatch",
            "the evidence's report_data is not the quote's",
            expected=quote.report_data.hex(),
            actual=actual,
        )
    return Finding.passed("report_data_mismatch", "report_data equals the quote's", actual=actual)


def check_identity_events(identity: RuntimeIdentity) -> Finding:
    """``duplicate_event``: identity events are unambiguous (once each, before system-ready)."""
    if identity.violations:
        return Finding.failed(
            "duplicate_event",
            "; ".join(identity.violations[:3]),
            expected="each identity event once, before system-ready",
            actual=f"{len(identity.violations)} violations",
        )
    return Finding.passed("duplicate_event", "identity events occur once, before system-ready")


def check_quote_body(quote: TdQuote) -> list[Finding]:
    """``td_debug`` and ``seam_signer`` from the TD report body."""
    findings = []
    if quote.debug:
        findings.append(
            Finding.failed(
                "td_debug",
                "the TD is a debug TD: the host can read its memory",
                expected="DEBUG bit clear",
                actual=quote.td_attributes.hex(),
            )
        )
    else:
        findings.append(
            Finding.passed("td_debug", "not a debug TD", actual=quote.td_attributes.hex())
        )
    if any(quote.mr_signer_seam):
        findings.append(
            Finding.failed(
                "seam_signer",
                "the TDX module is not signed by Intel (MRSIGNERSEAM is not zero)",
                expected="0" * 96,
                actual=quote.mr_signer_seam.hex(),
            )
        )
    else:
        findings.append(Finding.passed("seam_signer", "MRSIGNERSEAM is zero (Intel TDX module)"))
    return findings
