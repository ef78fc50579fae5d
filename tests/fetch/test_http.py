"""The fetcher against a real server with injected faults: timeouts, retries, limits, errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.fetch.emulators import EmulatorServer, Reply, Request
from verifier.errors import FetchError
from verifier.fetch import FetchConfig, Fetcher

OK = Reply.json({"ok": True})


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    emulator = EmulatorServer(lambda request: OK).start()
    yield emulator
    emulator.stop()


class Sleeps(list[float]):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _fetcher(**config: float | int) -> tuple[Fetcher, Sleeps]:
    sleeps = Sleeps()
    options: dict[str, float | int] = {"connect_timeout": 2.0, "read_timeout": 2.0} | config
    fetcher = Fetcher(FetchConfig(**options), sleep=sleeps, random=lambda: 0.0)  # type: ignore[arg-type]
    return fetcher, sleeps


def _get(fetcher: Fetcher, server: EmulatorServer, *, json_body: bool = True) -> bytes:
    return fetcher.get(f"{server.url}/x", what="thing", json_body=json_body).body


def _error(fetcher: Fetcher, server: EmulatorServer, *, json_body: bool = True) -> FetchError:
    with pytest.raises(FetchError) as info:
        _get(fetcher, server, json_body=json_body)
    return info.value


def test_a_good_response_is_returned_whole(server: EmulatorServer) -> None:
    fetcher, sleeps = _fetcher()
    assert _get(fetcher, server) == b'{"ok": true}'
    assert sleeps == []
    assert server.requests[0].headers["user-agent"].startswith("cvm-verifier/")


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried_with_backoff(server: EmulatorServer, status: int) -> None:
    server.faults = [Reply.json({"detail": "busy"}, status)] * 2
    fetcher, sleeps = _fetcher(backoff_base=1.0)
    assert _get(fetcher, server) == b'{"ok": true}'
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]  # equal jitter with random() = 0: half of 1, 2


def test_retry_after_is_honoured(server: EmulatorServer) -> None:
    server.faults = [Reply.json({"detail": "slow down"}, 429, headers={"Retry-After": "7"})]
    fetcher, sleeps = _fetcher()
    assert _get(fetcher, server) == b'{"ok": true}'
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date(server: EmulatorServer) -> None:
    date = "Wed, 21 Oct 2015 07:28:10 GMT"  # 1445412490
    server.faults = [Reply.json({}, 503, headers={"Retry-After": date})]
    sleeps = Sleeps()
    fetcher = Fetcher(sleep=sleeps, random=lambda: 0.0, clock=lambda: 1445412487.0)
    assert _get(fetcher, server) == b'{"ok": true}'
    assert sleeps == [3.0]


def test_a_retry_after_beyond_the_limit_fails_at_once(server: EmulatorServer) -> None:
    server.faults = [Reply.json({"message": "rate limited"}, 429, headers={"Retry-After": "3600"})]
    fetcher, sleeps = _fetcher(max_retry_after=60)
    error = _error(fetcher, server)
    assert (error.status, sleeps) == (429, [])
    assert "rate limited" in str(error)


def test_retries_are_bounded(server: EmulatorServer) -> None:
    server.faults = [Reply.json({"detail": "down"}, 503)] * 10
    fetcher, sleeps = _fetcher(retries=2, backoff_base=1.0, backoff_max=1.5)
    error = _error(fetcher, server)
    assert error.status == 503
    assert len(server.requests) == 3
    assert sleeps == [0.5, 0.75]  # capped by backoff_max


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500])
def test_other_errors_are_not_retried(server: EmulatorServer, status: int) -> None:
    server.faults = [Reply.json({"detail": "no"}, status)]
    fetcher, sleeps = _fetcher()
    error = _error(fetcher, server)
    assert (error.status, error.api_message, len(server.requests), sleeps) == (
        status,
        "no",
        1,
        [],
    )


def test_a_slow_response_times_out(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b"{}", delay=2.0)]
    fetcher, sleeps = _fetcher(read_timeout=0.2)
    error = _error(fetcher, server)
    assert "timed out after 0.2 s" in str(error)
    assert error.status is None
    assert sleeps == []  # a read timeout is not retried


def test_a_truncated_body_is_an_error(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b'{"quote": "' + b"ab" * 5000 + b'"}', truncate=True)]
    fetcher, _ = _fetcher()
    assert "truncated" in str(_error(fetcher, server))


def test_an_oversized_body_is_refused(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b"{}", padding=200_000)]
    fetcher, _ = _fetcher(max_body_bytes=100_000)
    assert "larger than 100000 bytes" in str(_error(fetcher, server))


def test_an_oversized_body_without_a_length_is_refused_while_reading() -> None:
    def unbounded(request: Request) -> Reply:
        return Reply(body=b"x" * 300_000, no_length=True)

    server = EmulatorServer(unbounded).start()
    try:
        fetcher, _ = _fetcher(max_body_bytes=100_000)
        error = _error(fetcher, server, json_body=False)
        assert str(error).startswith("thing: response larger than 100000 bytes [")
    finally:
        server.stop()


def test_a_wrong_content_type_is_refused(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b"<html>login</html>", content_type="text/html")]
    fetcher, _ = _fetcher()
    assert "expected JSON, got content type 'text/html'" in str(_error(fetcher, server))


def test_invalid_json_is_refused(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b'{"quote": ')]
    fetcher, _ = _fetcher()
    assert "not valid UTF-8 JSON" in str(_error(fetcher, server))


def test_non_json_bodies_are_fine_when_not_expected(server: EmulatorServer) -> None:
    server.faults = [Reply(body=b"\x30\x82", content_type="application/pkix-crl")]
    fetcher, _ = _fetcher()
    assert _get(fetcher, server, json_body=False) == b"\x30\x82"


def test_a_closed_connection_is_an_error(server: EmulatorServer) -> None:
    server.faults = [Reply(close=True)]
    fetcher, _ = _fetcher(retries=0)
    assert str(_error(fetcher, server)).startswith("thing: ")


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fetcher, sleeps = _fetcher(retries=2, backoff_base=0.1)
    with pytest.raises(FetchError, match="cannot connect") as info:
        fetcher.get(f"http://127.0.0.1:{port}/x", what="thing")
    assert info.value.status is None
    assert len(sleeps) == 2


def test_redirects_are_not_followed(server: EmulatorServer) -> None:
    server.faults = [Reply(status=302, headers={"Location": "http://evil.example/"})]
    fetcher, _ = _fetcher()
    assert _error(fetcher, server).status == 302
    assert len(server.requests) == 1


def test_secrets_are_scrubbed_from_errors(server: EmulatorServer) -> None:
    secret = "phak_very-secret"
    server.faults = [Reply.json({"message": f"key {secret} is revoked"}, 401)]
    fetcher = Fetcher(FetchConfig(retries=0), secrets=[secret])
    with pytest.raises(FetchError) as info:
        fetcher.get(f"{server.url}/x", what="thing", headers={"X-API-Key": secret})
    assert secret not in str(info.value)
    assert secret not in repr(info.value.args)
    assert "[redacted]" in str(info.value)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="read_timeout"):
        FetchConfig(read_timeout=0)
    with pytest.raises(ValueError, match="retries"):
        FetchConfig(retries=-1)


def test_api_messages_become_one_clean_line(server: EmulatorServer) -> None:
    message = "bad\n\x1b[31mthing\x1b[0m " + "x" * 1000
    server.faults = [Reply.json({"message": message, "request_id": "r\n1"}, 400)]
    fetcher, _ = _fetcher()
    error = _error(fetcher, server)
    assert error.api_message is not None
    assert error.api_message.startswith("bad ?[31mthing?[0m xxx")
    assert len(error.api_message) == 300
    assert error.request_id == "r 1"
    assert "\n" not in str(error) and "\x1b" not in str(error)
