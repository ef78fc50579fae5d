"""``policy init``: a policy file that pins exactly what a passing verification showed.

The pinned values come from the report of a verification under the baseline policy, i.e. from
the signed quote (measurements, TD fields, TCB status) and from RTMR3 events that replayed to it
(app id, compose hash, key provider, OS image hash). Each value carries a comment saying where it
came from, so a reviewer can tell what the policy trusts.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from tomlkit.items import Item, Table

from .errors import VerifierError
from .findings import Status
from .policy_file import POLICY_VERSION, load_policy
from .report import Report


class PinRefused(VerifierError):
    """The evidence does not pass verification: pinning it would codify a failure."""


def pin_policy(report: Report, *, evidence_label: str, name: str | None = None) -> str:
    """TOML text of a policy pinning ``report``'s values; raises :class:`PinRefused` if it fails."""
    if not report.passed:
        failing = ", ".join(f.id for f in report.failures())
        raise PinRefused(f"refusing to pin evidence that fails verification ({failing})")
    m, q, app = report.measurements, report.quote, report.app
    if q.status is None or m.mrtd is None:
        raise PinRefused("refusing to pin evidence whose quote did not verify")
    replayed = _status(report, "rtmr_replay") is Status.PASS

    doc = tomlkit.document()
    doc.add(tomlkit.comment("cvm-verifier policy, written by `cvm-verifier policy init` from"))
    doc.add(tomlkit.comment(f"  evidence {evidence_label} (sha256 {report.evidence.sha256})"))
    root = "Intel SGX Root CA" if q.trust_root.intel else f"TEST ROOT {q.trust_root.subject}"
    doc.add(tomlkit.comment(f"  verified at {report.verified_at} under {root}: verdict pass."))
    doc.add(
        tomlkit.comment("Review every value: this policy accepts exactly what that CVM showed.")
    )
    doc.add(tomlkit.nl())
    doc.add("version", POLICY_VERSION)
    doc.add("name", name or _default_name(report))

    tcb = tomlkit.table()
    tcb.add(tomlkit.comment("the TCB status dcap-qvl gave this quote with its collateral"))
    tcb.add("accept", [q.status])
    if q.status != "UpToDate":
        tcb.add(tomlkit.comment('add "UpToDate" to also accept the platform once it is patched'))
        tcb.add(tomlkit.comment("the advisories this platform is exposed to, accepted as seen"))
        tcb.add("accept_advisories", list(q.advisory_ids))
    doc.add("tcb", tcb)

    td = tomlkit.table()
    td.add(tomlkit.comment("from the verified quote's TD report"))
    td.add("xfam", [q.xfam])
    td.add("mr_seam", [q.mr_seam])
    doc.add("td", td)

    os_set = tomlkit.table()
    label = app.os_image_hash[:16] if app.os_image_hash and replayed else m.mrtd[:16]
    os_set.add("name", f"observed-{label}")
    os_set.add(
        tomlkit.comment("MRTD and RTMR0-2 of the verified quote: firmware, kernel, initrd, cmdline")
    )
    os_set.add(tomlkit.comment("and the VM shape (CPUs, memory, GPUs) all change them"))
    for field in ("mrtd", "rtmr0", "rtmr1", "rtmr2"):
        os_set.add(field, getattr(m, field))
    if app.os_image_hash is not None and replayed:
        os_set.add("os_image_hash", _noted(app.os_image_hash, "the os-image-hash event of RTMR3"))
    oses = tomlkit.aot()
    oses.append(os_set)
    doc.add("os", oses)

    if replayed and (app.compose_hash or app.app_id or app.instance_id):
        doc.add("app", _app_table(report))

    certificates = tomlkit.table()
    chain_ok = all(
        _status(report, i) is Status.PASS for i in ("cert_signature", "cert_extension_mismatch")
    )
    binding_ok = _status(report, "report_data_binding") is Status.PASS
    certificates.add(tomlkit.comment("what the RA-TLS chain proved in this verification"))
    certificates.add("require_chain", chain_ok)
    certificates.add("require_report_data_binding", binding_ok)
    doc.add("certificates", certificates)

    text = tomlkit.dumps(doc)
    # What we write must be a policy we can read, and one that accepts this very report.
    rejected = [
        f.id
        for f in load_policy(text.encode("utf-8"), source="policy init").validate(report)
        if f.status is Status.FAIL
    ]
    if rejected:
        raise VerifierError(f"internal error: the pinned policy rejects its evidence: {rejected}")
    return text


def _default_name(report: Report) -> str:
    if report.app.app_id and _status(report, "rtmr_replay") is Status.PASS:
        return f"app {report.app.app_id}"
    return f"td {report.measurements.mrtd[:16] if report.measurements.mrtd else 'unknown'}"


def _app_table(report: Report) -> Table:
    app = report.app
    table = tomlkit.table()
    table.add(tomlkit.comment("runtime events of RTMR3, replayed to the verified quote"))
    if app.compose_hash is not None:
        table.add(
            "compose_hash",
            _noted(app.compose_hash, "the compose-hash event: sha256 of the app compose"),
        )
    if app.app_id is not None:
        table.add("app_id", _noted(app.app_id, "the app-id event"))
    if app.key_provider is not None:
        provider: Any = tomlkit.inline_table()
        provider.update({"name": app.key_provider.name, "id": app.key_provider.id})
        provider.comment("the key-provider event")
        table.add("key_provider", provider)
    if app.instance_id is not None:
        table.add(tomlkit.comment("instance-id pins this one instance; uncomment to pin it:"))
        table.add(tomlkit.comment(f'instance_id = "{app.instance_id}"'))
    compose_checked = _status(report, "compose_hash") is Status.PASS
    table.add(
        "require_compose_text",
        _noted(compose_checked, None if compose_checked else "no compose text: not checked"),
    )
    if app.events_after_ready:
        observed = ", ".join(f'"{e}"' for e in dict.fromkeys(app.events_after_ready))
        table.add(tomlkit.comment(f"events the app emitted after system-ready: {observed}"))
        table.add(tomlkit.comment(f"allow_events_after_ready = [{observed}]"))
    return table


def _noted(value: str | bool, comment: str | None) -> Item:
    """A TOML value with a trailing comment saying where it came from."""
    item = tomlkit.item(value)
    if comment:
        item.comment(comment)
    return item


def _status(report: Report, finding_id: str) -> Status | None:
    found = report.finding(finding_id)
    return found.status if found is not None else None
