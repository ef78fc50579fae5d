"""Real HTTP servers on 127.0.0.1 for the fetch tests: a Phala Cloud API emulator and a PCCS
emulator serving the corpus, with fault injection. No mock of the HTTP client anywhere.

Each server runs in a thread on an ephemeral port. ``faults`` is a queue: while it is not empty,
each request gets the next fault instead of the normal answer (and is still recorded).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: an API key that looks real; tests grep every output and written file for it
API_KEY = "phak_TEST-only-8c1f0e2d9b7a4c3e5f6a7b8c9d0e1f2a"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    """What the server sends. ``delay`` waits before answering; ``truncate`` declares the whole
    length but sends half the body and closes; ``close`` closes without any response; ``padding``
    streams that many extra bytes after the body (an oversized response); ``no_length`` sends
    no Content-Length and ends the body by closing."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False
    close: bool = False
    padding: int = 0
    #: no Content-Length: the body ends when the connection closes
    no_length: bool = False

    @classmethod
    def json(cls, document: object, status: int = 200, **options: Any) -> Reply:
        return cls(status=status, body=json.dumps(document).encode(), **options)


Route = Callable[[Request], Reply]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (a timeout test) is expected here


class EmulatorServer:
    """One threaded HTTP server; ``route`` answers each request unless a fault is queued."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.faults: list[Reply] = []
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm
                # and delayed ACKs add 40 ms to every request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                request = Request(
                    "GET", parts.path, query, {k.lower(): v for k, v in self.headers.items()}
                )
                server.requests.append(request)
                reply = server.faults.pop(0) if server.faults else server.route(request)
                server._send(self, reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            self._stopping.wait(reply.delay)
        try:
            if reply.close:
                handler.close_connection = True
                handler.connection.close()
                return
            handler.send_response(reply.status)
            if reply.content_type:
                handler.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            if not reply.no_length:
                handler.send_header("Content-Length", str(len(reply.body) + reply.padding))
            if reply.truncate or reply.no_length:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            if reply.truncate:
                handler.wfile.write(reply.body[: len(reply.body) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(reply.body)
            remaining = reply.padding
            while remaining > 0:
                chunk = min(remaining, 65536)
                handler.wfile.write(b" " * chunk)
                remaining -= chunk
        except (BrokenPipeError, ConnectionResetError, OSError):
            handler.close_connection = True


# --- the Phala Cloud API --------------------------------------------------------------------


class PhalaCloudEmulator:
    """``/api/v1/cvms/{id}/attestation`` (key required) and ``/api/v1/apps/{id}/attestations``
    (public), answering like the real API: FastAPI ``detail`` errors (401 without a key, 403,
    422) and structured errors (``error_code``, ``message``, ``request_id``) with
    ``X-Request-ID``."""

    def __init__(
        self,
        api_key: str,
        *,
        cvms: dict[str, bytes] | None = None,
        apps: dict[str, bytes] | None = None,
        forbidden: frozenset[str] = frozenset(),
    ) -> None:
        self.api_key = api_key
        self.cvms = dict(cvms or {})
        self.apps = dict(apps or {})
        self.forbidden = forbidden
        self._count = 0
        self.server = EmulatorServer(self.route)

    @property
    def prefix(self) -> str:
        return f"{self.server.url}/api/v1"

    def _request_id(self) -> str:
        self._count += 1
        return f"req-{self._count:04d}"

    def _structured(self, status: int, code: str, message: str) -> Reply:
        rid = self._request_id()
        document = {"error_code": code, "message": message, "request_id": rid, "details": []}
        return Reply.json(document, status, headers={"X-Request-ID": rid})

    def route(self, request: Request) -> Reply:
        cvm = re.fullmatch(r"/api/v1/cvms/([^/]+)/attestation", request.path)
        if cvm:
            return self._cvm(unquote(cvm.group(1)), request)
        app = re.fullmatch(r"/api/v1/apps/([^/]+)/attestations", request.path)
        if app:
            body = self.apps.get(unquote(app.group(1)))
            if body is None:
                return self._structured(404, "ERR-02-001", "App not found")
            return Reply(body=body, headers={"X-Request-ID": self._request_id()})
        return Reply.json({"detail": "Not Found"}, 404)

    def _cvm(self, cvm_id: str, request: Request) -> Reply:
        key = request.headers.get("x-api-key")
        if key is None:
            return Reply.json({"detail": "Not authenticated"}, 401)
        if key != self.api_key:
            return self._structured(401, "ERR-01-001", "Invalid API key")
        if ":" in cvm_id:
            detail = [{"loc": ["path", "cvm_id"], "msg": "invalid CVM id", "type": "value_error"}]
            return Reply.json({"detail": detail}, 422)
        if cvm_id in self.forbidden:
            return Reply.json({"detail": "CVM does not belong to the current workspace"}, 403)
        body = self.cvms.get(cvm_id)
        if body is None:
            return self._structured(404, "ERR-03-001", f"CVM {cvm_id} not found")
        return Reply(body=body, headers={"X-Request-ID": self._request_id()})


# --- a PCCS (Intel PCS v4 API) --------------------------------------------------------------


@dataclass(frozen=True)
class PcsResponses:
    """The four PCS v4 responses that carry one dcap-qvl collateral JSON."""

    fmspc: str
    pck_crl_der: bytes
    pck_crl_chain: str
    root_crl_hex: str
    tcb_body: str
    tcb_chain: str
    qe_body: str
    qe_chain: str


def pcs_responses(collateral: bytes, *, spaced: bool = False) -> PcsResponses:
    """Derive the PCS v4 responses from a corpus collateral. ``spaced``: pretty-printed bodies
    with the signature first, as a server may send them (the signed inner text is unchanged)."""
    document = json.loads(collateral)
    tcb_info = document["tcb_info"]
    qe_identity = document["qe_identity"]

    def body(key: str, inner: str, signature: str) -> str:
        if spaced:
            return f'{{\n  "signature": "{signature}",\n  "{key}": {inner}\n}}\n'
        return f'{{"{key}":{inner},"signature":"{signature}"}}'

    return PcsResponses(
        fmspc=json.loads(tcb_info)["fmspc"].upper(),
        pck_crl_der=bytes.fromhex(document["pck_crl"]),
        pck_crl_chain=document["pck_crl_issuer_chain"],
        root_crl_hex=document["root_ca_crl"],
        tcb_body=body("tcbInfo", tcb_info, document["tcb_info_signature"]),
        tcb_chain=document["tcb_info_issuer_chain"],
        qe_body=body("enclaveIdentity", qe_identity, document["qe_identity_signature"]),
        qe_chain=document["qe_identity_issuer_chain"],
    )


class PccsEmulator:
    """Serves one collateral (one FMSPC, CA ``platform``) in the PCS v4 shape: DER PCK CRL, hex
    root CA CRL (as a PCCS does), TCB info and QE identity JSON, URL-encoded issuer chains."""

    def __init__(
        self,
        collateral: bytes,
        *,
        spaced: bool = False,
        tcb_header: str = "TCB-Info-Issuer-Chain",
    ) -> None:
        self.responses = pcs_responses(collateral, spaced=spaced)
        self.tcb_header = tcb_header
        self.server = EmulatorServer(self.route)

    @property
    def url(self) -> str:
        return self.server.url

    def serve(self, collateral: bytes) -> None:
        """Serve another collateral from now on (Intel publishes new collateral)."""
        self.responses = pcs_responses(collateral)

    def route(self, request: Request) -> Reply:
        r = self.responses
        path, query = request.path, request.query
        if path == "/sgx/certification/v4/pckcrl" and query.get("ca") == "platform":
            chain = {"SGX-PCK-CRL-Issuer-Chain": quote(r.pck_crl_chain, safe="")}
            return Reply(body=r.pck_crl_der, content_type="application/pkix-crl", headers=chain)
        if path == "/sgx/certification/v4/rootcacrl":
            return Reply(body=r.root_crl_hex.encode(), content_type="text/plain")
        if path == "/tdx/certification/v4/tcb" and query.get("fmspc", "").upper() == r.fmspc:
            chain = {self.tcb_header: quote(r.tcb_chain, safe="")}
            return Reply(body=r.tcb_body.encode(), headers=chain)
        if path == "/tdx/certification/v4/qe/identity":
            chain = {"SGX-Enclave-Identity-Issuer-Chain": quote(r.qe_chain, safe="")}
            return Reply(body=r.qe_body.encode(), headers=chain)
        return Reply.json({"detail": "Not Found"}, 404)
