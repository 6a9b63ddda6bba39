"""HTTP plumbing shared by the three emulated services.

Every request goes through `ServiceHandler._serve`: read the whole body, let the service name the action, apply
the injected faults and latency, run the action, record the call, then answer (or drop the connection). The
services themselves only map a parsed `Request` to a `Reply`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.emulator.core import Emulator


@dataclass
class Request:
    method: str
    raw_path: str  # the path as sent, still percent-encoded (signatures are computed over it)
    path: str  # raw_path without the query
    query: list[tuple[str, str]]  # decoded, in order, blank values kept
    headers: Message
    body: bytes
    arrived: float  # time.time()

    @property
    def query_dict(self) -> dict[str, str]:
        return dict(self.query)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def header_items(self) -> Iterator[tuple[str, str]]:
        """Lower-cased names with their values, repeated headers included."""
        for name, value in self.headers.items():
            yield name.lower(), value


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # HEAD answers carry the length of the body they would have had, without the body.
    omit_body: bool = False


class Service(Protocol):
    name: str

    def identify(self, req: Request) -> tuple[str, dict[str, Any]]:
        """The action a request asks for and its parameters as recorded in `Emulator.calls`."""
        ...

    def handle(self, req: Request, action: str, params: dict[str, Any]) -> Reply: ...

    def fault_reply(
        self, req: Request, action: str, status: int, code: str | None = None, message: str | None = None
    ) -> Reply:
        """An injected error in the service's own format: a 429 or 500, or any (status, code, message)."""
        ...


class _Server(ThreadingHTTPServer):
    # Handler threads must not keep the interpreter (or stop()) waiting on idle keep-alive clients.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs under a parallel burst, and the client's retransmit
    # a second later would smear the burst over two rate-limit windows.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: Service, emulator: Emulator) -> None:
        self.service = service
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, ServiceHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Pooled keep-alive clients would otherwise hold a handler thread blocked in recv forever."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ServiceHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so that the SDKs' pooled keep-alive connections behave as against the real endpoints.
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            sys.stderr.write(f"[{self.server.service.name}] {format % args}\n")

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, if any, end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        emu = self.server.emulator
        service = self.server.service
        arrived = time.time()
        body = self._read_body()
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            raw_path=self.path,
            path=split.path,
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            arrived=arrived,
        )
        try:
            action, params = service.identify(req)
        except Exception:  # a request too broken to name still gets recorded and answered
            action, params = "Unknown", {}
        delay, fault, error = emu._take_fault(service.name, action)
        pause = emu.latency + delay
        if pause > 0:
            time.sleep(pause)

        if fault == "drop_before_commit":
            emu._record(service.name, action, params, 0, arrived, fault)
            self._drop()
            return
        if fault in ("429", "500"):
            reply = service.fault_reply(req, action, int(fault))
        elif fault == "error" and error is not None:
            reply = service.fault_reply(req, action, error[0], error[1], error[2])
        else:
            try:
                reply = service.handle(req, action, params)
            except Exception:
                # An emulator bug must show up as a loud 500, never as a hung or half-answered request.
                traceback.print_exc()
                reply = service.fault_reply(req, action, 500)
        if fault == "drop_after_commit":
            emu._record(service.name, action, params, 0, arrived, fault)
            self._drop()
            return
        emu._record(service.name, action, params, reply.status, arrived, fault)
        self._send(reply)

    def _drop(self) -> None:
        self.close_connection = True
        # RST rather than FIN: the client must see a failed exchange, not an empty response.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _send(self, reply: Reply) -> None:
        names = {name.lower() for name, _ in reply.headers}
        if "date" in names:
            # The service's own Date (OSS's clock may be skewed on purpose): not a second one from http.server.
            self.log_request(reply.status)
            self.send_response_only(reply.status)
        else:
            self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD" and not reply.omit_body:
            self.wfile.write(reply.body)
        self.wfile.flush()


def start_server(host: str, port: int, service: Service, emulator: Emulator) -> tuple[_Server, threading.Thread]:
    server = _Server((host, port), service, emulator)
    # A short poll interval keeps stop() quick; idle polling of three servers costs next to nothing.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"emulator-{service.name}", daemon=True)
    thread.start()
    return server, thread
