"""PhalaCloudClient against the API emulator: conventions, errors, and the key kept secret."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.corpus import case
from tests.fetch.emulators import API_KEY, PhalaCloudEmulator, Reply
from verifier.errors import FetchError, InputError
from verifier.fetch import DEFAULT_API_VERSION, DEFAULT_PREFIX, FetchConfig, PhalaCloudClient

APP = case("app-uptodate")


def _client(
    phala: PhalaCloudEmulator, key: str | None = API_KEY, **options: object
) -> PhalaCloudClient:
    return PhalaCloudClient(key, prefix=phala.prefix, retries=0, **options)  # type: ignore[arg-type]


def _error(client: PhalaCloudClient, cvm_id: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        client.cvm_attestation(cvm_id)
    assert API_KEY not in str(info.value)
    return info.value


def test_the_attestation_is_kept_exactly_as_received(phala: PhalaCloudEmulator) -> None:
    response = _client(phala).cvm_attestation("app-uptodate")
    assert response.text.encode() == APP.evidence
    assert response.sha256 == hashlib.sha256(APP.evidence).hexdigest()
    assert response.url == f"{phala.prefix}/cvms/app-uptodate/attestation"
    assert response.request_id == "req-0001"
    assert response.api_version == DEFAULT_API_VERSION


def test_the_ecosystem_headers_are_sent(phala: PhalaCloudEmulator) -> None:
    _client(phala, api_version="2025-10-28").cvm_attestation("app-uptodate")
    headers = phala.server.requests[0].headers
    assert headers["x-api-key"] == API_KEY
    assert headers["x-phala-version"] == "2025-10-28"
    assert headers["accept"] == "application/json"


def test_from_env_reads_the_sdk_variables(phala: PhalaCloudEmulator) -> None:
    env = {"PHALA_CLOUD_API_KEY": API_KEY, "PHALA_CLOUD_API_PREFIX": phala.prefix}
    client = PhalaCloudClient.from_env(env)
    assert client.prefix == phala.prefix and client.has_key
    assert client.cvm_attestation("app-uptodate").text.encode() == APP.evidence
    default = PhalaCloudClient.from_env({})
    assert (default.prefix, default.has_key) == (DEFAULT_PREFIX, False)


def test_without_a_key_nothing_is_sent(phala: PhalaCloudEmulator) -> None:
    error = _error(_client(phala, key=None), "app-uptodate")
    assert "PHALA_CLOUD_API_KEY" in str(error)
    assert phala.server.requests == []


def test_401_without_the_api_knowing_the_key(phala: PhalaCloudEmulator) -> None:
    error = _error(_client(phala, key="phak_wrong"), "app-uptodate")
    assert (error.status, error.error_code, error.api_message) == (
        401,
        "ERR-01-001",
        "Invalid API key",
    )
    assert error.request_id == "req-0001"
    assert "unauthenticated (is PHALA_CLOUD_API_KEY set to a valid API key?)" in str(error)


def test_403_for_a_cvm_of_another_workspace(phala: PhalaCloudEmulator) -> None:
    phala.forbidden = frozenset({"theirs"})
    error = _error(_client(phala), "theirs")
    assert error.status == 403
    assert error.api_message == "CVM does not belong to the current workspace"
    assert "not in this API key's workspace" in str(error)


def test_404_is_a_structured_error_with_the_request_id(phala: PhalaCloudEmulator) -> None:
    error = _error(_client(phala), "missing")
    assert (error.status, error.error_code, error.request_id) == (404, "ERR-03-001", "req-0001")
    assert str(error) == (
        "attestation of CVM missing: not found (HTTP 404): ERR-03-001: CVM missing not found "
        f"[{phala.prefix}/cvms/missing/attestation] (request id req-0001)"
    )


def test_422_validation_errors_name_the_field(phala: PhalaCloudEmulator) -> None:
    error = _error(_client(phala), "bad:id")
    assert error.status == 422
    assert error.api_message == "path.cvm_id: invalid CVM id"


def test_rate_limiting_is_retried(phala: PhalaCloudEmulator) -> None:
    phala.server.faults = [
        Reply.json(
            {"error_code": "ERR-05-002", "message": "Too many requests"},
            429,
            headers={"Retry-After": "1"},
        )
    ]
    sleeps: list[float] = []
    client = PhalaCloudClient(API_KEY, prefix=phala.prefix, sleep=sleeps.append)
    assert client.cvm_attestation("app-uptodate").text.encode() == APP.evidence
    assert sleeps == [1.0]


def test_the_public_app_endpoint_sends_no_key(phala: PhalaCloudEmulator) -> None:
    phala.apps["ab" * 20] = b'{"app_id": "abab", "instances": []}'
    response = _client(phala).app_attestations("ab" * 20)
    assert json.loads(response.text) == {"app_id": "abab", "instances": []}
    assert "x-api-key" not in phala.server.requests[0].headers


@pytest.mark.parametrize("cvm_id", ["", "../admin", "a/b", "x" * 200, "a b", "é"])
def test_ids_that_are_not_ids_are_refused_before_any_request(
    phala: PhalaCloudEmulator, cvm_id: str
) -> None:
    with pytest.raises(InputError):
        _client(phala).cvm_attestation(cvm_id)
    assert phala.server.requests == []


def test_the_key_is_never_sent_over_plain_http_to_another_host() -> None:
    with pytest.raises(InputError, match="plain HTTP"):
        PhalaCloudClient(API_KEY, prefix="http://cloud-api.example/api/v1")
    PhalaCloudClient(None, prefix="http://cloud-api.example/api/v1")  # public endpoint: fine
    with pytest.raises(InputError, match="not an http"):
        PhalaCloudClient(API_KEY, prefix="ftp://x")


def test_the_key_never_shows_in_reprs(phala: PhalaCloudEmulator) -> None:
    client = _client(phala)
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert "[redacted]" in repr(client)
    assert API_KEY not in repr(vars(client))
    assert API_KEY not in repr(vars(client._fetcher))
    assert API_KEY not in repr(FetchConfig())


def test_the_recorded_url_drops_credentials_and_query(phala: PhalaCloudEmulator) -> None:
    prefix = phala.prefix.replace("http://", "http://user:pw@") + "?token=x"
    client = PhalaCloudClient(API_KEY, prefix=prefix.replace("?token=x", ""), retries=0)
    response = client.cvm_attestation("app-uptodate")
    assert "user" not in response.url and "pw" not in response.url
    assert response.url == f"{phala.prefix}/cvms/app-uptodate/attestation"


def test_an_offline_cvm_is_still_received_as_is(phala: PhalaCloudEmulator) -> None:
    offline = b'{"is_online": false, "error": "CVM is stopped", "app_certificates": null}'
    phala.cvms["stopped"] = offline
    assert _client(phala).cvm_attestation("stopped").text.encode() == offline


def test_the_transport_is_injectable(phala: PhalaCloudEmulator) -> None:
    import httpx

    class Counting(httpx.HTTPTransport):
        """The real transport, counting what goes through it."""

        calls = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            Counting.calls += 1
            return super().handle_request(request)

    client = PhalaCloudClient(API_KEY, prefix=phala.prefix, transport=Counting())
    assert client.cvm_attestation("app-uptodate").text.encode() == APP.evidence
    assert Counting.calls == 1
