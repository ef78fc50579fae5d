"""The one place that talks HTTP: limits, retries, and error mapping to :class:`FetchError`.

Every request of cvm-verifier goes through :class:`Fetcher`. It owns the limits of
:class:`~verifier.fetch.config.FetchConfig` (timeouts, bounded retries with backoff and jitter,
maximum body size), checks status, content type and JSON, and turns every failure into one
:class:`~verifier.errors.FetchError` carrying the status, the API's message and its request id.
Secrets handed to it (an API key) are scrubbed from everything it reports.
"""

from __future__ import annotations

import email.utils
import functools
import json
import random as _random
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import FetchError
from .config import FetchConfig

#: statuses worth another try: rate limiting and gateways (RFC 9110 §15.6); never other 4xx
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: what a status means, for the one-line error
_STATUS_MEANING = {
    400: "bad request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not found",
    422: "rejected as invalid",
    429: "rate limited",
    500: "server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}

_ONE_LINE = re.compile(r"\s+")
#: control characters (terminal escapes) an API or server could put into a message
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the longest API message kept in an error
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class Response:
    """A complete response: status, headers (lower-case names) and the exact body bytes."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def request_id(self) -> str | None:
        return self.header("x-request-id")


class Secret:
    """A string (an API key) that never shows itself in a repr, str or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'[redacted]'"

    __str__ = __repr__


class _Retry(Exception):
    """A failure worth retrying (internal)."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class Fetcher:
    """GET with limits. Thread-unsafe; one per client. Use as a context manager or ``close()``.

    ``transport`` replaces httpx's network transport (tests, proxies); ``sleep``, ``random`` and
    ``clock`` make retries deterministic in tests. ``secrets`` are strings (API keys) that must
    never appear in an error: they are replaced by ``[redacted]``.
    """

    def __init__(
        self,
        config: FetchConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        random: Callable[[], float] | None = None,
        clock: Callable[[], float] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.config = config or FetchConfig()
        self._sleep = time.sleep if sleep is None else sleep
        self._random = _random.random if random is None else random
        self._clock = time.time if clock is None else clock
        self._secrets = tuple(Secret(s) for s in secrets if s)
        timeout = httpx.Timeout(
            connect=self.config.connect_timeout,
            read=self.config.read_timeout,
            write=self.config.read_timeout,
            pool=self.config.connect_timeout,
        )
        self._client = httpx.Client(
            transport=transport,
            verify=_tls_context(),
            timeout=timeout,
            follow_redirects=False,  # a redirect must never carry an API key elsewhere
            trust_env=self.config.trust_env,
            headers={"User-Agent": self.config.user_agent},
        )

    def __repr__(self) -> str:
        return f"Fetcher({self.config!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the request ---------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        json_body: bool = True,
        hints: Mapping[int, str] | None = None,
    ) -> Response:
        """GET ``url`` and return the whole 2xx response, or raise :class:`FetchError`.

        ``what`` names the request in errors ("attestation of CVM x"). With ``json_body`` the
        content type must be JSON and the body UTF-8 JSON. ``hints`` add advice per status.
        """
        attempt = 0
        while True:
            try:
                response = self._once(url, what, headers or {}, hints or {})
            except _Retry as retry:
                if attempt >= self.config.retries:
                    raise self._scrub(retry.error) from None
                delay = self._delay(attempt, retry.retry_after)
                if delay is None:
                    raise self._scrub(retry.error) from None
                self._sleep(delay)
                attempt += 1
                continue
            except FetchError as exc:
                raise self._scrub(exc) from None
            if json_body:
                self._check_json(response, what)
            return response

    def _once(
        self, url: str, what: str, headers: Mapping[str, str], hints: Mapping[int, str]
    ) -> Response:
        try:
            with self._client.stream("GET", url, headers=dict(headers)) as reply:
                body = self._read_body(reply, url, what)
                response = Response(
                    url=url,
                    status=reply.status_code,
                    headers={k.lower(): v for k, v in reply.headers.items()},
                    body=body,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retry(FetchError(f"{what}: cannot connect ({_reason(exc)})", url=url)) from None
        except httpx.TimeoutException:
            raise FetchError(
                f"{what}: timed out after {self.config.read_timeout:g} s", url=url
            ) from None
        except httpx.RemoteProtocolError as exc:
            raise FetchError(
                f"{what}: broken or truncated response ({_reason(exc)})", url=url
            ) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{what}: {type(exc).__name__} ({_reason(exc)})", url=url) from None
        if 200 <= response.status < 300:
            return response
        error = _status_error(response, what, hints)
        if response.status in RETRY_STATUSES:
            raise _Retry(error, _retry_after(response.header("retry-after"), self._clock))
        raise error

    def _read_body(self, reply: httpx.Response, url: str, what: str) -> bytes:
        limit = self.config.max_body_bytes
        declared = reply.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise FetchError(f"{what}: response larger than {limit} bytes ({declared})", url=url)
        chunks: list[bytes] = []
        size = 0
        for chunk in reply.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"{what}: response larger than {limit} bytes", url=url)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_json(self, response: Response, what: str) -> None:
        media = (response.header("content-type") or "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise FetchError(
                f"{what}: expected JSON, got content type {media or 'none'!r}",
                url=response.url,
                status=response.status,
                request_id=response.request_id,
            )
        try:
            json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FetchError(
                f"{what}: the response is not valid UTF-8 JSON",
                url=response.url,
                status=response.status,
                request_id=response.request_id,
            ) from None

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry ``attempt + 1``, or ``None`` to give up now."""
        cap = float(min(self.config.backoff_max, self.config.backoff_base * 2**attempt))
        backoff = cap / 2 + self._random() * cap / 2  # "equal jitter"
        if retry_after is None:
            return backoff
        if retry_after > self.config.max_retry_after:
            return None
        return max(retry_after, backoff)

    def _scrub(self, error: FetchError) -> FetchError:
        """The same error with every secret replaced (an API could echo a key back)."""
        if not self._secrets:
            return error

        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            for secret in self._secrets:
                text = text.replace(secret.reveal(), "[redacted]")
            return text

        return FetchError(
            clean(error.message) or "",
            url=clean(error.url),
            status=error.status,
            api_message=clean(error.api_message),
            request_id=clean(error.request_id),
            error_code=clean(error.error_code),
        )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once (building one costs ~30 ms)."""
    return httpx.create_ssl_context()


def _reason(exc: BaseException) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    text = _CONTROL.sub("?", _ONE_LINE.sub(" ", text).strip())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _status_error(response: Response, what: str, hints: Mapping[int, str]) -> FetchError:
    """One error for a non-2xx response: FastAPI ``detail`` or the structured error format."""
    api_message: str | None = None
    error_code: str | None = None
    request_id = response.request_id
    document: Any = None
    try:
        document = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        document = None
    if isinstance(document, dict):
        message = document.get("message")
        detail = document.get("detail")
        if isinstance(message, str):
            api_message = message
        elif isinstance(detail, str):
            api_message = detail
        elif isinstance(detail, list):
            api_message = "; ".join(_validation_item(item) for item in detail[:5])
        if isinstance(document.get("error_code"), str):
            error_code = document["error_code"]
        if isinstance(document.get("request_id"), str):
            request_id = request_id or document["request_id"]
    meaning = _STATUS_MEANING.get(response.status, "HTTP error")
    hint = hints.get(response.status)
    return FetchError(
        f"{what}: {meaning}" + (f" ({hint})" if hint else ""),
        url=response.url,
        status=response.status,
        api_message=_one_line(api_message) if api_message else None,
        request_id=_one_line(request_id) if request_id else None,
        error_code=_one_line(error_code) if error_code else None,
    )


def _validation_item(item: object) -> str:
    """A FastAPI 422 entry ``{loc, msg, type}`` as ``path.to.field: message``."""
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    msg = item.get("msg")
    text = msg if isinstance(msg, str) else "invalid"
    return f"{where}: {text}" if where else text


def _retry_after(value: str | None, clock: Callable[[], float]) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - clock())
