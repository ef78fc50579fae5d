"""Phala Cloud API client: the attestation of a CVM, and the public attestations of an app.

Conventions of the official SDKs and CLI: the key comes from ``PHALA_CLOUD_API_KEY`` and travels
in the ``X-API-Key`` header, the API prefix from ``PHALA_CLOUD_API_PREFIX``, the API version is
pinned with ``X-Phala-Version``. Responses are kept exactly as received (the bundle hashes them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ..errors import FetchError, InputError
from .config import FetchConfig
from .http import Fetcher, Response, Secret

DEFAULT_PREFIX = "https://cloud-api.phala.com/api/v1"
#: the API version this verifier was written against (the ``CvmAttestation`` schema)
DEFAULT_API_VERSION = "2026-01-21"

ENV_API_KEY = "PHALA_CLOUD_API_KEY"
ENV_API_PREFIX = "PHALA_CLOUD_API_PREFIX"

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

_HINTS = {
    401: f"is {ENV_API_KEY} set to a valid API key?",
    403: "the CVM is not in this API key's workspace",
}


@dataclass(frozen=True)
class ApiResponse:
    """An API response exactly as received: ``text`` is the UTF-8 body, ``sha256`` its digest."""

    url: str
    text: str = field(repr=False)
    sha256: str
    api_version: str
    request_id: str | None


def check_id(value: str, *, what: str) -> str:
    """A CVM or app id that is safe in a URL path and a file name (``InputError`` otherwise)."""
    if not _ID.fullmatch(value):
        raise InputError(
            "expected letters, digits, '_', '-', '.' or ':' (at most 128)", location=what
        )
    return value


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: what may be written down."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _checked_prefix(prefix: str, *, has_key: bool) -> str:
    parts = urlsplit(prefix)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError("not an http(s) URL", location="API prefix")
    if parts.scheme == "http" and has_key and parts.hostname not in _LOOPBACK:
        raise InputError(
            "refusing to send the API key over plain HTTP; use https", location="API prefix"
        )
    return prefix.rstrip("/")


class PhalaCloudClient:
    """Reads attestations from the Phala Cloud API.

    ``api_key`` is needed for :meth:`cvm_attestation` only; it is never shown (``repr``,
    errors). ``timeout`` and ``retries`` override those of ``config``; ``transport``, ``sleep``
    and ``random`` are passed to the :class:`Fetcher` (tests).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | None = None,
        retries: int | None = None,
        config: FetchConfig | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        self._key = Secret(api_key) if api_key else None
        self.prefix = _checked_prefix(prefix, has_key=self._key is not None)
        if not api_version or any(c in api_version for c in "\r\n"):
            raise InputError("not a usable API version", location="API version")
        self.api_version = api_version
        config = config or FetchConfig()
        overrides: dict[str, float | int] = {}
        if timeout is not None:
            overrides.update(connect_timeout=timeout, read_timeout=timeout)
        if retries is not None:
            overrides["retries"] = retries
        if overrides:
            config = dataclasses.replace(config, **overrides)  # type: ignore[arg-type]
        self._fetcher = Fetcher(
            config,
            transport=transport,
            sleep=sleep,
            random=random,
            secrets=[api_key] if api_key else [],
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str | None = None, **options: Any
    ) -> PhalaCloudClient:
        """A client configured like the official SDKs: ``PHALA_CLOUD_API_KEY``, ``..._PREFIX``
        (an explicit ``prefix`` wins over the environment)."""
        env = os.environ if environ is None else environ
        chosen = prefix or env.get(ENV_API_PREFIX) or DEFAULT_PREFIX
        return cls(env.get(ENV_API_KEY) or None, prefix=chosen, **options)

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def __repr__(self) -> str:
        key = "[redacted]" if self._key else None
        return (
            f"PhalaCloudClient(prefix={self.prefix!r}, api_version={self.api_version!r}, "
            f"api_key={key})"
        )

    __str__ = __repr__

    def close(self) -> None:
        self._fetcher.close()

    def __enter__(self) -> PhalaCloudClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints -----------------------------------------------------------------------

    def cvm_attestation(self, cvm_id: str) -> ApiResponse:
        """``GET {prefix}/cvms/{cvm_id}/attestation`` (needs the API key)."""
        check_id(cvm_id, what="CVM id")
        if self._key is None:
            raise FetchError(f"no API key: set {ENV_API_KEY} to fetch the attestation of a CVM")
        url = f"{self.prefix}/cvms/{quote(cvm_id, safe='')}/attestation"
        headers = {"X-API-Key": self._key.reveal()}
        return self._get(url, f"attestation of CVM {cvm_id}", headers)

    def app_attestations(self, app_id: str) -> ApiResponse:
        """``GET {prefix}/apps/{app_id}/attestations`` (public: sent without the key)."""
        check_id(app_id, what="app id")
        url = f"{self.prefix}/apps/{quote(app_id, safe='')}/attestations"
        return self._get(url, f"attestations of app {app_id}", {})

    def _get(self, url: str, what: str, headers: dict[str, str]) -> ApiResponse:
        headers = {**headers, "Accept": "application/json", "X-Phala-Version": self.api_version}
        response: Response = self._fetcher.get(url, what=what, headers=headers, hints=_HINTS)
        text = response.body.decode("utf-8")  # checked by the fetcher
        return ApiResponse(
            url=public_url(url),
            text=text,
            sha256=hashlib.sha256(response.body).hexdigest(),
            api_version=self.api_version,
            request_id=response.request_id,
        )
