"""The certificate copies dcap-qvl does not check: root CAs in the quote and the collateral, and
the PCK CRL issuer chain.

dcap-qvl verifies the PCK leaf and its CA, the TCB-signing certificate and the CRLs up to the
trust anchor it is given. It ignores the copy of the root CA at the end of the quote's PCK chain
and of the collateral's TCB-info and QE-identity issuer chains, and the PCK CRL issuer chain
altogether (TEST-PKI-FACTS: "pck_crl_issuer_chain is not checked"). A copy that is not the trust
root contradicts it, so each chain must end at the trust root itself, each certificate signed by
the next, and the PCK CRL issuer chain must be the one that signed the PCK CRL.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass

import dcap_qvl
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from .findings import Finding

#: The collateral's certificate chains, each issuer-first up to the root CA.
COLLATERAL_CHAINS = ("pck_crl_issuer_chain", "tcb_info_issuer_chain", "qe_identity_issuer_chain")


@dataclass(frozen=True)
class CollateralChains:
    """What the collateral's chains say, independent of the trust root (computed once per
    collateral): ``problem`` when a chain is broken, else the SHA-256 of each chain's root."""

    problem: str | None
    roots: tuple[tuple[str, str], ...] = ()


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def _linked(certs: list[x509.Certificate], name: str) -> str | None:
    """Why ``certs`` is not a chain each signed by the next (``None``: it is)."""
    if not certs:
        return f"{name} holds no certificate"
    for index in range(len(certs) - 1):
        try:
            certs[index].verify_directly_issued_by(certs[index + 1])
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return f"{name}: certificate {index} is not signed by certificate {index + 1}"
    return None


def summarize_collateral(inner: dcap_qvl.QuoteCollateralV3) -> CollateralChains:
    """Check the collateral's chains (signatures, PCK CRL issuer) and name their roots.

    Memoised on the chains' and CRL's content: one collateral serves every quote of a platform
    family, and parsing it anew for each quote must not redo four signature checks.
    """
    texts = tuple(str(getattr(inner, name)) for name in COLLATERAL_CHAINS)
    return _summarize(texts, bytes(inner.pck_crl))


@functools.lru_cache(maxsize=64)
def _summarize(texts: tuple[str, ...], pck_crl: bytes) -> CollateralChains:
    roots: list[tuple[str, str]] = []
    chains: dict[str, list[x509.Certificate]] = {}
    for name, text in zip(COLLATERAL_CHAINS, texts, strict=True):
        try:
            certs = x509.load_pem_x509_certificates(text.encode("utf-8", "surrogatepass"))
            problem = _linked(certs, name)
        except (ValueError, x509.InvalidVersion) as exc:
            problem = f"{name} is not a PEM certificate chain: {exc}"
        if problem is not None:
            return CollateralChains(problem)
        chains[name] = certs
        roots.append((name, _sha256(certs[-1])))
    try:
        crl = x509.load_der_x509_crl(pck_crl)
        issuer_key = chains["pck_crl_issuer_chain"][0].public_key()
        signed = isinstance(issuer_key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(
            issuer_key
        )
    except (ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        return CollateralChains("the PCK CRL is not signed by the first pck_crl_issuer_chain key")
    return CollateralChains(None, tuple(roots))


_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"
_PEM_END = b"-----END CERTIFICATE-----"


def _last_pem_der(pem: bytes) -> tuple[int, bytes]:
    """The number of PEM certificate blocks and the DER of the last one (no X.509 parsing: only
    the root copy's bytes count, and dcap-qvl has verified the others); ``ValueError`` when the
    last block is not complete base64. Runs once per verification: string searches, no regex."""
    count = pem.count(_PEM_BEGIN)
    if count == 0:
        return 0, b""
    start = pem.rfind(_PEM_BEGIN) + len(_PEM_BEGIN)
    end = pem.find(_PEM_END, start)
    if end < 0:
        raise ValueError("the last certificate has no END line")
    try:
        return count, base64.b64decode(b"".join(pem[start:end].split()), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"a certificate is not base64: {exc}") from None


def check_issuer_chains(
    pck_chain_pem: bytes, collateral: CollateralChains, root_sha256: str
) -> Finding:
    """``issuer_chains``: every chain the quote and the collateral carry ends at the trust root
    (``root_sha256``: SHA-256 of the trust root certificate's DER)."""
    expected = root_sha256
    try:
        count, quote_root_der = _last_pem_der(pck_chain_pem)
    except ValueError as exc:
        return Finding.failed("issuer_chains", f"the quote's PCK chain is not PEM: {exc}")
    if count < 2:
        return Finding.failed(
            "issuer_chains",
            "the quote's PCK chain does not carry its root CA",
            expected="PCK certificate, PCK CA, root CA",
            actual=f"{count} certificate",
        )
    if collateral.problem is not None:
        return Finding.failed("issuer_chains", collateral.problem)
    quote_root = hashlib.sha256(quote_root_der).hexdigest()
    roots = [("the quote's PCK chain", quote_root), *collateral.roots]
    for name, sha in roots:
        if sha != expected:
            return Finding.failed(
                "issuer_chains",
                f"{name} ends at another root CA than the trust root",
                expected=f"sha256={expected}",
                actual=f"sha256={sha}",
            )
    return Finding.passed(
        "issuer_chains",
        f"the quote's PCK chain and the collateral's {len(collateral.roots)} issuer chains end "
        "at the trust root",
        actual=f"sha256={expected}",
    )
