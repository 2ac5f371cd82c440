"""A loopback HTTP server that replays recorded OpenAI-compatible responses.

Tests queue responses, drive the real ``openai`` client at ``server.url``,
then assert on what the client sent::

    with ReplayServer() as server:
        server.add({"status": 200, "body": {...}})               # a JSON response
        server.add({"status": 200, "sse": [{"data": {...}}, {"data": "[DONE]"}]})
        server.add(load_recording("groq", "error_429"))          # tests/data/providers/...
        ... OpenAICompatLLM("groq:openai/gpt-oss-120b", base_url=server.url) ...
        server.requests[0].body["reasoning_effort"]              # 'high'

A response is a dict: ``status`` (default 200), ``headers``, and either
``body`` (JSON) or ``sse`` (a list of events sent as ``text/event-stream``
with chunked encoding). SSE events are ``{"data": obj-or-"[DONE]"}``,
``{"comment": "OPENROUTER PROCESSING"}``, ``{"sleep": 0.2}``,
``{"drop": true}`` (close the socket mid-body: the client sees a broken
stream), ``{"reset": true}`` (abort the connection with a TCP RST: the client
sees ECONNRESET), ``{"raw": "data: {not json\n\n"}`` (bytes as they are: a
malformed event) or ``{"repeat": event, "every": 0.02, "for": 30}`` (send
``event`` again and again until the client goes away, at most ``for``
seconds: an endless stream). ``delay`` waits before the status line (for
timeouts); ``"reset": true`` on the response itself resets the connection
before any byte; a ``"raw_body"`` string is sent as the body of a JSON response
instead of ``body``. :mod:`fault_server` names the faults built from these.
Every request is recorded (method, path, headers, JSON body),
including requests that found no queued response (answered 599).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "providers"


def load_recording(provider: str, mode: str) -> dict[str, Any]:
    """``tests/data/providers/<provider>/<mode>.json`` (a response plus notes and ``expect``)."""
    return json.loads((DATA / provider / f"{mode}.json").read_text(encoding="utf-8"))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(rec)
            spec = owner.queue.pop(0) if owner.queue else None
        if spec is None:
            spec = {
                "status": 599,
                "body": {"error": {"message": "replay server: no response queued"}},
            }
        if spec.get("delay"):
            time.sleep(float(spec["delay"]))
        try:
            if spec.get("reset"):
                self._reset()
            elif "sse" in spec:
                self._send_sse(spec)
            else:
                self._send_json(spec)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    do_GET = do_POST = _handle

    def _send_json(self, spec: dict[str, Any]) -> None:
        raw = spec.get("raw_body")
        data = (
            raw.encode("utf-8")
            if isinstance(raw, str)
            else json.dumps(spec.get("body", {})).encode("utf-8")
        )
        self.send_response(int(spec.get("status", 200)))
        headers = {"Content-Type": "application/json", **spec.get("headers", {})}
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, payload: bytes) -> None:
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def _send_sse(self, spec: dict[str, Any]) -> None:
        self.send_response(int(spec.get("status", 200)))
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **spec.get("headers", {}),
        }
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for event in spec["sse"]:
            if "sleep" in event:
                time.sleep(float(event["sleep"]))
            elif event.get("drop"):
                self._drop()
                return
            elif event.get("reset"):
                self._reset()
                return
            elif "repeat" in event:
                until = time.monotonic() + float(event.get("for", 30))
                while time.monotonic() < until and not self.server.owner.stopping.is_set():
                    self._event(event["repeat"])
                    time.sleep(float(event.get("every", 0.02)))
                self._drop()
                return
            else:
                self._event(event)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _event(self, event: dict[str, Any]) -> None:
        if "raw" in event:
            self._chunk(str(event["raw"]).encode())
        elif "comment" in event:
            self._chunk(f": {event['comment']}\n\n".encode())
        else:
            data = event["data"]
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            self._chunk(f"data: {text}\n\n".encode())

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a RST (a crashed peer, a proxy)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _drop(self) -> None:
        """Close the connection in the middle of a chunked body (a server or proxy dying)."""
        self.close_connection = True
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ReplayServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closes its keep-alive connection is normal, not a server
        # error: socketserver would print a traceback to stderr, which tests that
        # check stderr would then see.
        if isinstance(sys.exc_info()[1], OSError):  # incl. a socket the handler reset itself
            return
        super().handle_error(request, client_address)


class ReplayServer:
    """Serves queued responses on ``127.0.0.1:<free port>``; a context manager."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[dict[str, Any]] = []
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()  # ends endless streams when the server stops
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def add(self, *responses: dict[str, Any]) -> ReplayServer:
        """Queue responses, served in order, one per request."""
        with self.lock:
            for r in responses:
                self.queue.append(r.get("response", r))
        return self

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
