"""``policy init``: the pinned policy passes its own evidence and fails every other case."""

from __future__ import annotations

import tomllib

import pytest

from tests.corpus import CASES, Case
from verifier import Report, verify
from verifier.policy_file import load_policy
from verifier.policy_init import PinRefused, pin_policy

PASSING = [c for c in CASES if c.expected["verdict"] == "pass"]


def _report(c: Case, policy_text: str | None = None) -> Report:
    kwargs = {}
    if policy_text is not None:
        kwargs["policy"] = load_policy(policy_text.encode(), source="pinned.toml")
    return verify(
        c.evidence,
        collateral=c.collateral,
        at=c.at,
        chain_pem=c.chain,
        compose=c.compose,
        **kwargs,  # type: ignore[arg-type]
    )


def _pinned(c: Case) -> str:
    return pin_policy(_report(c), evidence_label=c.evidence_path.name)


@pytest.mark.parametrize("source", PASSING, ids=[c.name for c in PASSING])
def test_the_pinned_policy_passes_its_evidence_and_fails_every_other_case(source: Case) -> None:
    text = _pinned(source)
    own = _report(source, text)
    assert own.passed, [f.id for f in own.failures()]
    assert own.finding("policy") is not None
    for other in CASES:
        if other.name == source.name:
            continue
        report = _report(other, text)
        assert not report.passed, other.name
        if other.expected["verdict"] == "pass":
            # Authentic evidence of another CVM (or platform state) fails a named policy rule.
            failed = {f.id for f in report.failures()}
            assert failed & {"policy.tcb", "policy.os", "policy.app", "policy.td"}, other.name


@pytest.mark.parametrize("source", PASSING, ids=[c.name for c in PASSING])
def test_the_pinned_values_are_the_corpus_values(source: Case) -> None:
    e = source.expected
    doc = tomllib.loads(_pinned(source))
    assert doc["version"] == 1
    assert doc["tcb"]["accept"] == [e["quote_status"]]
    (os_set,) = doc["os"]
    for field in ("mrtd", "rtmr0", "rtmr1", "rtmr2"):
        assert os_set[field] == e[field]
    assert os_set.get("os_image_hash") == e["os_image_hash"]
    if e["scope"] == "quote-only":
        assert "app" not in doc  # nothing measured to pin
    else:
        assert doc["app"]["compose_hash"] == e["compose_hash_event"]
        assert doc["app"]["app_id"] == e["app_id"]
        assert doc["app"]["key_provider"] == e["key_provider"]
        assert "instance_id" not in doc["app"]  # one instance: offered as a comment only
        assert doc["app"]["require_compose_text"] == (e["compose_hash_matches_event"] is True)
    if e["quote_status"] != "UpToDate":
        assert doc["tcb"]["accept_advisories"] == sorted(e["advisory_ids"])
    assert doc["certificates"]["require_report_data_binding"] == (
        e["report_data_binding"] == "ratls-cert"
    )


def test_each_pinned_value_says_where_it_came_from() -> None:
    app = next(c for c in PASSING if c.name == "app-uptodate")
    text = _pinned(app)
    assert "# the compose-hash event" in text
    assert "# the os-image-hash event of RTMR3" in text
    assert "MRTD and RTMR0-2 of the verified quote" in text
    assert app.expected["instance_id"] in text  # as a commented-out pin


@pytest.mark.parametrize(
    "failing", [c for c in CASES if c.expected["verdict"] == "fail"], ids=lambda c: c.name
)
def test_failing_evidence_is_never_pinned(failing: Case) -> None:
    with pytest.raises(PinRefused, match="refusing to pin"):
        _pinned(failing)
