"""Evidence bundles: round trip, digests, strictness, and verification equal to the files'."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus import CASES, REPO, Case, case, forged
from tests.shapes import app_instance
from verifier import InputError, TrustRoot, verify
from verifier.bundle import (
    BUNDLE_SCHEMA,
    Bundle,
    BundleSource,
    is_bundle,
    load_bundle,
    make_bundle,
)

APP = case("app-uptodate")
KMS = case("kms-uptodate")


def _bundle(c: Case = APP, **overrides: Any) -> Bundle:
    parts: dict[str, Any] = {
        "collateral": c.collateral,
        "chain": c.chain,
        "compose": c.compose,
    }
    parts.update(overrides)
    return make_bundle(
        c.evidence,
        fetched_at=c.at,
        source=BundleSource(api_url="https://api.example/cvms/x/attestation", cvm_id="x"),
        **parts,
    )


def _document(bundle: Bundle) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(bundle.to_json())
    return document


def _load_error(document: object) -> InputError:
    with pytest.raises(InputError) as info:
        load_bundle(json.dumps(document).encode())
    return info.value


# --- the format -----------------------------------------------------------------------------


def test_round_trip_is_exact_and_parts_keep_their_bytes() -> None:
    bundle = _bundle()
    text = bundle.to_json()
    loaded = load_bundle(text.encode())
    assert loaded == bundle
    assert loaded.to_json() == text
    assert loaded.evidence_bytes == APP.evidence
    assert loaded.collateral_json is not None
    assert loaded.collateral_json.encode() == APP.collateral
    assert loaded.chain_pem == APP.chain
    assert loaded.compose_bytes is None
    assert loaded.fetched_at == APP.at


def test_the_file_layout_is_the_documented_one() -> None:
    document = _document(_bundle(KMS))
    assert list(document) == [
        "schema",
        "fetched_at",
        "source",
        "attestation",
        "collateral",
        "chain",
        "compose",
    ]
    assert document["schema"] == "cvm-verifier.bundle/1"
    assert document["fetched_at"] == KMS.expected["verify_at"]
    assert document["attestation"] == {
        "sha256": hashlib.sha256(KMS.evidence).hexdigest(),
        "text": KMS.evidence.decode(),
    }
    assert document["chain"] is None
    assert document["compose"]["sha256"] == hashlib.sha256(KMS.compose or b"").hexdigest()


def test_the_evidence_digest_is_the_served_files() -> None:
    # The report's evidence sha256 is the same whether the file or its bundle is verified.
    assert _bundle().evidence().sha256 == hashlib.sha256(APP.evidence).hexdigest()


def test_is_bundle_tells_bundles_from_evidence() -> None:
    assert is_bundle(_bundle().to_json())
    assert is_bundle(b'{"schema": "cvm-verifier.bundle/9"}')
    assert not is_bundle(APP.evidence)
    assert not is_bundle(b"not json")
    assert not is_bundle(b'["cvm-verifier.bundle/1"]')


def test_make_bundle_refuses_a_naive_time_and_non_utf8() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_bundle(APP.evidence, fetched_at=datetime(2025, 9, 15))
    with pytest.raises(InputError, match="not UTF-8"):
        make_bundle(b"\xff", fetched_at=APP.at)


def test_fetched_at_is_kept_to_the_second_in_utc() -> None:
    bundle = make_bundle(APP.evidence, fetched_at=datetime(2025, 9, 15, 1, 2, 3, 999, tzinfo=UTC))
    assert _document(bundle)["fetched_at"] == "2025-09-15T01:02:03Z"
    document = _document(bundle)
    document["fetched_at"] = "2025-09-15T03:02:03+02:00"
    assert load_bundle(json.dumps(document)).fetched_at == datetime(
        2025, 9, 15, 1, 2, 3, tzinfo=UTC
    )


# --- what load_bundle refuses ---------------------------------------------------------------


@pytest.mark.parametrize("part", ["attestation", "collateral", "chain"])
def test_a_part_that_does_not_match_its_digest_is_refused(part: str) -> None:
    document = _document(_bundle())
    document[part]["text"] = document[part]["text"].replace("a", "b", 1)
    error = _load_error(document)
    assert error.location == f"{part}.sha256"
    assert "altered" in error.message


def test_a_digest_that_is_not_lowercase_sha256_hex_is_refused() -> None:
    document = _document(_bundle())
    document["attestation"]["sha256"] = document["attestation"]["sha256"].upper()
    assert _load_error(document).location == "attestation.sha256"


def test_a_bundle_never_carries_a_trust_root() -> None:
    document = _document(_bundle())
    document["trust_root"] = "30820101"
    error = _load_error(document)
    assert error.location == "trust_root"
    assert "Extra inputs are not permitted" in error.message


@pytest.mark.parametrize(
    ("mutate", "location"),
    [
        (lambda d: d.pop("attestation"), "attestation"),
        (lambda d: d.pop("fetched_at"), "fetched_at"),
        (lambda d: d.update(fetched_at="2025-09-15T00:00:00"), "fetched_at"),
        (lambda d: d.update(fetched_at=1757894400), "fetched_at"),
        (lambda d: d.update(fetched_at="yesterday"), "fetched_at"),
        (lambda d: d["source"].update(api_key="secret"), "source.api_key"),
        (lambda d: d["source"].update(instance=-1), "source.instance"),
        (lambda d: d["attestation"].update(text=42), "attestation.text"),
        (lambda d: d.update(schema="cvm-verifier.bundle/2"), "schema"),
        (lambda d: d.update(schema="cvm-verifier.report/1"), "schema"),
        (lambda d: d.pop("schema"), "schema"),
    ],
)
def test_malformed_bundles_name_the_problem(mutate: Any, location: str) -> None:
    document = _document(_bundle())
    mutate(document)
    assert _load_error(document).location == location


def test_unsupported_schema_versions_say_so() -> None:
    document = _document(_bundle())
    document["schema"] = "cvm-verifier.bundle/2"
    assert "unsupported bundle schema" in _load_error(document).message


def test_duplicate_keys_are_refused() -> None:
    text = _bundle().to_json()
    doubled = text.replace('"schema": ', '"fetched_at": "2020-01-01T00:00:00Z",\n  "schema": ', 1)
    with pytest.raises(InputError, match="duplicate key 'fetched_at'"):
        load_bundle(doubled)


def test_a_lone_surrogate_in_a_part_is_an_input_error() -> None:
    document = _document(_bundle())
    document["compose"] = {"sha256": "0" * 64, "text": "\ud800"}
    error = _load_error(document)
    assert error.location == "compose.text"


def test_not_utf8_not_json_not_an_object() -> None:
    for raw, reason in [(b"\xff", "not UTF-8"), (b"{", "not JSON"), (b"[]", "JSON object")]:
        with pytest.raises(InputError, match=reason):
            load_bundle(raw)


# --- verification ---------------------------------------------------------------------------


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_verifying_a_bundle_at_fetched_is_verifying_its_files(c: Case) -> None:
    bundle = load_bundle(_bundle(c).to_json())
    direct = verify(
        c.evidence, collateral=c.collateral, at=c.at, chain_pem=c.chain, compose=c.compose
    )
    assert bundle.verify(at=bundle.fetched_at).to_json() == direct.to_json()


@pytest.mark.parametrize("c", [APP, KMS, case("compose-tampered")], ids=lambda c: c.name)
def test_an_app_instance_bundle_verifies_like_the_files(c: Case) -> None:
    instance = json.dumps(app_instance(c)).encode()
    bundle = _bundle(c)
    bundle = make_bundle(
        instance,
        fetched_at=c.at,
        source=BundleSource(app_id="ab" * 20, instance=0),
        collateral=c.collateral,
        chain=c.chain,
        compose=c.compose,
    )
    report = load_bundle(bundle.to_json()).verify(at=bundle.fetched_at)
    direct = verify(
        c.evidence, collateral=c.collateral, at=c.at, chain_pem=c.chain, compose=c.compose
    )
    assert report.evidence.format == "phala-app-instance"
    assert report.evidence.sha256 == hashlib.sha256(instance).hexdigest()
    assert report.verdict == direct.verdict
    # An instance makes no tcb_info claims (nor GetQuote's report_data claim); the rest is the same.
    claims = {"tcb_info_mismatch", "report_data_mismatch"}
    expected = [(f.id, f.status) for f in direct.findings if f.id not in claims]
    assert [(f.id, f.status) for f in report.findings if f.id not in claims] == expected


def test_a_bundle_without_collateral_needs_one() -> None:
    bundle = _bundle(collateral=None)
    with pytest.raises(InputError, match="no collateral"):
        bundle.verify(at=bundle.fetched_at)
    report = bundle.verify(at=bundle.fetched_at, collateral=APP.collateral)
    assert report.passed


def test_the_trust_root_comes_only_from_the_caller() -> None:
    demo = forged("demo")
    bundle = _bundle(demo)
    assert not bundle.verify(at=bundle.fetched_at).passed  # Intel's root: the forged quote fails
    root = TrustRoot.from_der(demo.trust_root or b"")
    assert bundle.verify(at=bundle.fetched_at, trust_root=root).passed


# --- fuzz: malformed bundles raise InputError only, and never verify as pass ----------------

_VALID = _bundle().to_json()


def _mutations() -> st.SearchStrategy[str]:
    def splice(data: tuple[int, int, str]) -> str:
        start, length, insert = data
        start %= len(_VALID)
        return _VALID[:start] + insert + _VALID[start + length :]

    return st.tuples(st.integers(0, len(_VALID)), st.integers(0, 64), st.text(max_size=8)).map(
        splice
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_fuzzed_bundles_raise_input_error_or_keep_their_verdict(text: str) -> None:
    try:
        bundle = load_bundle(text.encode("utf-8", "surrogatepass"))
    except InputError:
        return
    # It loaded: then every part matches its digest, so what verifies is what was bundled.
    for part in (bundle.attestation, bundle.collateral, bundle.chain, bundle.compose):
        assert part is None or hashlib.sha256(part.data).hexdigest() == part.sha256
    try:
        report = bundle.verify(at=bundle.fetched_at)
    except InputError:
        return
    if report.passed:
        assert bundle.evidence_bytes == APP.evidence
        assert bundle.collateral_json is not None
        assert bundle.collateral_json.encode() == APP.collateral


def _part(text: str) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "text": text,
    }


_VALUES: st.SearchStrategy[object] = (
    st.none()
    | st.integers()
    | st.text(max_size=10)
    | st.just(BUNDLE_SCHEMA)
    | st.just("2025-09-15T00:00:00Z")
    | st.just({})
    | st.text(max_size=20).map(_part)
    | st.sampled_from([APP.evidence.decode(), APP.collateral.decode(), "{}", "[]"]).map(_part)
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["schema", "fetched_at", "source", "attestation", "collateral", "chain", "x"]
        ),
        _VALUES,
    )
)
def test_arbitrary_documents_raise_only_input_error(document: dict[str, Any]) -> None:
    try:
        bundle = load_bundle(json.dumps(document))
    except InputError:
        return
    try:
        report = bundle.verify(at=bundle.fetched_at)
    except InputError:
        return  # no collateral, or evidence that does not parse
    if report.passed:  # only the real evidence with its real collateral can pass
        assert bundle.evidence_bytes == APP.evidence
        assert bundle.collateral_json == APP.collateral.decode()


def test_the_library_example_of_docs_bundle_md_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    docs = (REPO / "docs" / "bundle.md").read_text()
    example = next(code for code in re.findall(r"```python\n(.*?)```", docs, flags=re.S))
    readme = (REPO / "README.md").read_text()
    policy = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)[0]  # pins app-uptodate
    (tmp_path / "cvm-policy.toml").write_text(policy)
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "a.bundle.json").write_text(_bundle().to_json())
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "docs/bundle.md", "exec"), {})
    assert capsys.readouterr().out == "a.bundle.json None pass\n"
