"""The forge: determinism, and dcap-qvl 0.7's verdict on every knob as TEST-PKI-FACTS predicts."""

from __future__ import annotations

import json
from dataclasses import replace

import dcap_qvl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from verifier.testing.forge import (
    OUT_OF_DATE_ADVISORIES,
    OUT_OF_DATE_TCB,
    REVOKED_TCB,
    SEPT_VE_DISABLE,
    SGX_EXTENSION_OID,
    CollateralOptions,
    ForgedPki,
    PkiOptions,
    PlatformTcb,
    QeOptions,
    TdReport,
    Validity,
    derive_key,
    forge_pki,
    raw_public_key,
    raw_signature,
    utc,
)

NOW = int(utc(2026).timestamp())
PKI = forge_pki()
COLLATERAL = PKI.collateral()
CHOSEN = TdReport(
    tee_tcb_svn=bytes([5, 1, 2, 7] + [0] * 12),
    mr_seam=bytes(range(48)),
    td_attributes=(SEPT_VE_DISABLE | 1 << 30).to_bytes(8, "little"),
    xfam=bytes.fromhex("e71a060000000000"),
    mr_td=b"\x11" * 48,
    mr_config_id=b"\x01" + b"\x22" * 32 + bytes(15),
    mr_owner=b"\x33" * 48,
    mr_owner_config=b"\x44" * 48,
    rtmr=(b"\xa0" * 48, b"\xa1" * 48, b"\xa2" * 48, b"\xa3" * 48),
    report_data=bytes(range(64)),
)


def _verify(pki: ForgedPki, quote: bytes, collateral: CollateralOptions | None = None) -> str:
    """dcap-qvl's status, or its whole error text, under the forged root."""
    try:
        verified = dcap_qvl.verify_with_root_ca(
            quote, pki.collateral(collateral).to_dcap(), pki.root_der, NOW
        )
    except ValueError as exc:
        return f"error: {exc}"
    return verified.status


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_bytes() -> None:
    again = forge_pki(PkiOptions(seed=b"cvm-verifier"))
    assert again.root_der == PKI.root_der
    assert again.pck_chain_pem == PKI.pck_chain_pem
    assert again.collateral().to_json() == COLLATERAL.to_json()
    assert again.quote(CHOSEN) == PKI.quote(CHOSEN)


def test_another_seed_another_pki() -> None:
    other = forge_pki(PkiOptions(seed=b"another seed"))
    assert other.root_der != PKI.root_der
    assert other.quote(CHOSEN) != PKI.quote(CHOSEN)
    # ... and a quote of one PKI does not verify under the other's root
    assert _verify(other, PKI.quote(CHOSEN)).startswith("error:")


def test_signatures_are_deterministic_raw_r_s_and_verify() -> None:
    key = derive_key(b"seed", "label")
    first, second = raw_signature(key, b"data"), raw_signature(key, b"data")
    assert first == second and len(first) == 64
    der_signature = encode_dss_signature(
        int.from_bytes(first[:32], "big"), int.from_bytes(first[32:], "big")
    )
    key.public_key().verify(der_signature, b"data", ec.ECDSA(hashes.SHA256()))
    assert derive_key(b"seed", "label").private_numbers() == key.private_numbers()
    assert derive_key(b"seed", "other").private_numbers() != key.private_numbers()


# --- a good quote -----------------------------------------------------------------------------


def test_forged_quote_verifies_up_to_date_with_the_chosen_measurements() -> None:
    quote = PKI.quote(CHOSEN)
    verified = dcap_qvl.verify_with_root_ca(quote, COLLATERAL.to_dcap(), PKI.root_der, NOW)
    assert verified.status == "UpToDate"
    assert verified.advisory_ids == []
    body = json.loads(verified.to_json())["report"]["TD10"]
    assert body["mr_td"] == CHOSEN.mr_td.hex()
    for index in range(4):
        assert body[f"rt_mr{index}"] == CHOSEN.rtmr[index].hex()
    for name in (
        "report_data",
        "mr_config_id",
        "td_attributes",
        "xfam",
        "mr_seam",
        "mr_owner",
        "mr_owner_config",
        "tee_tcb_svn",
    ):
        assert body[name] == getattr(CHOSEN, name).hex(), name


def test_the_quote_is_signed_by_the_attestation_key_over_header_and_body() -> None:
    quote = PKI.quote(CHOSEN)
    assert quote[:2] == (4).to_bytes(2, "little")
    assert quote[48 : 48 + 584] == CHOSEN.to_bytes()
    signature = quote[636:700]
    assert quote[700:764] == raw_public_key(PKI.attestation_key)
    der_signature = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    PKI.attestation_key.public_key().verify(der_signature, quote[:632], ec.ECDSA(hashes.SHA256()))


def test_strict_dcap_qvl_policy_accepts_the_forged_platform() -> None:
    verifier = dcap_qvl.QuoteVerifier(PKI.root_der)
    claims = verifier.verify_with_policy(
        PKI.quote(CHOSEN), COLLATERAL.to_dcap(), NOW, dcap_qvl.QuotePolicy.strict(NOW)
    )
    assert json.loads(claims.to_json())
    smt = forge_pki(PkiOptions(platform_config=(False, False, True)))
    smt_quote, smt_collateral = smt.quote(CHOSEN), smt.collateral().to_dcap()
    with pytest.raises(ValueError, match="SMT"):
        verifier.verify_with_policy(
            smt_quote, smt_collateral, NOW, dcap_qvl.QuotePolicy.strict(NOW)
        )
    # plain verify leaves SMT to the caller's policy
    plain = dcap_qvl.verify_with_root_ca(smt_quote, smt_collateral, smt.root_der, NOW)
    assert plain.status == "UpToDate"


def test_pck_without_the_optional_configuration_still_verifies() -> None:
    bare = forge_pki(PkiOptions(platform_config=None))
    assert len(bare.pck.public_bytes(serialization.Encoding.DER)) < len(
        PKI.pck.public_bytes(serialization.Encoding.DER)
    )
    assert _verify(bare, bare.quote(CHOSEN)) == "UpToDate"


def test_intel_root_rejects_a_forged_quote() -> None:
    with pytest.raises(ValueError, match="InvalidCrlSignatureForPublicKey"):
        dcap_qvl.verify(PKI.quote(CHOSEN), COLLATERAL.to_dcap(), NOW)


def test_parse_quote_sees_a_platform_ca_and_the_fmspc() -> None:
    parsed = dcap_qvl.parse_quote(PKI.quote(CHOSEN))
    assert parsed.ca() == "platform"
    assert parsed.fmspc().lower() == PKI.options.fmspc.hex()
    assert parsed.cert_chain_pem_bytes() == PKI.pck_chain_pem.encode()


def test_pck_sgx_extension_is_what_dcap_qvl_reads() -> None:
    tcb = PlatformTcb(bytes([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 255, 128, 127, 1, 2, 3]), 300)
    pki = forge_pki(PkiOptions(platform_tcb=tcb, fmspc=bytes.fromhex("0123456789ab")))
    extension = dcap_qvl.parse_pck_extension_from_pem(pki.pck_chain_pem.encode())
    assert extension.fmspc == bytes.fromhex("0123456789ab")
    assert extension.cpu_svn == tcb.cpusvn
    assert extension.pce_svn == 300
    assert extension.ppid == pki.ppid
    sgx = pki.pck.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    assert not sgx.critical


def test_the_collateral_round_trips_through_dcap_qvl_json() -> None:
    text = COLLATERAL.to_json()
    assert dcap_qvl.QuoteCollateralV3.from_json(text).to_json() == text
    tcb_info = json.loads(COLLATERAL.tcb_info)
    assert tcb_info["fmspc"] == PKI.options.fmspc.hex()
    assert [level["tcbStatus"] for level in tcb_info["tcbLevels"]] == [
        "UpToDate",
        "OutOfDate",
        "Revoked",
    ]


# --- every knob, with the outcome TEST-PKI-FACTS records ------------------------------------

STATUSES = {"UpToDate", "OutOfDate"}
_EXPIRED = Validity(utc(2025, 11), utc(2025, 12))
_LATER = Validity(utc(2026, 6), utc(2030))


@pytest.mark.parametrize(
    ("pki_options", "collateral", "report", "qe", "outcome"),
    [
        (PkiOptions(platform_tcb=OUT_OF_DATE_TCB), None, None, None, "OutOfDate"),
        (None, None, replace(CHOSEN, tee_tcb_svn=bytes([4, 1, 2] + [0] * 13)), None, "OutOfDate"),
        (None, None, None, QeOptions(isvsvn=3), "OutOfDate"),
        (PkiOptions(platform_tcb=REVOKED_TCB), None, None, None, "TCB status is invalid: Revoked"),
        (
            PkiOptions(platform_tcb=PlatformTcb(bytes(16), 1)),
            None,
            None,
            None,
            "No matching TCB level found",
        ),
        (None, None, replace(CHOSEN, td_attributes=bytes.fromhex("0100001000000000")), None,
         "Debug mode is enabled"),
        (None, None, replace(CHOSEN, td_attributes=bytes(8)), None,
         "SEPT_VE_DISABLE is not enabled"),
        (PkiOptions(pck_revoked=True), None, None, None, "CertRevoked"),
        (PkiOptions(root_crl_revokes=("pck_ca",)), None, None, None, "CertRevoked"),
        (PkiOptions(root_crl_revokes=("tcb_signing",)), None, None, None, "CertRevoked"),
        (PkiOptions(crl_validity=_EXPIRED), None, None, None, "CrlExpired"),
        (None, CollateralOptions(tcb_info_validity=_EXPIRED), None, None, "TCBInfo expired"),
        (None, CollateralOptions(qe_identity_validity=_EXPIRED), None, None, "QE Identity expired"),
        (None, CollateralOptions(tcb_info_validity=_LATER), None, None,
         "TCBInfo issue date is in the future"),
        (PkiOptions(pck_validity=Validity(utc(2021), utc(2025, 12))), None, None, None,
         "CertExpired"),
        (PkiOptions(pck_validity=_LATER), None, None, None, "CertNotValidYet"),
        (None, CollateralOptions(fmspc=bytes(6)), None, None, "Fmspc mismatch"),
        (None, None, None, QeOptions(mrsigner=bytes(32)), "QE MRSIGNER mismatch"),
        (None, None, replace(CHOSEN, mr_signer_seam=b"\x01" * 48), None,
         "TDX module MRSIGNER mismatch"),
    ],
    ids=[
        "platform-outofdate", "module-outofdate", "qe-outofdate", "tcb-revoked", "below-all-levels",
        "debug", "sept-ve-disable-clear", "pck-revoked", "pck-ca-revoked", "tcb-signer-revoked",
        "crl-expired", "tcb-info-expired", "qe-identity-expired", "tcb-info-not-yet",
        "pck-expired", "pck-not-yet", "fmspc-mismatch", "qe-mrsigner", "module-mrsigner",
    ],
)  # fmt: skip
def test_knob_gives_the_predicted_dcap_qvl_outcome(
    pki_options: PkiOptions | None,
    collateral: CollateralOptions | None,
    report: TdReport | None,
    qe: QeOptions | None,
    outcome: str,
) -> None:
    pki = forge_pki(pki_options) if pki_options else PKI
    said = _verify(pki, pki.quote(report or CHOSEN, qe), collateral)
    if outcome in STATUSES:
        assert said == outcome
    else:
        assert said.startswith("error:") and outcome in said, said


def test_out_of_date_level_carries_its_advisories() -> None:
    pki = forge_pki(PkiOptions(platform_tcb=OUT_OF_DATE_TCB))
    verified = dcap_qvl.verify_with_root_ca(
        pki.quote(CHOSEN), pki.collateral().to_dcap(), pki.root_der, NOW
    )
    assert verified.status == "OutOfDate"
    assert sorted(verified.advisory_ids) == list(OUT_OF_DATE_ADVISORIES)


def test_collateral_window_edges_are_where_dcap_qvl_puts_them() -> None:
    window = Validity(utc(2025, 11), utc(2025, 12))
    pki = forge_pki(PkiOptions(crl_validity=Validity(utc(2021), utc(2031))))
    collateral = pki.collateral(
        CollateralOptions(tcb_info_validity=window, qe_identity_validity=window)
    ).to_dcap()
    quote = pki.quote(CHOSEN)
    end = int(window.end.timestamp())
    start = int(window.start.timestamp())
    assert dcap_qvl.verify_with_root_ca(quote, collateral, pki.root_der, end).status == "UpToDate"
    assert dcap_qvl.verify_with_root_ca(quote, collateral, pki.root_der, start).status == (
        "UpToDate"
    )
    with pytest.raises(ValueError, match="expired"):
        dcap_qvl.verify_with_root_ca(quote, collateral, pki.root_der, end + 1)
    with pytest.raises(ValueError, match="in the future"):
        dcap_qvl.verify_with_root_ca(quote, collateral, pki.root_der, start - 1)


# --- input checks ---------------------------------------------------------------------------


def test_td_report_fields_must_have_their_sizes() -> None:
    with pytest.raises(ValueError, match="mr_td must be 48 bytes"):
        TdReport(mr_td=b"\x00" * 47)
    with pytest.raises(ValueError, match="rtmr2 must be 48 bytes"):
        TdReport(rtmr=(bytes(48), bytes(48), bytes(3), bytes(48)))


def test_unknown_root_crl_revocation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown certificates"):
        forge_pki(PkiOptions(root_crl_revokes=("root",)))
