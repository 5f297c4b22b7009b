"""KeepAlivePool: the httpx transport that keeps HTTP/1.1 connections alive per origin.

Against a real uvicorn + Starlette app (in a thread, on a free port) for the round trips, the reuse and the
concurrency; against small servers written here with `asyncio.start_server` for what a real app will not do
on demand: chunked and close-delimited answers, `Connection: close`, closing an idle connection, closing mid
answer or right after reading a request, never answering, answering garbage. Each server counts the
connections it accepted and answers with the number of the connection that answered, so reuse is seen from
the server's side. Tests wait on conditions (bounded), never sleep to synchronise.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.http.connections import KeepAlivePool

PATIENCE_S = 5.0
ITEMS = {"items": [{"product_id": "pen", "quantity": 1}, {"product_id": "ink", "quantity": 2}]}


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Returns once `condition` holds; fails if it does not within PATIENCE_S."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {PATIENCE_S} s for {what}", pytrace=False)
        await asyncio.sleep(0.005)


# -- a real uvicorn + Starlette app -------------------------------------------------------------------------


async def echo(request: Request) -> JSONResponse:
    """The JSON asked, and the client's port: one port per connection the app was asked over."""
    assert request.client is not None
    return JSONResponse({"echo": await request.json(), "client_port": request.client.port})


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(PATIENCE_S)
    listener.close()


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


class TestAgainstUvicorn:
    def test_a_json_post_comes_back_as_sent_through_an_async_client(self, app_url: str) -> None:
        async def scenario() -> httpx.Response:
            async with httpx.AsyncClient(transport=KeepAlivePool(), base_url=app_url) as client:
                return await client.post("/echo", json=ITEMS)

        response = run(scenario)

        assert response.status_code == 200
        assert response.json()["echo"] == ITEMS
        assert response.headers["content-type"] == "application/json"
        assert response.http_version == "HTTP/1.1"
        assert response.reason_phrase == "OK"

    def test_a_request_built_by_hand_is_answered_by_the_transport_already_read(self, app_url: str) -> None:
        async def scenario() -> httpx.Response:
            pool = KeepAlivePool()
            try:
                return await pool.handle_async_request(httpx.Request("POST", f"{app_url}/echo", json=ITEMS))
            finally:
                await pool.aclose()

        response = run(scenario)

        assert response.status_code == 200
        assert response.json()["echo"] == ITEMS  # no aread: the body is in
        assert int(response.headers["content-length"]) == len(response.content)

    def test_sequential_requests_share_one_connection(self, app_url: str) -> None:
        async def scenario() -> list[int]:
            pool = KeepAlivePool()
            async with httpx.AsyncClient(transport=pool, base_url=app_url) as client:
                ports = [(await client.post("/echo", json=ITEMS)).json()["client_port"] for _ in range(30)]
            by_hand = httpx.Request("POST", f"{app_url}/echo", json=ITEMS)
            pool = KeepAlivePool()
            ports += [(await pool.handle_async_request(by_hand)).json()["client_port"] for _ in range(30)]
            await pool.aclose()
            return ports

        ports = run(scenario)

        assert len(set(ports[:30])) == 1
        assert len(set(ports[30:])) == 1

    def test_twenty_concurrent_requests_are_each_answered_their_own_question(self, app_url: str) -> None:
        async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
            async with httpx.AsyncClient(transport=KeepAlivePool(), base_url=app_url) as client:

                async def ask(n: int) -> httpx.Response:
                    return await client.post("/echo", json={"n": n})

                first = await asyncio.gather(*(ask(n) for n in range(20)))
                again = await asyncio.gather(*(ask(n) for n in range(20)))
                return first, again

        first, again = run(scenario)

        assert [r.json()["echo"] for r in first] == [{"n": n} for n in range(20)]
        assert [r.json()["echo"] for r in again] == [{"n": n} for n in range(20)]
        opened = {r.json()["client_port"] for r in first}
        assert len(opened) <= 20
        # The second round is asked over the connections the first one opened, kept idle between.
        assert {r.json()["client_port"] for r in again} <= opened


# -- servers written by hand --------------------------------------------------------------------------------


def answer(body: bytes, *headers: bytes, status: bytes = b"200 OK") -> bytes:
    head = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, len(body), head, body)


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """The next request's head and body; None once the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Serve = Callable[["RawServer", int, Reader, Writer], Awaitable[None]]


async def keep_answering(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
    """Answers every request with the number of the connection it came over, until the client closes."""
    while (request := await read_request(reader)) is not None:
        server.requests.append(request)
        writer.write(answer(b"connection %d" % number))
    server.closed_by_client.add(number)


class RawServer:
    """An HTTP server on 127.0.0.1 whose every connection `serve` handles; `accepted` counts connections,
    `requests` holds the requests read, `closed_by_client` the numbers of connections the client closed."""

    def __init__(self, serve: Serve = keep_answering) -> None:
        self.serve = serve
        self.accepted = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.closed_by_client: set[int] = set()
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            await self.serve(self, self.accepted, reader, writer)
        finally:
            writer.close()


def post(url: str, **extensions: Any) -> httpx.Request:
    return httpx.Request("POST", f"{url}/ask", json=ITEMS, extensions=extensions)


class TestAnswerBodies:
    def test_a_chunked_answer_is_read_whole_and_the_connection_kept(self) -> None:
        async def chunked(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            while await read_request(reader) is not None:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for piece in (b"connection ", b"%d" % number, b" in chunks"):
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")

        async def scenario() -> tuple[list[httpx.Response], int]:
            async with RawServer(chunked) as server:
                async with httpx.AsyncClient(transport=KeepAlivePool(), base_url=server.url) as client:
                    responses = [await client.get("/") for _ in range(3)]
                return responses, server.accepted

        responses, accepted = run(scenario)

        assert [r.content for r in responses] == [b"connection 1 in chunks"] * 3
        assert responses[0].headers.get("content-length") is None  # the server's headers, no more
        assert accepted == 1

    def test_an_answer_without_length_ends_where_the_server_closes(self) -> None:
        async def until_close(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of ")
            await writer.drain()
            writer.write(b"it")

        async def scenario() -> tuple[httpx.Response, httpx.Response, int]:
            pool = KeepAlivePool()
            async with RawServer(until_close) as server:
                first = await pool.handle_async_request(post(server.url))
                second = await pool.handle_async_request(post(server.url))
                return first, second, server.accepted

        first, second, accepted = run(scenario)

        assert first.content == second.content == b"all of it"
        assert accepted == 2

    def test_an_answer_to_head_has_no_body_whatever_its_length_says(self) -> None:
        async def head_then_get(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            while (request := await read_request(reader)) is not None:
                if request[0].startswith(b"HEAD "):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n")
                else:
                    writer.write(answer(b"connection %d" % number))

        async def scenario() -> tuple[httpx.Response, httpx.Response, int]:
            pool = KeepAlivePool()
            async with RawServer(head_then_get) as server:
                head = await pool.handle_async_request(httpx.Request("HEAD", server.url))
                get = await pool.handle_async_request(httpx.Request("GET", server.url))
                return head, get, server.accepted

        head, get, accepted = run(scenario)

        assert (head.status_code, head.headers["content-length"], head.content) == (200, "12", b"")
        assert get.content == b"connection 1"
        assert accepted == 1

    def test_an_interim_answer_is_passed_over_for_the_final_one(self) -> None:
        async def early_hints(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            while await read_request(reader) is not None:
                writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>\r\n\r\n")
                writer.write(answer(b"final", status=b"201 Created"))

        async def scenario() -> httpx.Response:
            async with RawServer(early_hints) as server:
                return await KeepAlivePool().handle_async_request(post(server.url))

        response = run(scenario)

        assert (response.status_code, response.reason_phrase, response.content) == (201, "Created", b"final")
        assert "link" not in response.headers


class TestConnectionReuse:
    def test_an_answer_saying_connection_close_is_not_reused(self) -> None:
        async def close_please(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            # The server itself leaves the connection open: only the client's reading of the header closes it.
            while await read_request(reader) is not None:
                writer.write(answer(b"connection %d" % number, b"connection: close"))
            server.closed_by_client.add(number)

        async def scenario() -> tuple[list[bytes], set[int]]:
            async with RawServer(close_please) as server:
                async with httpx.AsyncClient(transport=KeepAlivePool(), base_url=server.url) as client:
                    bodies = [(await client.post("/", json=ITEMS)).content for _ in range(2)]
                    await eventually(lambda: server.closed_by_client == {1, 2}, "the client to close both")
                return bodies, server.closed_by_client

        bodies, closed = run(scenario)

        assert bodies == [b"connection 1", b"connection 2"]
        assert closed == {1, 2}

    def test_a_connection_the_server_closed_while_idle_is_dropped_and_the_next_request_succeeds(self) -> None:
        async def once(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)
            writer.write(answer(b"connection %d" % number))  # keep-alive, then closed (as at uvicorn's 5 s)

        async def scenario() -> tuple[list[bytes], int]:
            pool = KeepAlivePool()
            async with RawServer(once) as server:
                first = await pool.handle_async_request(post(server.url))
                assert pool.idle_connections == 1
                await eventually(lambda: pool.idle_connections == 0, "the pool to hear of the close")
                second = await pool.handle_async_request(post(server.url))  # a POST: never asked twice
                return [first.content, second.content], server.accepted

        bodies, accepted = run(scenario)

        assert bodies == [b"connection 1", b"connection 2"]
        assert accepted == 2

    def test_a_connection_idle_longer_than_the_expiry_is_closed_not_reused(self) -> None:
        async def scenario() -> tuple[list[bytes], set[int]]:
            pool = KeepAlivePool(idle_expiry_s=0.05)
            async with RawServer() as server:
                first = await pool.handle_async_request(post(server.url))
                await asyncio.sleep(0.06)  # the expiry itself, not a synchronisation
                second = await pool.handle_async_request(post(server.url))
                await eventually(lambda: 1 in server.closed_by_client, "the expired connection to close")
                closed_before_aclose = set(server.closed_by_client)
                await pool.aclose()
                return [first.content, second.content], closed_before_aclose

        bodies, closed = run(scenario)

        assert bodies == [b"connection 1", b"connection 2"]
        assert closed == {1}  # by the pool, finding it expired

    def test_the_expiry_is_measured_from_when_the_connection_went_idle(self) -> None:
        clock = FakeClock()

        async def scenario() -> list[bytes]:
            pool = KeepAlivePool(idle_expiry_s=4.0, clock=clock)
            bodies = []
            async with RawServer() as server:
                for idle_s in (0.0, 3.9, 4.0, 4.1, 1.0):
                    clock.now += idle_s
                    bodies.append((await pool.handle_async_request(post(server.url))).content)
                await pool.aclose()
            return bodies

        assert run(scenario) == [
            b"connection 1",
            b"connection 1",  # idle 3.9 s
            b"connection 1",  # idle 4.0 s: not older than the expiry
            b"connection 2",  # idle 4.1 s: closed, a new one made
            b"connection 2",
        ]

    def test_past_max_idle_the_oldest_idle_connections_are_closed(self) -> None:
        async def slow(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            # Answers once four requests are in, so the four are open at once.
            while (request := await read_request(reader)) is not None:
                server.requests.append(request)
                await eventually(lambda: len(server.requests) >= 4, "four requests at once")
                writer.write(answer(b"connection %d" % number))
            server.closed_by_client.add(number)

        async def scenario() -> tuple[int, int, set[int]]:
            pool = KeepAlivePool(max_idle=2)
            async with RawServer(slow) as server:
                await asyncio.gather(*(pool.handle_async_request(post(server.url)) for _ in range(4)))
                idle = pool.idle_connections
                await eventually(lambda: len(server.closed_by_client) == 2, "two connections to close")
                await pool.aclose()
                return idle, server.accepted, set(server.closed_by_client)

        idle, accepted, closed_early = run(scenario)

        assert (idle, accepted, len(closed_early)) == (2, 4, 2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def closes_the_second_request(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
    """Connection 1 answers its first request, then reads the next and closes without a byte of answer (a
    server closing an idle connection just as a request arrives); every other connection answers all."""
    if number != 1:
        await keep_answering(server, number, reader, writer)
        return
    server.requests.append(await read_request(reader) or (b"", b""))
    writer.write(answer(b"connection 1"))
    server.requests.append(await read_request(reader) or (b"", b""))


class TestAStaleConnection:
    def test_a_plain_post_is_not_asked_again_and_is_a_read_error(self) -> None:
        async def scenario() -> tuple[httpx.ReadError, int]:
            pool = KeepAlivePool()
            async with RawServer(closes_the_second_request) as server:
                await pool.handle_async_request(post(server.url))
                with pytest.raises(httpx.ReadError) as raised:
                    await pool.handle_async_request(post(server.url))
                return raised.value, server.accepted

        error, accepted = run(scenario)

        assert accepted == 1
        assert "closed before the answer was complete" in str(error)
        assert "127.0.0.1:" in str(error)
        assert error.__cause__ is not None

    def test_a_post_marked_safe_to_repeat_is_asked_again_once_on_a_new_connection(self) -> None:
        async def scenario() -> tuple[httpx.Response, int, int]:
            pool = KeepAlivePool()
            async with RawServer(closes_the_second_request) as server:
                await pool.handle_async_request(post(server.url))
                second = await pool.handle_async_request(post(server.url, retry_on_stale_connection=True))
                return second, server.accepted, len(server.requests)

        second, accepted, requests = run(scenario)

        assert second.content == b"connection 2"
        assert (accepted, requests) == (2, 3)  # asked twice: over connection 1, then 2

    def test_a_get_is_asked_again_through_an_async_client(self) -> None:
        async def scenario() -> tuple[list[bytes], int]:
            async with RawServer(closes_the_second_request) as server:
                async with httpx.AsyncClient(transport=KeepAlivePool(), base_url=server.url) as client:
                    bodies = [(await client.get("/")).content for _ in range(2)]
                return bodies, server.accepted

        assert run(scenario) == ([b"connection 1", b"connection 2"], 2)

    def test_a_new_connection_closed_without_an_answer_is_not_asked_again(self) -> None:
        async def hang_up(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)

        async def scenario() -> int:
            async with RawServer(hang_up) as server:
                with pytest.raises(httpx.ReadError):
                    await KeepAlivePool().handle_async_request(
                        post(server.url, retry_on_stale_connection=True)
                    )
                return server.accepted

        assert run(scenario) == 1


class TestFailures:
    def test_a_refused_connection_is_a_connect_error_naming_where(self, dead_port: int) -> None:
        async def scenario() -> httpx.ConnectError:
            with pytest.raises(httpx.ConnectError) as raised:
                await KeepAlivePool().handle_async_request(post(f"http://127.0.0.1:{dead_port}"))
            return raised.value

        error = run(scenario)

        assert f"could not connect to 127.0.0.1:{dead_port}" in str(error)
        assert isinstance(error.__cause__, ConnectionRefusedError)

    def test_a_server_that_never_answers_is_a_read_timeout_within_the_read_timeout(self) -> None:
        async def silent(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)
            await reader.read()  # until the client gives up and closes
            server.closed_by_client.add(number)

        async def scenario() -> tuple[httpx.ReadTimeout, float, set[int]]:
            async with RawServer(silent) as server:
                timeout = httpx.Timeout(5.0, read=0.2)
                pool = KeepAlivePool()
                async with httpx.AsyncClient(transport=pool, base_url=server.url, timeout=timeout) as c:
                    started = time.monotonic()
                    with pytest.raises(httpx.ReadTimeout) as raised:
                        await c.post("/", json=ITEMS)
                    waited = time.monotonic() - started
                    await eventually(lambda: server.closed_by_client == {1}, "the connection to close")
                return raised.value, waited, server.closed_by_client

        error, waited, _ = run(scenario)

        assert 0.2 <= waited < 1.0
        assert "no complete answer from 127.0.0.1:" in str(error)
        assert isinstance(error.__cause__, TimeoutError)

    def test_a_server_closing_mid_answer_is_a_read_error(self) -> None:
        async def half(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")

        async def scenario() -> httpx.ReadError:
            async with RawServer(half) as server:
                with pytest.raises(httpx.ReadError) as raised:
                    await KeepAlivePool().handle_async_request(post(server.url))
                return raised.value

        assert "closed before the answer was complete" in str(run(scenario))

    def test_an_answer_that_is_not_http_is_a_remote_protocol_error(self) -> None:
        async def garbage(server: RawServer, number: int, reader: Reader, writer: Writer) -> None:
            await read_request(reader)
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            await reader.read()

        async def scenario() -> httpx.RemoteProtocolError:
            async with RawServer(garbage) as server:
                with pytest.raises(httpx.RemoteProtocolError) as raised:
                    await KeepAlivePool().handle_async_request(post(server.url))
                return raised.value

        error = run(scenario)

        assert "is not HTTP/1.1" in str(error)
        assert "127.0.0.1:" in str(error)

    def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(self) -> None:
        async def scenario() -> int:
            async with RawServer() as server:
                smuggled = httpx.Request("GET", server.url, headers={"x-note": "a\r\nx-admin: yes"})
                with pytest.raises(httpx.LocalProtocolError, match="CR or LF"):
                    await KeepAlivePool().handle_async_request(smuggled)
                return server.accepted

        assert run(scenario) == 0

    def test_a_streamed_request_body_is_sent_whole_with_its_length(self) -> None:
        async def pieces() -> Any:
            yield b'{"items": '
            yield b"[]}"

        async def scenario() -> tuple[httpx.Response, list[tuple[bytes, bytes]]]:
            async with RawServer() as server:
                request = httpx.Request("POST", server.url, content=pieces())
                return await KeepAlivePool().handle_async_request(request), server.requests

        response, requests = run(scenario)

        head, body = requests[0]
        assert body == b'{"items": []}'
        assert b"Content-Length: 13\r\n" in head
        assert b"chunked" not in head.lower()
        assert response.content == b"connection 1"


class TestClosing:
    def test_after_aclose_a_request_fails_clearly_and_the_idle_connections_are_closed(self) -> None:
        async def scenario() -> set[int]:
            pool = KeepAlivePool()
            async with RawServer() as server:
                await pool.handle_async_request(post(server.url))
                await pool.aclose()
                with pytest.raises(RuntimeError, match="the pool is closed"):
                    await pool.handle_async_request(post(server.url))
                await eventually(lambda: server.closed_by_client == {1}, "the idle connection to close")
                return server.closed_by_client

        assert run(scenario) == {1}


@pytest.fixture
def dead_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
