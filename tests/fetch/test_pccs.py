"""PccsClient against a PCCS emulator serving the corpus collaterals in the PCS v4 shape."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.corpus import Case, case
from tests.fetch.emulators import PccsEmulator, Reply
from verifier.errors import FetchError, InputError
from verifier.evidence import load_evidence
from verifier.fetch import CollateralCache, PccsClient
from verifier.fetch.pccs import normalise_pccs_url

APP = case("app-uptodate")

#: one case per corpus collateral (the four real PCS collaterals)
COLLATERAL_CASES = [case(n) for n in ("app-uptodate", "kms-uptodate", "kms-outofdate", "plain-td")]


def _quote(c: Case) -> bytes:
    quote = load_evidence(c.evidence).quote
    assert quote is not None
    return quote


def _serve(collateral: bytes, **options: object) -> PccsEmulator:
    emulator = PccsEmulator(collateral, **options)  # type: ignore[arg-type]
    emulator.server.start()
    return emulator


@pytest.fixture
def started() -> Iterator[list[PccsEmulator]]:
    servers: list[PccsEmulator] = []
    yield servers
    for server in servers:
        server.server.stop()


@pytest.mark.parametrize("c", COLLATERAL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("spaced", [False, True], ids=["compact", "spaced"])
def test_fetched_collateral_is_byte_identical_to_the_corpus(
    c: Case, spaced: bool, started: list[PccsEmulator]
) -> None:
    emulator = _serve(c.collateral, spaced=spaced)
    started.append(emulator)
    text = PccsClient(emulator.url, retries=0).collateral_for_quote(_quote(c), at=c.at)
    assert text.encode() == c.collateral
    paths = [(r.path, r.query) for r in emulator.server.requests]
    fmspc = json.loads(json.loads(c.collateral)["tcb_info"])["fmspc"].upper()
    assert paths == [
        ("/sgx/certification/v4/pckcrl", {"ca": "platform", "encoding": "der"}),
        ("/tdx/certification/v4/tcb", {"fmspc": fmspc}),
        ("/tdx/certification/v4/qe/identity", {"update": "standard"}),
        ("/sgx/certification/v4/rootcacrl", {}),
    ]


def test_the_older_tcb_issuer_chain_header_is_accepted(started: list[PccsEmulator]) -> None:
    emulator = _serve(APP.collateral, tcb_header="SGX-TCB-Info-Issuer-Chain")
    started.append(emulator)
    text = PccsClient(emulator.url).collateral_for_quote(_quote(APP), at=APP.at)
    assert text.encode() == APP.collateral


def test_crls_served_as_pem_are_accepted(pccs: PccsEmulator) -> None:
    der = pccs.responses.pck_crl_der
    pem = b"-----BEGIN X509 CRL-----\n" + base64.encodebytes(der) + b"-----END X509 CRL-----\n"
    chain = {"SGX-PCK-CRL-Issuer-Chain": quote(pccs.responses.pck_crl_chain, safe="")}
    pccs.server.faults = [Reply(body=pem, content_type="application/x-pem-file", headers=chain)]
    text = PccsClient(pccs.url).collateral_for_quote(_quote(APP), at=APP.at)
    assert text.encode() == APP.collateral


@pytest.mark.parametrize(
    "url",
    [
        "{}",
        "{}/",
        "{}/sgx/certification/v4",
        "{}/tdx/certification/v4/",
    ],
)
def test_the_base_url_may_name_the_v4_api(pccs: PccsEmulator, url: str) -> None:
    client = PccsClient(url.format(pccs.url))
    assert client.base_url == pccs.url
    assert client.collateral_for_quote(_quote(APP), at=APP.at).encode() == APP.collateral


def test_a_bad_pccs_url_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not an http"):
        normalise_pccs_url("pccs.example")


def test_collateral_for_another_fmspc_is_refused(pccs: PccsEmulator) -> None:
    # The PCCS answers 404 for the KMS quote's FMSPC (90C06F): it serves 20A06F only.
    with pytest.raises(FetchError) as info:
        PccsClient(pccs.url, retries=0).collateral_for_quote(
            _quote(case("kms-uptodate")), at=APP.at
        )
    assert info.value.status == 404


def test_a_pccs_that_lies_about_the_fmspc_is_caught(pccs: PccsEmulator) -> None:
    pccs.serve(case("kms-uptodate").collateral)  # TCB info for 90C06F
    pccs.responses = type(pccs.responses)(**{**vars(pccs.responses), "fmspc": "20A06F000000"})
    with pytest.raises(FetchError, match="for FMSPC 90C06F000000, not 20A06F000000"):
        PccsClient(pccs.url).collateral_for_quote(_quote(APP), at=APP.at)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Reply(body=b"not a crl", content_type="application/pkix-crl"), "not a CRL"),
        (Reply(body=b"", content_type="application/pkix-crl"), "SGX-PCK-CRL-Issuer-Chain"),
    ],
)
def test_a_broken_pck_crl_response_is_a_fetch_error(
    pccs: PccsEmulator, fault: Reply, reason: str
) -> None:
    if "not a CRL" in reason:
        fault.headers["SGX-PCK-CRL-Issuer-Chain"] = "-----BEGIN%20CERTIFICATE-----"
    pccs.server.faults = [fault]
    with pytest.raises(FetchError, match=reason):
        PccsClient(pccs.url, retries=0).collateral_for_quote(_quote(APP), at=APP.at)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"tcbInfo": {}, "tcbInfo": {}, "signature": "00"}', "duplicate key"),
        (b'{"tcbInfo": {"a": 1}}', "no 'tcbInfo' and 'signature'"),
        (b'{"tcbInfo": [], "signature": "zz"}', "must be an object and 'signature' hex"),
    ],
)
def test_a_malformed_tcb_info_is_a_fetch_error(
    pccs: PccsEmulator, body: bytes, reason: str
) -> None:
    chain = quote(pccs.responses.tcb_chain, safe="")
    pccs.server.faults = [
        Reply(
            body=pccs.responses.pck_crl_der,
            content_type="application/pkix-crl",
            headers={"SGX-PCK-CRL-Issuer-Chain": chain},
        ),
        Reply(body=body, headers={"TCB-Info-Issuer-Chain": chain}),
    ]
    with pytest.raises(FetchError, match=reason):
        PccsClient(pccs.url, retries=0).collateral_for_quote(_quote(APP), at=APP.at)


def test_a_tampered_tcb_info_makes_dcap_qvl_fail_not_the_fetch(pccs: PccsEmulator) -> None:
    # The fetcher does not judge signatures: verification does, and says so.
    from verifier import verify

    responses = pccs.responses
    pccs.responses = type(responses)(
        **{**vars(responses), "tcb_body": responses.tcb_body.replace('"UpToDate"', '"Revoked"', 1)}
    )
    text = PccsClient(pccs.url).collateral_for_quote(_quote(APP), at=APP.at)
    report = verify(APP.evidence, collateral=text, at=APP.at, chain_pem=APP.chain)
    assert [f.id for f in report.failures()] == ["quote_signature"]


def test_the_quote_must_be_a_tdx_quote(pccs: PccsEmulator) -> None:
    with pytest.raises(FetchError, match="FMSPC"):
        PccsClient(pccs.url).collateral_for_quote(b"\x04\x00" + b"\x00" * 100, at=APP.at)


# --- reuse: memory and disk cache ------------------------------------------------------------


def test_one_client_fetches_a_platform_family_once(pccs: PccsEmulator) -> None:
    client = PccsClient(pccs.url)
    for _ in range(3):
        client.collateral_for_quote(_quote(APP), at=APP.at)
    assert client.requests == 4
    assert len(pccs.server.requests) == 4


def test_the_disk_cache_is_reused_while_valid(pccs: PccsEmulator, tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    PccsClient(pccs.url, cache=cache).collateral_for_quote(_quote(APP), at=APP.at)
    [entry] = tmp_path.iterdir()
    assert entry.name.startswith("20A06F000000-platform-")
    assert entry.read_bytes() == APP.collateral  # an entry is a --collateral file
    second = PccsClient(pccs.url, cache=cache)
    assert second.collateral_for_quote(_quote(APP), at=APP.at).encode() == APP.collateral
    assert second.requests == 0


def test_an_expired_cache_entry_is_refetched(pccs: PccsEmulator, tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    PccsClient(pccs.url, cache=cache).collateral_for_quote(_quote(APP), at=APP.at)
    later = APP.at + timedelta(days=60)
    client = PccsClient(pccs.url, cache=cache)
    client.collateral_for_quote(_quote(APP), at=later)
    assert client.requests == 4


def test_a_cache_entry_is_per_pccs(pccs: PccsEmulator, tmp_path: Path) -> None:
    cache = CollateralCache(tmp_path)
    PccsClient(pccs.url, cache=cache).collateral_for_quote(_quote(APP), at=APP.at)
    assert cache.get("https://other.example", "20A06F000000", "platform", at=APP.at) is None
    assert cache.get(pccs.url, "20A06F000000", "platform", at=APP.at) is not None


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b"{}", b'{"tcb_info": 1}'])
def test_a_corrupt_cache_entry_is_refetched_not_a_crash(
    pccs: PccsEmulator, tmp_path: Path, content: bytes
) -> None:
    cache = CollateralCache(tmp_path)
    cache.path(pccs.url, "20A06F000000", "platform").write_bytes(content)
    client = PccsClient(pccs.url, cache=cache)
    assert client.collateral_for_quote(_quote(APP), at=APP.at).encode() == APP.collateral
    assert client.requests == 4
    assert cache.path(pccs.url, "20A06F000000", "platform").read_bytes() == APP.collateral


def test_an_entry_for_another_fmspc_under_the_name_is_ignored(
    pccs: PccsEmulator, tmp_path: Path
) -> None:
    cache = CollateralCache(tmp_path)
    kms = case("kms-uptodate")
    cache.path(pccs.url, "20A06F000000", "platform").write_bytes(kms.collateral)
    assert cache.get(pccs.url, "20A06F000000", "platform", at=kms.at) is None


def test_an_unwritable_cache_does_not_fail_the_fetch(pccs: PccsEmulator, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    client = PccsClient(pccs.url, cache=CollateralCache(blocker / "cache"))
    assert client.collateral_for_quote(_quote(APP), at=APP.at).encode() == APP.collateral
