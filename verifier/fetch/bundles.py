"""From a CVM id (or an app id) to evidence bundles: fetch, add collateral, freeze."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..bundle import Bundle, BundleSource, make_bundle
from ..errors import FetchError, InputError
from ..evidence import load_evidence
from ..jsonspan import array_spans, document_spans
from .pccs import PccsClient
from .phala import ApiResponse, PhalaCloudClient


def _now() -> datetime:
    return datetime.now(UTC)


def _quote(text: str, what: str) -> bytes:
    """The quote of evidence the API served (needed to pick the collateral)."""
    try:
        evidence = load_evidence(text)
    except InputError as exc:
        raise FetchError(f"{what}: the API's attestation is not usable evidence: {exc}") from None
    if evidence.quote is None:
        why = f" (API error: {evidence.error})" if evidence.error else ""
        raise FetchError(f"{what}: the attestation carries no quote{why}; is the CVM running?")
    return evidence.quote


def fetch_cvm_bundle(
    cvm_id: str,
    *,
    api: PhalaCloudClient,
    pccs: PccsClient | None,
    clock: Callable[[], datetime] = _now,
    chain: bytes | None = None,
    compose: bytes | None = None,
    collateral: bytes | None = None,
) -> Bundle:
    """Fetch the attestation of ``cvm_id`` and, unless ``pccs`` is ``None``, its collateral.

    ``fetched_at`` is the clock when the attestation arrived; the collateral is the one valid
    then. ``chain``, ``compose`` and ``collateral`` (files the user has; ``collateral`` replaces
    the PCCS's) are frozen with it.
    """
    response = api.cvm_attestation(cvm_id)
    fetched_at = clock()
    if collateral is None and pccs is not None:
        fetched = pccs.collateral_for_quote(_quote(response.text, f"CVM {cvm_id}"), at=fetched_at)
        collateral = fetched.encode()
    return make_bundle(
        response.text,
        fetched_at=fetched_at,
        source=_source(api, response, pccs, cvm_id=cvm_id),
        collateral=collateral,
        chain=chain,
        compose=compose,
    )


@dataclass(frozen=True)
class InstanceResult:
    """One instance of an app: its bundle, or why there is none."""

    index: int
    instance_id: str | None
    bundle: Bundle | None = None
    skipped: str | None = None
    error: FetchError | None = None


def fetch_app_bundles(
    app_id: str,
    *,
    api: PhalaCloudClient,
    pccs: PccsClient | None,
    clock: Callable[[], datetime] = _now,
    progress: Callable[[int, int], None] | None = None,
) -> list[InstanceResult]:
    """One bundle per running instance of ``app_id`` (public endpoint, no key).

    Each bundle's attestation is the exact text of ``instances[i]`` in the response (whose
    SHA-256 is recorded in ``source.response_sha256``). Stopped instances (``quote: null``) are
    skipped; an instance whose collateral cannot be fetched carries its error, the others go on.
    """
    response = api.app_attestations(app_id)
    fetched_at = clock()
    texts = _instance_texts(response)
    results: list[InstanceResult] = []
    for index, text in enumerate(texts):
        if progress is not None:
            progress(index, len(texts))
        document = json.loads(text)
        instance_id = _instance_id(document)
        if not isinstance(document, dict) or not _has_quote(document):
            results.append(InstanceResult(index, instance_id, skipped="no quote (stopped?)"))
            continue
        try:
            collateral = None
            if pccs is not None:
                quote = _quote(text, f"app {app_id} instance {index}")
                collateral = pccs.collateral_for_quote(quote, at=fetched_at)
        except FetchError as exc:
            results.append(InstanceResult(index, instance_id, error=exc))
            continue
        source = _source(
            api, response, pccs, app_id=app_id, instance=index, instance_id=instance_id
        )
        bundle = make_bundle(text, fetched_at=fetched_at, source=source, collateral=collateral)
        results.append(InstanceResult(index, instance_id, bundle=bundle))
    if progress is not None:
        progress(len(texts), len(texts))
    return results


def _instance_texts(response: ApiResponse) -> list[str]:
    """The exact text of each element of the response's ``instances``."""
    text = response.text
    try:
        spans = document_spans(text)
        if "instances" not in spans:
            raise InputError("missing", location="instances")
        elements, _ = array_spans(text, spans["instances"][0], location="instances")
    except InputError as exc:
        raise FetchError(f"unexpected response shape: {exc}", url=response.url) from None
    return [text[start:end] for start, end in elements]


def _has_quote(document: dict[str, object]) -> bool:
    if isinstance(document.get("quote"), str) and document["quote"]:
        return True
    certificates = document.get("app_certificates")
    return isinstance(certificates, list) and any(
        isinstance(c, dict) and isinstance(c.get("quote"), str) for c in certificates
    )


def _instance_id(document: object) -> str | None:
    if not isinstance(document, dict):
        return None
    for holder in (document, document.get("runtime_data")):
        if isinstance(holder, dict) and isinstance(holder.get("instance_id"), str):
            value: str = holder["instance_id"]
            return value
    return None


def _source(
    api: PhalaCloudClient,
    response: ApiResponse,
    pccs: PccsClient | None,
    *,
    cvm_id: str | None = None,
    app_id: str | None = None,
    instance: int | None = None,
    instance_id: str | None = None,
) -> BundleSource:
    return BundleSource(
        api_url=response.url,
        api_version=response.api_version,
        cvm_id=cvm_id,
        app_id=app_id,
        instance=instance,
        instance_id=instance_id,
        response_sha256=response.sha256 if instance is not None else None,
        request_id=response.request_id,
        pccs_url=pccs.public_url if pccs is not None else None,
    )
