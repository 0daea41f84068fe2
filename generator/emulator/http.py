"""The HTTPS front end: a ``ThreadingHTTPServer`` doing the TLS handshake per connection, and the thin request
handler that hands ``(method, path, headers, body)`` to ``App.handle`` (``app.py``)."""

from __future__ import annotations

import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .core import ApiError

if TYPE_CHECKING:
    from .app import App


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server_version = "amlgen-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log request lines/headers
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        app: App = self.server.app  # type: ignore[attr-defined]
        body = self._read_body()
        try:
            resp = app.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # a bug in the emulator: answer 500 without details of the request
            resp = ApiError(500, "InternalServerError", f"emulator error: {type(exc).__name__}: {exc}").response()
            if app.verbose:
                traceback.print_exc()
        data, headers = resp.encode()
        self.log_request(resp.status)
        self.send_response_only(resp.status)
        self.send_header("Server", headers.pop("Server", self.version_string()))
        self.send_header("Date", self.date_time_string())
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that performs the TLS handshake in the per-connection thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, app: App, ssl_context) -> None:
        self.app = app
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        try:
            request.settimeout(30)  # a client that never completes the handshake holds only its own thread
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass
