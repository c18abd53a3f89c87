"""A codec server: Temporal's web UI and CLI show encrypted job state decrypted.

With :class:`~durable_jobs.codec.AesGcmCodec`, Temporal stores only ciphertext, so its web UI and
``temporal workflow show`` show ``binary/encrypted`` blobs. A codec server holds the keys and
decrypts on request, over Temporal's codec server protocol: ``POST .../decode`` and
``POST .../encode`` with the JSON form of ``temporal.api.common.v1.Payloads``
(``{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}``). Only the last
part of the path counts, so the endpoint may be mounted under any prefix.

Run it with the same keys as the workers (see :mod:`durable_jobs.codec` for the key file)::

    durable-jobs --key-file keys.txt codec-server --port 8081

Then point Temporal's tools at ``http://127.0.0.1:8081``:

- web UI: Settings (the gear at the top right; in older UIs the "Data Encoder" icon) ->
  Codec Server -> "Codec Server endpoint" ``http://127.0.0.1:8081``, this browser only; or for
  everyone, start the dev server with
  ``temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081``.
- CLI: ``temporal workflow show -w continuous:tokenRefresher:user-1 --codec-endpoint
  http://127.0.0.1:8081`` (also ``workflow describe``, ``workflow query``; or
  ``TEMPORAL_CODEC_ENDPOINT``, or ``codec.endpoint`` in a profile of Temporal's config file).

The browser calls the codec server from the web UI's page, so the server answers CORS:
``OPTIONS`` preflights and ``Access-Control-Allow-Origin`` for the allowed origins only (default
the dev server's UI, ``http://localhost:8233``; ``--allow-origin`` repeats), with
``Access-Control-Allow-Headers: Content-Type, X-Namespace, Authorization`` and
``Access-Control-Allow-Credentials: true`` (for the UI's "Include cross-origin credentials").
A request from another origin is refused (403). Requests without an ``Origin`` (the CLI, curl)
need no CORS. ``X-Namespace``, which the UI and CLI send, is logged, and with ``namespaces``
(``--allow-namespace``) a request for another namespace is refused (403). With
``authorization`` (``--auth``, ``DURABLE_JOBS_CODEC_AUTH``) a request must carry exactly that
``Authorization`` header (``temporal --codec-auth``; the UI's "Pass access token" sends the
user's own token instead, so leave it unset behind an authenticating proxy). Anyone who can
reach the server can decrypt: it listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import hmac
import http.server
import json
import logging
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from types import TracebackType
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

__all__ = ["DEFAULT_PORT", "DEFAULT_UI_ORIGIN", "CodecServer"]

DEFAULT_PORT = 8081
"""The port ``durable-jobs codec-server`` listens on unless told otherwise."""

DEFAULT_UI_ORIGIN = "http://localhost:8233"
"""The dev server's web UI, the origin allowed unless others are given."""

ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
"""The request headers a browser may send (the web UI sends these)."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest request body served; Temporal's own payload limit is 2 MB per payload."""

CODEC_TIMEOUT_SECONDS = 30.0
"""How long one encode or decode may take before the request fails."""

log = logging.getLogger("durable_jobs.codec_server")


class _RefusedError(Exception):
    """A request answered with an HTTP error: ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class CodecServer:
    """Serves ``codec`` over Temporal's codec server protocol (see the module docstring).

    ``start()`` serves from background threads (tests, an application's own process);
    ``serve_forever()`` serves from the calling thread until ``shutdown()`` or an exception
    such as ``KeyboardInterrupt``. Also a context manager (start, then shutdown). ``port=0``
    takes a free port: read it back from :attr:`port`.
    """

    def __init__(
        self,
        codec: PayloadCodec,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        allowed_origins: Collection[str] = (DEFAULT_UI_ORIGIN,),
        namespaces: Collection[str] | None = None,
        authorization: str | None = None,
    ) -> None:
        self._codec = codec
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        self.namespaces = None if namespaces is None else frozenset(namespaces)
        self._authorization = authorization
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="codec-server-loop", daemon=True
        )
        self._serve_thread: threading.Thread | None = None
        try:
            self._http = http.server.ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as err:
            self._loop.close()
            raise OSError(
                err.errno, f"codec server cannot listen on {host}:{port}: {err.strerror}"
            ) from err
        self._http.daemon_threads = True
        self._loop_thread.start()

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._http.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the one taken when ``port=0`` was asked)."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint to give Temporal's tools, e.g. ``http://127.0.0.1:8081``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> CodecServer:
        """Serve from a background thread; returns ``self``."""
        self._serve_thread = threading.Thread(
            target=self._http.serve_forever, name="codec-server", daemon=True
        )
        self._serve_thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until :meth:`shutdown` (from another thread) or an exception."""
        try:
            self._http.serve_forever()
        finally:
            self._close()

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        if self._serve_thread is not None:
            self._http.shutdown()
            self._serve_thread.join()
            self._serve_thread = None
        self._close()

    def _close(self) -> None:
        self._http.server_close()
        if self._loop_thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join()
        if not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> CodecServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def origin_allowed(self, origin: str) -> bool:
        """True when a browser page from ``origin`` may call the server."""
        return "*" in self.allowed_origins or origin.rstrip("/") in self.allowed_origins

    def check(self, headers: Any) -> None:
        """Refuse a POST whose origin, authorization or namespace is not served."""
        origin = headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin):
            raise _RefusedError(
                403, f"origin {origin!r} is not allowed; expected one of {self._shown}"
            )
        if self._authorization is not None:
            given = headers.get("Authorization") or ""
            if not hmac.compare_digest(given.encode(), self._authorization.encode()):
                raise _RefusedError(401, "missing or wrong Authorization header")
        namespace = headers.get("X-Namespace")
        if self.namespaces is not None and namespace not in self.namespaces:
            raise _RefusedError(
                403,
                f"namespace {namespace!r} is not served; expected X-Namespace one of "
                f"{sorted(self.namespaces)}",
            )

    @property
    def _shown(self) -> list[str]:
        return sorted(self.allowed_origins)

    def run_codec(self, operation: str, payloads: Sequence[Payload]) -> list[Payload]:
        """``codec.encode`` or ``codec.decode`` of ``payloads``, on the server's event loop."""
        call = self._codec.encode if operation == "encode" else self._codec.decode
        future = asyncio.run_coroutine_threadsafe(call(payloads), self._loop)
        try:
            return future.result(timeout=CODEC_TIMEOUT_SECONDS)
        except FutureTimeoutError as err:
            future.cancel()
            raise _RefusedError(
                503, f"{operation} took over {CODEC_TIMEOUT_SECONDS:g} s; expected a quick codec"
            ) from err


def _handler_for(server: CodecServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_CodecRequestHandler):
        codec_server = server

    return Handler


class _CodecRequestHandler(http.server.BaseHTTPRequestHandler):
    """One connection to the codec server (HTTP/1.1, keep-alive)."""

    codec_server: CodecServer
    protocol_version = "HTTP/1.1"
    server_version = "durable-jobs-codec-server"

    def do_OPTIONS(self) -> None:
        """Answer a CORS preflight for ``.../encode`` and ``.../decode``."""
        if self._operation() is None:
            self._answer(404, self._not_found())
            return
        origin = self.headers.get("Origin")
        if origin is None or not self.codec_server.origin_allowed(origin):
            self._answer(
                403,
                f"origin {origin!r} is not allowed; expected one of {self.codec_server._shown}",
            )
            return
        self._answer(204, None, preflight=True)

    def do_POST(self) -> None:
        """Encode or decode the request's payloads."""
        operation = self._operation()
        try:
            if operation is None:
                raise _RefusedError(404, self._not_found())
            self.codec_server.check(self.headers)
            body = self._body()
            try:
                request = json_format.Parse(body, Payloads())
            except (json_format.ParseError, UnicodeDecodeError) as err:
                raise _RefusedError(
                    400,
                    'body is not Payloads JSON; expected {"payloads": [{"metadata": {...}, '
                    f'"data": "<base64>"}}]}}: {err}',
                ) from err
            try:
                result = self.codec_server.run_codec(operation, list(request.payloads))
            except _RefusedError:
                raise
            except Exception as err:
                raise _RefusedError(
                    400, f"{operation} failed: {type(err).__name__}: {err}"
                ) from err
        except _RefusedError as refused:
            # The body may be unread: the connection cannot carry another request.
            self.close_connection = True
            self._answer(refused.status, refused.reason)
            return
        answer = json_format.MessageToJson(Payloads(payloads=result), indent=None)
        self._answer(200, answer, content_type="application/json", count=len(result))

    def do_GET(self) -> None:
        """Answer 404 naming the endpoints (for a person trying the address in a browser)."""
        self._answer(404, self._not_found())

    def _operation(self) -> str | None:
        last = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return last if last in ("encode", "decode") else None

    def _not_found(self) -> str:
        return (
            f"no codec endpoint at {self.command} {self.path}; expected POST .../encode or "
            "POST .../decode (Temporal's codec server protocol)"
        )

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise _RefusedError(411, "chunked bodies are not read; expected a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _RefusedError(411, "expected a Content-Length header")
        if int(length) > MAX_BODY_BYTES:
            raise _RefusedError(413, f"body of {length} bytes; expected at most {MAX_BODY_BYTES}")
        return self.rfile.read(int(length))

    def _answer(
        self,
        status: int,
        body: str | None,
        *,
        content_type: str = "text/plain; charset=utf-8",
        preflight: bool = False,
        count: int | None = None,
    ) -> None:
        data = b"" if body is None else body.encode()
        if status >= 400 and body is not None:
            data = json.dumps({"error": body}).encode()
            content_type = "application/json"
        # Error answers carry CORS headers too, so the web UI can show why.
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin is not None and self.codec_server.origin_allowed(origin):
            wildcard = "*" in self.codec_server.allowed_origins
            self.send_header("Access-Control-Allow-Origin", "*" if wildcard else origin)
            if not wildcard:
                # Browsers refuse credentials with "*"; with a named origin they are allowed.
                self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")
            if preflight:
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
                self.send_header("Access-Control-Max-Age", "600")
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)
        log.info(
            "%s %s -> %s (namespace %s%s)%s",
            self.command,
            self.path,
            status,
            self.headers.get("X-Namespace") or "-",
            "" if count is None else f", {count} payloads",
            f": {body}" if status >= 400 and body else "",
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own stderr lines; :meth:`_answer` logs each request."""
