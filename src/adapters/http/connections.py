"""`KeepAlivePool`: an httpx transport that speaks HTTP/1.1 over kept-alive asyncio connections, for the
Order Service's one question per order to the Product Service.

Why it exists: measured on the project's machine, a POST with a small JSON body to a local uvicorn app cost
the client ~540 us of CPU through `httpx.AsyncClient.request` over the httpx-aiohttp transport, ~250 us of
it in that transport's `handle_async_request` alone, and ~45 us as a hand-written keep-alive exchange over
asyncio streams. The callers keep httpx's API (requests, responses, errors, timeouts); only the transport
under it changes.

What it does: one pool of idle connections per origin (scheme, host, port), most recently used first; the
request line, the request's headers as httpx made them and the body in one write; the answer parsed by
httptools (llhttp, in C: Content-Length, chunked and read-to-close bodies), buffered whole and handed back
already read. A connection goes back to the pool only when the answer allows keep-alive and the connection is
still open; one the server closed while idle leaves the pool as soon as the loop hears of it, and one idle
longer than `idle_expiry_s` is closed when next found, never used (uvicorn closes an idle connection after
5 s, `--timeout-keep-alive`: reusing one near that age races the server's close). A reused connection that
fails before any byte of its answer came (the server closed it as the request went out) is asked again once
on a new connection, when asking twice is safe: an idempotent method, or `retry_on_stale_connection` in the
request's extensions (the caller says so). Failures are httpx's exceptions, as the callers saw from httpx's
own transports, each `from` what caused it and naming the host and port.

What it does not do: HTTP/2, proxies, `Expect: 100-continue`, upgrades, streaming (a request body that is a
stream is read whole first and sent with Content-Length; an answer is read whole before it is returned, so
it is for small answers), a limit on connections open at once (only idle ones are bounded, by `max_idle`; so
httpx's `pool` timeout is never waited on), or pipelining. One event loop: a pool made and used under one
`asyncio.run` is not for another.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools
import httpx

# Methods that mean the same when asked twice (RFC 9110, 9.2.2): a stale connection's request is asked again.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_METHODS = {m: m.encode("ascii") for m in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH")}
_NO_TIMEOUTS: dict[str, float | None] = {}
_PARSER_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)
# The headers that frame a body: an answer with neither ends when the server closes the connection.
_FRAMING = (b"content-length", b"transfer-encoding")

Origin = tuple[str, str, int]


class KeepAlivePool(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio connections kept alive per origin, under `httpx.AsyncClient(transport=...)`.

    `idle_expiry_s`: an idle connection older than this is closed, never reused (keep it below the server's
    keep-alive timeout: uvicorn's is 5 s). `max_idle`: idle connections kept per origin; past it the oldest is
    closed. `ssl_context`: for https, the system's trust store unless given. `clock`: seconds, monotonic.
    """

    def __init__(
        self,
        *,
        idle_expiry_s: float = 4.0,
        max_idle: int = 100,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle_expiry_s = idle_expiry_s
        self._max_idle = max_idle
        self._ssl_context = ssl_context
        self._clock = clock
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._closed = False

    @property
    def idle_connections(self) -> int:
        """How many open connections wait in the pool now, over every origin."""
        return sum(len(idle) for idle in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the pool is closed")
        url = request.url
        scheme = url.scheme
        default_port = _DEFAULT_PORTS.get(scheme)
        if default_port is None:
            raise httpx.UnsupportedProtocol(f"only http and https, not {scheme!r}", request=request)
        origin = (scheme, url.host, url.port or default_port)
        message = await _message(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or _NO_TIMEOUTS
        connection = self._take(origin)
        if connection is not None:
            try:
                return await self._exchange(connection, request, message, timeouts)
            except (httpx.ReadError, httpx.WriteError):
                if connection.answered or not _repeatable(request):
                    raise
            # The server closed it as the request went out, so it cannot have answered: asked again, once,
            # on a connection just made, which no idle timeout can have closed.
        connection = await self._connect(origin, request, timeouts)
        return await self._exchange(connection, request, message, timeouts)

    async def aclose(self) -> None:
        """Closes every idle connection; a connection still in use closes when its answer is in. Any request
        after this raises RuntimeError("the pool is closed")."""
        self._closed = True
        for idle in self._idle.values():
            _close_all(idle)
        self._idle.clear()

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        connection = idle.pop()
        connection.idle_in = None
        if self._clock() - connection.idle_since > self._idle_expiry_s:
            # Newest first: the ones under it have been idle longer still.
            connection.close()
            _close_all(idle)
            return None
        return connection

    async def _exchange(
        self,
        connection: _Connection,
        request: httpx.Request,
        message: bytes,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        try:
            response = await connection.exchange(request, message, timeouts)
        except BaseException:
            # Whatever it was (a timeout, a cancelled caller, a broken answer), what the server will send
            # next on this connection is unknown: it must not answer someone else's request.
            connection.close()
            raise
        if connection.keep_alive and not self._closed and not connection.closing:
            self._put_back(connection)
        else:
            connection.close()
        return response

    def _put_back(self, connection: _Connection) -> None:
        idle = self._idle.get(connection.origin)
        if idle is None:
            idle = self._idle[connection.origin] = deque()
        if len(idle) >= self._max_idle:
            if not idle:  # max_idle 0: nothing is kept
                connection.close()
                return
            oldest = idle.popleft()
            oldest.idle_in = None
            oldest.close()
        connection.idle_since = self._clock()
        connection.idle_in = idle
        idle.append(connection)

    async def _connect(
        self, origin: Origin, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(loop, origin)
        tls = self._tls() if scheme == "https" else None
        limit = timeouts.get("connect")
        try:
            async with asyncio.timeout(limit):  # None: no limit
                await loop.create_connection(
                    lambda: connection, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError as error:  # before OSError: TimeoutError is one (ETIMEDOUT)
            raise httpx.ConnectTimeout(
                f"no connection to {host}:{port} within {limit} s", request=request
            ) from error
        except OSError as error:  # refused, unreachable, unknown name, TLS refused
            raise httpx.ConnectError(
                f"could not connect to {host}:{port}: {error}", request=request
            ) from error
        return connection

    def _tls(self) -> ssl.SSLContext:
        # Made once: loading the trust store costs milliseconds.
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


class _Connection(asyncio.Protocol):
    """One connection and its answer parser; the parser calls the `on_*` methods, within `data_received`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        # The pool's deque this connection waits in, while it waits: where `connection_lost` takes it from.
        self.idle_in: deque[_Connection] | None = None
        self.keep_alive = False
        self.answered = False  # any byte of the current answer arrived
        self.closing = False
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._new_parser = False
        self._answer: asyncio.Future[None] | None = None
        self._head = False
        self._complete = False
        self._headers_done = False
        self._status = 0
        self._version = b"HTTP/1.1"
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._failure: BaseException | None = None
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None

    @property
    def where(self) -> str:
        return f"{self.origin[1]}:{self.origin[2]}"

    async def exchange(
        self, request: httpx.Request, message: bytes, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        transport = self._transport
        if transport is None or self.closing:
            raise httpx.WriteError(f"the connection to {self.where} is closed", request=request)
        if self._new_parser:
            self._parser = httptools.HttpResponseParser(self)
            self._new_parser = False
        self._head = request.method == "HEAD"
        self._complete = self._headers_done = self.answered = self.keep_alive = False
        self._reason = b""
        self._headers = []
        self._body = []
        self._failure = None
        answer = self._answer = self._loop.create_future()
        try:
            transport.write(message)
        except (OSError, RuntimeError) as error:
            raise httpx.WriteError(
                f"could not send the request to {self.where}: {error}", request=request
            ) from error
        if self._writing_paused:
            await self._drain(request, timeouts.get("write"))
        limit = timeouts.get("read")
        try:
            async with asyncio.timeout(limit):  # None: no limit
                await answer
        except TimeoutError as error:
            raise httpx.ReadTimeout(
                f"no complete answer from {self.where} within {limit} s", request=request
            ) from error
        finally:
            self._answer = None
        failure = self._failure
        if failure is not None:
            if isinstance(failure, _PARSER_ERRORS):
                raise httpx.RemoteProtocolError(
                    f"the answer from {self.where} is not HTTP/1.1: {failure}", request=request
                ) from failure
            raise httpx.ReadError(
                f"the connection to {self.where} closed before the answer was complete: {failure}",
                request=request,
            ) from failure
        body = self._body
        stream = httpx.ByteStream(body[0] if len(body) == 1 else b"".join(body))
        # `stream=`, then read: `content=` would add a Content-Length the server did not send (to a chunked
        # answer); the headers are the server's, as from httpx's own transports.
        response = httpx.Response(
            self._status,
            headers=self._headers,
            stream=stream,
            request=request,
            extensions={"http_version": self._version, "reason_phrase": self._reason},
        )
        response.read()
        return response

    async def _drain(self, request: httpx.Request, limit: float | None) -> None:
        self._drained = self._loop.create_future()
        try:
            async with asyncio.timeout(limit):
                await self._drained
        except TimeoutError as error:
            raise httpx.WriteTimeout(
                f"could not send the request to {self.where} within {limit} s", request=request
            ) from error
        finally:
            self._drained = None
        if self._failure is not None:
            raise httpx.WriteError(
                f"the connection to {self.where} closed while sending: {self._failure}", request=request
            ) from self._failure

    def close(self) -> None:
        self.closing = True
        self.keep_alive = False
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport: create_connection's

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._complete:
            # Bytes nobody asked for: whatever follows on this connection cannot be matched to a request.
            self.close()
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except _PARSER_ERRORS as error:
            self._fail(error)
            self.close()
            return
        if self._complete:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.keep_alive = False
        if self.idle_in is not None:
            self.idle_in.remove(self)
            self.idle_in = None
        if self._answer is not None and not self._complete:
            if exc is None and self._headers_done and self._ends_at_close():
                self._complete = True
            else:
                self._failure = exc or ConnectionResetError("closed by the server")
            self._wake()
        if self._drained is not None and not self._drained.done():
            self._failure = exc or ConnectionResetError("closed by the server")
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- httptools callbacks --------------------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self._reason += status  # llhttp may hand the reason phrase over in pieces

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head:
            status = self._parser.get_status_code()
            if status >= 200:
                # An answer to HEAD has no body whatever its headers say, which httptools cannot be told: it
                # ends here, and the next answer gets a parser that does not wait for that body.
                self._finish(status)
                self._new_parser = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._complete:  # a HEAD answer, finished at its headers
            return
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows on the same connection.
            self._reason = b""
            self._headers = []
            self._headers_done = False
            return
        self._finish(status)

    def _finish(self, status: int) -> None:
        parser = self._parser
        self._status = status
        self._version = b"HTTP/1.1" if parser.get_http_version() == "1.1" else b"HTTP/1.0"
        self.keep_alive = parser.should_keep_alive()
        self._complete = True

    def _ends_at_close(self) -> bool:
        """Whether the answer's body is the bytes up to the close: it has neither length nor chunks."""
        return not any(name.lower() in _FRAMING for name, _ in self._headers)

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        self._wake()

    def _wake(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(None)


async def _message(request: httpx.Request) -> bytes:
    """The request as it goes on the wire: request line, headers, body, in one piece (one write)."""
    try:
        body = request.content
        headers = request.headers.raw
    except httpx.RequestNotRead:
        # A stream: read whole, and sent with its length rather than in chunks.
        body = await request.aread()
        headers = [(n, v) for n, v in request.headers.raw if n.lower() not in _FRAMING]
        headers.append((b"Content-Length", str(len(body)).encode("ascii")))
    method = request.method
    parts = [_METHODS.get(method) or method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    head = b"".join(parts)
    # A CR or LF inside a header (or the method) would end it early and start another header, or another
    # request, of the sender's making: refused, as httpx's own h11 refuses it.
    lines = len(headers) + 2
    if head.count(b"\n") != lines or head.count(b"\r") != lines:
        raise httpx.LocalProtocolError("a header name or value holds a CR or LF", request=request)
    return head + body if body else head


def _repeatable(request: httpx.Request) -> bool:
    extensions: dict[str, Any] = request.extensions
    return request.method in _IDEMPOTENT or bool(extensions.get("retry_on_stale_connection"))


def _close_all(idle: deque[_Connection]) -> None:
    while idle:
        connection = idle.pop()
        connection.idle_in = None
        connection.close()
