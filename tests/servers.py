"""Standard-library servers for the adapter tests: wsgiref for WSGI, a small asyncio HTTP/1.1 driver for ASGI.

Both listen on 127.0.0.1 on an ephemeral port, in a thread of their own, and
stop when their ``with`` block ends. ``get`` is the client: one request per
connection, answered as ``(status, body text)``.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

WAIT = 60.0


def get(port: int, path: str = "/", method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Send one request to 127.0.0.1:port; return (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # a line per request on stderr would bury the test output


class WSGIServer:
    """``wsgiref`` serving ``app`` in a thread."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __enter__(self) -> WSGIServer:
        self.server = make_server("127.0.0.1", 0, self.app, handler_class=_QuietHandler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


class ASGIServer:
    """A minimal ASGI 3 HTTP/1.1 server on asyncio: lifespan, one request per connection, ``scope['state']``."""

    def __init__(self, app: Callable[..., Any], lifespan: bool = True) -> None:
        self.app = app
        self.lifespan = lifespan
        self.state: dict[str, Any] = {}
        self.lifespan_messages: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def __enter__(self) -> ASGIServer:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self._ready.wait(WAIT):
            raise RuntimeError("the ASGI test server did not start")
        if self._failure is not None:
            raise RuntimeError("the ASGI test server failed to start") from self._failure
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self._stopping.set)
        self.thread.join(WAIT)
        if self._failure is not None:
            raise RuntimeError("the ASGI test server failed") from self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the test by __enter__/__exit__
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        lifespan = None
        if self.lifespan:
            inbox: asyncio.Queue = asyncio.Queue()
            started = asyncio.Event()

            async def receive() -> dict[str, Any]:
                return await inbox.get()

            async def send(message: dict[str, Any]) -> None:
                self.lifespan_messages.append(message)
                if message["type"].startswith("lifespan.startup"):
                    started.set()

            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"}, "state": self.state}
            lifespan = asyncio.create_task(self.app(scope, receive, send))
            await inbox.put({"type": "lifespan.startup"})
            await asyncio.wait_for(started.wait(), WAIT)
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        await server.wait_closed()
        if lifespan is not None:
            await inbox.put({"type": "lifespan.shutdown"})
            await asyncio.wait_for(lifespan, WAIT)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            method, target, _version = request_line.split(" ", 2)
            headers = []
            while True:
                line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                name, _, value = line.partition(":")
                headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
            length = int(dict(headers).get(b"content-length", b"0"))
            body = await reader.readexactly(length) if length else b""
            path, _, query = target.partition("?")
            scope = {
                "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
                "query_string": query.encode(), "headers": headers, "client": writer.get_extra_info("peername"),
                "server": ("127.0.0.1", self.port), "state": dict(self.state),
            }
            delivered = False
            response: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

            async def receive() -> dict[str, Any]:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await self._stopping.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    response["status"] = message["status"]
                    response["headers"] = list(message.get("headers", []))
                elif message["type"] == "http.response.body":
                    response["body"] += message.get("body", b"")

            try:
                await self.app(scope, receive, send)
            except Exception as exc:  # the app failed: a 500 carries the error to the client
                response = {"status": 500, "headers": [], "body": f"{type(exc).__name__}: {exc}".encode()}
            head = [f"HTTP/1.1 {response['status']} X".encode()]
            head += [name + b": " + value for name, value in response["headers"] if name.lower() != b"content-length"]
            head += [b"Content-Length: " + str(len(response["body"])).encode(), b"Connection: close"]
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + response["body"])
            await writer.drain()
        finally:
            writer.close()
