"""A tiny scripted HTTP server for tests, bound to 127.0.0.1 only (never the network)."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line is sent
    declared_length: int | None = None  # Content-Length to announce; larger than the body = truncated
    stall: float = 0.0  # seconds to stall after the first half of the body


class FixtureServer:
    """Serve scripted replies per path (path + query). Each request takes the next reply; the last repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fixture = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="httpfixture")

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def set(self, path: str, *replies: Reply) -> None:
        """Script `path`; requests consume `replies` in order, the last one repeats."""
        with self._lock:
            self.routes[path] = list(replies)

    def next_reply(self, path: str) -> Reply:
        with self._lock:
            self.hits[path] += 1
            queue = self.routes.get(path)
            if not queue:
                return Reply(404, b"not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake any sleeping handler, release the port."""
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing ends the body

    def do_GET(self) -> None:
        fixture: FixtureServer = self.server.fixture  # type: ignore[attr-defined]
        reply = fixture.next_reply(self.path)
        if reply.delay and fixture.stop.wait(reply.delay):
            return
        try:
            self.send_response(reply.status)
            length = len(reply.body) if reply.declared_length is None else reply.declared_length
            self.send_header("Content-Length", str(length))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.stall:
                half = len(reply.body) // 2
                self.wfile.write(reply.body[:half])
                self.wfile.flush()
                if fixture.stop.wait(reply.stall):
                    return
                self.wfile.write(reply.body[half:])
            else:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return


def closed_port() -> int:
    """A local TCP port with nothing listening on it (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
