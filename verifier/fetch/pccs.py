"""Intel collateral from a PCCS (Intel PCS v4 API), as dcap-qvl ``QuoteCollateralV3`` JSON.

For a TDX quote's FMSPC and PCK CA type (``platform`` or ``processor``), four requests:

- ``/sgx/certification/v4/pckcrl?ca={ca}&encoding=der`` — the PCK CRL (DER; PEM or hex are
  accepted too), issuer chain in the ``SGX-PCK-CRL-Issuer-Chain`` header;
- ``/sgx/certification/v4/rootcacrl`` — the root CA CRL (a PCCS serves it hex-encoded);
- ``/tdx/certification/v4/tcb?fmspc={FMSPC}`` — ``{"tcbInfo": {...}, "signature": hex}``, issuer
  chain in ``TCB-Info-Issuer-Chain`` (or ``SGX-TCB-Info-Issuer-Chain``);
- ``/tdx/certification/v4/qe/identity?update=standard`` — ``{"enclaveIdentity": {...},
  "signature": hex}``, issuer chain in ``SGX-Enclave-Identity-Issuer-Chain``.

Issuer chains are URL-encoded PEM. Intel signs the exact bytes of the inner ``tcbInfo`` and
``enclaveIdentity`` objects as served, so their text is cut out of the body
(:mod:`verifier.jsonspan`), never re-serialised.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import dcap_qvl
import httpx
from cryptography import x509

from ..collateral import Collateral, validity_window
from ..errors import FetchError, InputError
from ..hexutil import hex_bytes
from ..jsonspan import document_spans
from .cache import CollateralCache
from .config import FetchConfig
from .http import Fetcher, Response
from .phala import public_url

DEFAULT_PCCS_URL = "https://pccs.phala.network"
ENV_PCCS_URL = "PCCS_URL"

_FMSPC = re.compile(r"[0-9A-Fa-f]{12}")
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----(.+?)-----END X509 CRL-----", re.S)


def normalise_pccs_url(url: str) -> str:
    """The server's base URL: no trailing slash nor ``/{sgx,tdx}/certification/v4`` suffix."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError("not an http(s) URL", location="PCCS URL")
    base = url.rstrip("/")
    for suffix in ("/sgx/certification/v4", "/tdx/certification/v4"):
        base = base.removesuffix(suffix)
    return base.rstrip("/")


class PccsClient:
    """Fetches collateral for a quote from a PCCS, with an optional on-disk cache.

    Collateral is also remembered for the client's lifetime, so a fleet of quotes of one
    platform family costs four requests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_PCCS_URL,
        *,
        cache: CollateralCache | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        config: FetchConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.base_url = normalise_pccs_url(base_url)
        self.cache = cache
        config = config or FetchConfig()
        if timeout is not None:
            config = _replace(config, connect_timeout=timeout, read_timeout=timeout)
        if retries is not None:
            config = _replace(config, retries=retries)
        self._fetcher = Fetcher(config, transport=transport, sleep=sleep, random=random)
        self._memory: dict[tuple[str, str], str] = {}
        #: requests made (for callers that report what was fetched vs. cached)
        self.requests = 0

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        **options: Any,
    ) -> PccsClient:
        """A client for ``$PCCS_URL`` (default: Phala's PCCS); ``base_url`` wins over it."""
        env = os.environ if environ is None else environ
        return cls(base_url or env.get(ENV_PCCS_URL) or DEFAULT_PCCS_URL, **options)

    def __repr__(self) -> str:
        return f"PccsClient({self.base_url!r}, cache={self.cache!r})"

    def close(self) -> None:
        self._fetcher.close()

    def __enter__(self) -> PccsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def public_url(self) -> str:
        return public_url(self.base_url)

    def collateral_for_quote(self, quote: bytes, *, at: datetime) -> str:
        """Collateral JSON for ``quote`` (its FMSPC and PCK CA), usable at ``at``."""
        try:
            parsed = dcap_qvl.parse_quote(quote)
            fmspc = parsed.fmspc()
            ca = parsed.ca()
            tdx = parsed.is_tdx()
        except (ValueError, RuntimeError) as exc:
            raise FetchError(f"cannot read the quote's FMSPC and CA: {exc}") from None
        if not tdx:
            raise FetchError("not a TDX quote: only TDX collateral is fetched")
        return self.collateral(fmspc, ca, at=at)

    def collateral(self, fmspc: str, ca: str, *, at: datetime) -> str:
        """Collateral JSON for platform family ``fmspc`` and PCK CA ``ca``, usable at ``at``.

        Taken from memory or the cache while valid at ``at``, else fetched (and cached).
        """
        if not _FMSPC.fullmatch(fmspc) or ca not in ("platform", "processor"):
            raise FetchError(f"cannot fetch collateral for FMSPC {fmspc!r}, CA {ca!r}")
        fmspc = fmspc.upper()
        remembered = self._memory.get((fmspc, ca))
        if remembered is not None and _valid_at(remembered, at):
            return remembered
        if self.cache is not None:
            cached = self.cache.get(self.base_url, fmspc, ca, at=at)
            if cached is not None:
                self._memory[(fmspc, ca)] = cached
                return cached
        text = self._fetch(fmspc, ca)
        if self.cache is not None:
            self.cache.put(self.base_url, fmspc, ca, text)
        self._memory[(fmspc, ca)] = text
        return text

    # -- the four requests ---------------------------------------------------------------

    def _get(self, path: str, what: str, *, json_body: bool) -> Response:
        self.requests += 1
        return self._fetcher.get(f"{self.base_url}{path}", what=what, json_body=json_body)

    def _fetch(self, fmspc: str, ca: str) -> str:
        pck = self._get(
            f"/sgx/certification/v4/pckcrl?ca={ca}&encoding=der", "PCK CRL", json_body=False
        )
        pck_chain = _chain(pck, "SGX-PCK-CRL-Issuer-Chain")
        pck_crl = _crl_der(pck, "PCK CRL")
        tcb = self._get(f"/tdx/certification/v4/tcb?fmspc={fmspc}", "TCB info", json_body=True)
        tcb_chain = _chain(tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain")
        tcb_info, tcb_signature = _signed(tcb, "tcbInfo", "TCB info")
        qe = self._get(
            "/tdx/certification/v4/qe/identity?update=standard", "QE identity", json_body=True
        )
        qe_chain = _chain(qe, "SGX-Enclave-Identity-Issuer-Chain")
        qe_identity, qe_signature = _signed(qe, "enclaveIdentity", "QE identity")
        root = self._get("/sgx/certification/v4/rootcacrl", "root CA CRL", json_body=False)
        root_crl = _crl_der(root, "root CA CRL")
        try:
            text = dcap_qvl.QuoteCollateralV3(
                pck_chain,
                root_crl,
                pck_crl,
                tcb_chain,
                tcb_info,
                tcb_signature,
                qe_chain,
                qe_identity,
                qe_signature,
            ).to_json()
            collateral = Collateral.from_json(text)
        except (ValueError, TypeError, InputError) as exc:
            raise FetchError(
                f"the PCCS's collateral is unusable: {exc}", url=self.public_url
            ) from None
        if collateral.fmspc != fmspc:
            raise FetchError(
                f"the PCCS served TCB info for FMSPC {collateral.fmspc}, not {fmspc}",
                url=self.public_url,
            )
        return text


def _replace(config: FetchConfig, **changes: float | int) -> FetchConfig:
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def _valid_at(text: str, at: datetime) -> bool:
    try:
        window = validity_window(Collateral.from_json(text))
    except InputError:
        return False
    return window is not None and window[0] <= at < window[1]


def _chain(response: Response, *names: str) -> str:
    """An issuer chain header: URL-encoded PEM."""
    for name in names:
        value = response.header(name)
        if value:
            chain = unquote(value)
            if "-----BEGIN CERTIFICATE-----" not in chain:
                break
            return chain
    raise FetchError(
        f"the response has no usable {names[0]} header (URL-encoded PEM certificates)",
        url=public_url(response.url),
        status=response.status,
    )


def _crl_der(response: Response, what: str) -> bytes:
    """A CRL body as DER, whether served as DER, PEM or hex (PCCS serves the root CRL as hex)."""
    body = response.body.strip()
    candidates = [response.body]
    pem = _PEM_CRL.search(body)
    if pem:
        with contextlib.suppress(ValueError):
            candidates.insert(0, base64.b64decode(b"".join(pem.group(1).split()), validate=True))
    if body.isascii():
        decoded = hex_bytes(body.decode("ascii"))
        if decoded:
            candidates.insert(0, decoded)
    for der in candidates:
        try:
            x509.load_der_x509_crl(der)
        except ValueError:
            continue
        return der
    raise FetchError(
        f"{what}: the response is not a CRL (DER, PEM or hex)",
        url=public_url(response.url),
        status=response.status,
    )


def _signed(response: Response, key: str, what: str) -> tuple[str, bytes]:
    """The exact text of the signed inner object and its signature bytes."""
    text = response.body.decode("utf-8")  # the fetcher checked it is UTF-8 JSON
    try:
        spans = document_spans(text)
    except InputError as exc:
        raise FetchError(f"{what}: {exc}", url=public_url(response.url)) from None
    if key not in spans or "signature" not in spans:
        raise FetchError(
            f"{what}: the response has no {key!r} and 'signature'", url=public_url(response.url)
        )
    start, end = spans[key]
    inner = text[start:end]
    signature = json.loads(text[slice(*spans["signature"])])
    decoded = hex_bytes(signature) if isinstance(signature, str) else None
    if not inner.startswith("{") or not decoded:
        raise FetchError(
            f"{what}: {key!r} must be an object and 'signature' hex", url=public_url(response.url)
        )
    return inner, decoded
