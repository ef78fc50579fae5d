"""Policy files: each rule passes and fails real corpus cases for the right reason; bad files.

Expected values come from the corpus's expected.json (computed by the corpus builder, not by this
code); policies are written here by hand as a user would.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from tests.corpus import CASES, Case, case
from verifier import Report, Status, verify
from verifier.errors import InputError
from verifier.policy_file import FilePolicy, load_policy

KMS = case("kms-uptodate")
KMS_OLD = case("kms-outofdate")
APP = case("app-uptodate")
PLAIN = case("plain-td")


def _verify(c: Case, policy_text: str, *, chain: bool = True) -> Report:
    return verify(
        c.evidence,
        collateral=c.collateral,
        at=c.at,
        chain_pem=c.chain if chain else None,
        compose=c.compose,
        policy=load_policy(policy_text.encode(), source="test.toml"),
    )


def _status(report: Report, finding_id: str) -> Status | None:
    found = report.finding(finding_id)
    return found.status if found is not None else None


def _os_block(e: dict[str, Any], *, name: str = "observed", **override: str) -> str:
    values = {k: e[k] for k in ("mrtd", "rtmr0", "rtmr1", "rtmr2")} | override
    lines = [f'name = "{name}"'] + [f'{k} = "{v}"' for k, v in values.items()]
    return "[[os]]\n" + "\n".join(lines) + "\n"


def _kms_policy(**app: str) -> str:
    e = KMS.expected
    app_lines = {
        "compose_hash": f'"{e["compose_hash_event"]}"',
        "key_provider": f'{{ name = "local-sgx", id = "{e["key_provider"]["id"]}" }}',
    } | app
    body = "\n".join(f"{k} = {v}" for k, v in app_lines.items())
    return f"version = 1\n{_os_block(e)}\n[app]\n{body}\n"


# --- rules against the real corpus ---------------------------------------------------------


def test_a_policy_pinning_the_kms_passes_it_with_every_rule_named() -> None:
    report = _verify(KMS, _kms_policy())
    assert report.passed
    assert _status(report, "policy") is Status.PASS
    for rule in ("policy.tcb", "policy.os", "policy.app"):
        assert _status(report, rule) is Status.PASS, rule
    # Rules the policy does not configure are listed as skipped, never silently absent.
    assert _status(report, "policy.td") is Status.SKIP
    assert _status(report, "policy.certificates") is Status.SKIP


def test_the_default_tcb_rule_accepts_only_uptodate() -> None:
    report = _verify(KMS_OLD, _kms_policy())
    assert not report.passed
    finding = report.finding("policy.tcb")
    assert finding is not None and finding.status is Status.FAIL
    assert "OutOfDate" in finding.reason
    assert finding.actual is not None and "INTEL-SA-01036" in finding.actual


def test_accepting_outofdate_with_every_advisory_passes_and_missing_one_fails() -> None:
    advisories = KMS_OLD.expected["advisory_ids"]
    tcb = f'[tcb]\naccept = ["UpToDate", "OutOfDate"]\naccept_advisories = {advisories!r}\n'
    report = _verify(KMS_OLD, _kms_policy() + tcb.replace("'", '"'))
    assert report.passed
    tcb_short = tcb.replace(f'"{advisories[0]}", ', "").replace(f"'{advisories[0]}', ", "")
    report = _verify(KMS_OLD, _kms_policy() + tcb_short.replace("'", '"'))
    finding = report.finding("policy.tcb")
    assert finding is not None and finding.status is Status.FAIL
    assert advisories[0] in finding.reason


def test_a_rejected_advisory_fails_even_when_the_status_is_accepted() -> None:
    tcb = '[tcb]\naccept = ["OutOfDate"]\nreject_advisories = ["INTEL-SA-01111"]\n'
    report = _verify(KMS_OLD, _kms_policy() + tcb)
    finding = report.finding("policy.tcb")
    assert finding is not None and finding.status is Status.FAIL
    assert "INTEL-SA-01111" in finding.reason


def test_the_grace_rule_uses_the_tcb_levels_date() -> None:
    # The matched TCB level of this platform dates from 2024-03-13; verified at 2026-03-01.
    too_old = _verify(
        KMS_OLD, _kms_policy() + '[tcb]\naccept = ["OutOfDate"]\nmax_tcb_date_age = "365d"\n'
    )
    assert _status(too_old, "policy.tcb") is Status.FAIL
    assert too_old.quote.tcb_date == "2024-03-13T00:00:00Z"
    within = _verify(
        KMS_OLD, _kms_policy() + '[tcb]\naccept = ["OutOfDate"]\nmax_tcb_date_age = "800d"\n'
    )
    assert _status(within, "policy.tcb") is Status.PASS


def test_warn_mode_turns_a_failing_rule_into_a_warning() -> None:
    report = _verify(KMS_OLD, _kms_policy() + '[tcb]\nmode = "warn"\n')
    finding = report.finding("policy.tcb")
    assert finding is not None and finding.status is Status.WARN
    assert "warn mode" in finding.reason
    assert report.passed


def test_another_compose_hash_fails_the_app_rule() -> None:
    report = _verify(KMS, _kms_policy(compose_hash='"' + "00" * 32 + '"'))
    finding = report.finding("policy.app")
    assert finding is not None and finding.status is Status.FAIL
    assert "compose_hash" in finding.reason


def test_another_key_provider_fails_the_app_rule() -> None:
    report = _verify(KMS, _kms_policy(key_provider='{ name = "kms", id = "abcd" }'))
    finding = report.finding("policy.app")
    assert finding is not None and finding.status is Status.FAIL
    assert "key provider" in finding.reason


def test_one_of_several_pinned_values_is_enough() -> None:
    pins = f'["{"11" * 32}", "{KMS.expected["compose_hash_event"]}"]'
    assert _verify(KMS, _kms_policy(compose_hash=pins)).passed


def test_a_different_rtmr0_is_a_different_os_even_with_the_same_mrtd() -> None:
    e = KMS.expected
    policy = _kms_policy().replace(e["rtmr0"], "00" * 48)
    finding = _verify(KMS, policy).finding("policy.os")
    assert finding is not None and finding.status is Status.FAIL
    assert "rtmr0" in finding.reason and "mrtd" not in finding.reason


def test_the_os_rule_matches_any_one_named_set_entirely() -> None:
    e = KMS.expected
    other = _os_block(e, name="other-vm-shape", rtmr0="11" * 48)
    report = _verify(KMS, "version = 1\n" + other + _kms_policy().removeprefix("version = 1\n"))
    finding = report.finding("policy.os")
    assert finding is not None and finding.status is Status.PASS
    assert "'observed'" in finding.reason


def test_an_os_image_hash_pin_is_checked_against_rtmr3() -> None:
    e = APP.expected
    wrong = _os_block(e, os_image_hash="22" * 32)
    report = _verify(APP, f"version = 1\n{wrong}")
    finding = report.finding("policy.os")
    assert finding is not None and finding.status is Status.FAIL
    assert "os_image_hash" in finding.reason
    right = _os_block(e, os_image_hash=e["os_image_hash"])
    assert _status(_verify(APP, f"version = 1\n{right}"), "policy.os") is Status.PASS


def test_app_values_are_not_trusted_when_the_log_does_not_replay() -> None:
    tampered = case("event-payload-tampered")
    e = tampered.expected
    policy = f'version = 1\n[app]\napp_id = "{e["app_id"]}"\nrequire_compose_text = false\n'
    finding = _verify(tampered, policy).finding("policy.app")
    assert finding is not None and finding.status is Status.FAIL
    assert "not proven" in finding.reason


def test_td_allow_lists() -> None:
    xfam = _verify(KMS, _kms_policy() + '[td]\nxfam = ["0000000000000000"]\n')
    finding = xfam.finding("policy.td")
    assert finding is not None and finding.status is Status.FAIL and "xfam" in finding.reason
    seam = _verify(KMS, _kms_policy() + f'[td]\nmr_seam = ["{"ab" * 48}"]\n')
    assert _status(seam, "policy.td") is Status.FAIL
    same = _verify(KMS, _kms_policy() + f'[td]\nxfam = ["{xfam.quote.xfam}"]\n')
    assert _status(same, "policy.td") is Status.PASS


def test_require_compose_text_fails_without_a_compose() -> None:
    e = APP.expected
    policy = f'version = 1\n[app]\napp_id = "{e["app_id"]}"\n'  # require_compose_text defaults on
    finding = _verify(APP, policy).finding("policy.app")
    assert finding is not None and finding.status is Status.FAIL
    assert "compose text required" in finding.reason


def test_certificate_requirements() -> None:
    e = APP.expected
    base = f'version = 1\n[app]\napp_id = "{e["app_id"]}"\nrequire_compose_text = false\n'
    rule = "[certificates]\nrequire_chain = true\nrequire_report_data_binding = true\n"
    assert _status(_verify(APP, base + rule), "policy.certificates") is Status.PASS
    without_chain = _verify(APP, base + rule, chain=False)
    finding = without_chain.finding("policy.certificates")
    assert finding is not None and finding.status is Status.FAIL
    assert "cert_signature" in finding.reason
    # GetQuote evidence carries no certificate at all.
    kms = _verify(KMS, _kms_policy() + "[certificates]\nrequire_chain = true\n")
    assert _status(kms, "policy.certificates") is Status.FAIL


def test_events_after_system_ready_can_be_restricted() -> None:
    policy = load_policy(
        (_kms_policy() + 'allow_events_after_ready = ["app-started"]\n').encode(), source="t"
    )
    report = verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    with_events = report.model_copy(
        update={"app": report.app.model_copy(update={"events_after_ready": ("unexpected",)})}
    )
    app_rule = next(f for f in policy.validate(with_events) if f.id == "policy.app")
    assert app_rule.status is Status.FAIL and "unexpected" in app_rule.reason
    allowed = report.model_copy(
        update={"app": report.app.model_copy(update={"events_after_ready": ("app-started",)})}
    )
    assert next(f for f in policy.validate(allowed) if f.id == "policy.app").status is Status.PASS


STRICT = 'version = 1\nunpinned = true\n[tcb]\naccept = ["UpToDate"]\n[app]\n'
#: The corpus's strict-policy warnings, and the rule of ours that turns each into a failure.
STRICT_RULE = {
    "tcb_status": "policy.tcb",
    "compose_not_available": "policy.app",
    "quote_only": "policy.app",
}


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_a_fail_closed_policy_gives_the_corpus_strict_verdict(c: Case) -> None:
    report = _verify(c, STRICT)
    assert report.verdict.value == c.expected["verdict_strict"]
    for reason in c.expected["strict_extra_reasons"]:
        assert _status(report, STRICT_RULE[reason]) is Status.FAIL, reason
    unpinned = report.finding("policy")
    assert unpinned is not None and unpinned.status is Status.WARN


# --- loading -------------------------------------------------------------------------------


def test_values_are_normalised_on_load() -> None:
    e = KMS.expected
    text = _kms_policy().replace(f'"{e["mrtd"]}"', f'"0x{e["mrtd"].upper()}"')
    policy = load_policy(text.encode(), source="t.toml")
    assert policy.document.os[0].mrtd == e["mrtd"]
    assert policy.document.app is not None
    assert policy.document.app.compose_hash == (e["compose_hash_event"],)
    assert _verify(KMS, text).passed


def test_a_policy_pickles_for_worker_processes() -> None:
    policy = load_policy(_kms_policy().encode(), source="t.toml")
    clone = pickle.loads(pickle.dumps(policy))
    assert isinstance(clone, FilePolicy) and clone == policy


def test_the_policy_digest_is_recorded_in_the_report() -> None:
    import hashlib

    text = _kms_policy()
    report = _verify(KMS, text)
    assert report.policy.sha256 == hashlib.sha256(text.encode()).hexdigest()


OS = _os_block(KMS.expected)

MALFORMED = {
    "not-utf8": (b"version = 1\n\xff\n", "t.toml", "not UTF-8"),
    "not-toml": (b"version = 1\n[app\n", "t.toml:2", "not TOML"),
    "no-version": (OS.encode(), "t.toml:1", "missing 'version = 1'"),
    "wrong-version": (b"version = 2\n" + OS.encode(), "t.toml:1", "version 2 is not supported"),
    "unknown-top-key": (
        b"version = 1\nbogus = 1\n" + OS.encode(),
        "t.toml:2",
        "bogus: unknown key",
    ),
    "unknown-table-key": (
        f"version = 1\n{OS}\n[app]\ncompose = 'x'\n".encode(),
        "t.toml:10",
        "app.compose: unknown key",
    ),
    "bad-hex": (
        f"version = 1\n{OS}\n[app]\napp_id = 'zz'\n".encode(),
        "t.toml:10",
        "app.app_id[0]: not an even number of hex digits",
    ),
    "wrong-length": (
        ("version = 1\n" + OS.replace(KMS.expected["rtmr1"], "ab" * 47)).encode(),
        "t.toml:6",
        "os[0].rtmr1: expected 48 bytes (96 hex digits), got 47",
    ),
    "bad-status": (
        f"version = 1\n{OS}[tcb]\naccept = ['Uptodate']\n".encode(),
        "t.toml:9",
        "unknown TCB status 'Uptodate'",
    ),
    "revoked-accepted": (
        f"version = 1\n{OS}[tcb]\naccept = ['Revoked']\n".encode(),
        "t.toml:9",
        "Revoked can never be accepted",
    ),
    "bad-advisory": (
        f"version = 1\n{OS}[tcb]\nreject_advisories = ['SA-1']\n".encode(),
        "t.toml:9",
        "not an Intel advisory id",
    ),
    "bad-age": (
        f"version = 1\n{OS}[tcb]\nmax_tcb_date_age = '3 months'\n".encode(),
        "t.toml:9",
        "not an age in days",
    ),
    "empty-list": (
        f"version = 1\n{OS}[td]\nxfam = []\n".encode(),
        "t.toml:9",
        "an empty list accepts nothing",
    ),
    "wrong-type": (
        f"version = 1\n{OS}[certificates]\nrequire_chain = 'yes'\n".encode(),
        "t.toml:9",
        "must be true or false",
    ),
    "bad-mode": (
        f"version = 1\n{OS}[tcb]\nmode = 'audit'\n".encode(),
        "t.toml:9",
        "tcb.mode",
    ),
    "bad-key-provider": (
        f"version = 1\n{OS}[app]\nkey_provider = {{ name = 'vault', id = 'ab' }}\n".encode(),
        "t.toml:9",
        "app.key_provider[0].name",
    ),
    "pins-nothing": (b"version = 1\n[tcb]\naccept = ['UpToDate']\n", "t.toml", "pins no OS"),
    "unpinned-but-pins": (f"version = 1\nunpinned = true\n{OS}".encode(), "t.toml", "unpinned"),
    "duplicate-os-names": (f"version = 1\n{OS}{OS}".encode(), "t.toml", "same name"),
    "mixed-os-modes": (
        f"version = 1\n{OS}{OS.replace('observed', 'b')}mode = 'warn'\n".encode(),
        "t.toml",
        "mode must be the same",
    ),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_policy_is_one_clear_error_naming_key_and_line(kind: str) -> None:
    data, location, message = MALFORMED[kind]
    with pytest.raises(InputError) as raised:
        load_policy(data, source="t.toml")
    assert raised.value.location == location
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
