"""Fetching evidence and collateral: the only package of cvm-verifier that does network I/O.

Everything goes through one :class:`~verifier.fetch.http.Fetcher` (limits in one
:class:`FetchConfig`, retries, error mapping to :class:`~verifier.errors.FetchError`). The result
is an evidence bundle (:mod:`verifier.bundle`) that verifies offline.

    with PhalaCloudClient.from_env() as api, PccsClient() as pccs:
        bundle = fetch_cvm_bundle("app_0123...", api=api, pccs=pccs)
    report = bundle.verify(at=bundle.fetched_at)
"""

from __future__ import annotations

from ..errors import FetchError
from .bundles import InstanceResult, fetch_app_bundles, fetch_cvm_bundle
from .cache import CollateralCache
from .config import FetchConfig
from .http import Fetcher, Response
from .pccs import DEFAULT_PCCS_URL, ENV_PCCS_URL, PccsClient
from .phala import (
    DEFAULT_API_VERSION,
    DEFAULT_PREFIX,
    ENV_API_KEY,
    ENV_API_PREFIX,
    ApiResponse,
    PhalaCloudClient,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_PCCS_URL",
    "DEFAULT_PREFIX",
    "ENV_API_KEY",
    "ENV_API_PREFIX",
    "ENV_PCCS_URL",
    "ApiResponse",
    "CollateralCache",
    "FetchConfig",
    "FetchError",
    "Fetcher",
    "InstanceResult",
    "PccsClient",
    "PhalaCloudClient",
    "Response",
    "fetch_app_bundles",
    "fetch_cvm_bundle",
]
