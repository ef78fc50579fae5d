"""The one error hierarchy of cvm-verifier.

Every error the library raises on purpose derives from :class:`VerifierError`. Bad input (a file
that is not evidence, a malformed collateral, a broken policy) is an :class:`InputError` that names
where the problem is; misuse of the API (a naive datetime, a wrong type) raises the usual built-in
``ValueError``/``TypeError`` instead, because it is a bug in the caller, not in the data.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``, ``\\x1b``...):
    an error message quoting input stays one line and cannot drive a terminal."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


class VerifierError(Exception):
    """Base class of every error raised by cvm-verifier on purpose."""


class InputError(VerifierError):
    """Input that cannot be used: malformed JSON, wrong types, bad hex, unknown format.

    ``location`` names where the problem is, as a JSON path (``app_certificates[0].quote``), a
    file name, or ``file:line`` for text formats; ``message`` says what is wrong with it.
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        # Both may quote the input (a policy key, a file name): keep the error one safe line.
        self.message = one_line(message)
        self.location = one_line(location) if location is not None else None
        super().__init__(f"{self.location}: {self.message}" if self.location else self.message)

    def within(self, outer: str) -> InputError:
        """Return the same error with ``outer`` (a file name, say) prefixed to its location."""
        location = f"{outer}: {self.location}" if self.location else outer
        return InputError(self.message, location=location)


class FetchError(VerifierError):
    """Fetching evidence or collateral failed: network, HTTP status, or an unusable response.

    ``status`` is the HTTP status (``None`` when no response came), ``api_message`` what the API
    said, ``request_id`` the API's request id (``X-Request-ID`` or the body's ``request_id``),
    ``error_code`` its structured error code. Messages never contain an API key.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        api_message: str | None = None,
        request_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        self.message = message
        self.url = url
        self.status = status
        self.api_message = api_message
        self.request_id = request_id
        self.error_code = error_code
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.message
        if self.status is not None:
            text += f" (HTTP {self.status})"
        if self.api_message:
            code = f"{self.error_code}: " if self.error_code else ""
            text += f": {code}{self.api_message}"
        elif self.error_code:
            text += f": {self.error_code}"
        if self.url:
            text += f" [{self.url}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text
