"""A TCP proxy for tests that can freeze a real stream mid-way: bytes stop flowing, the connection stays open.

with TcpProxy(upstream_port) as proxy:
    proxy.freeze_after(2000)   # pass this many bytes from upstream, then hold the rest
    ... point a client at proxy.port ...
    proxy.black_hole.set()     # nothing passes either way, new connections are accepted and left silent
    proxy.black_hole.clear()   # and everything flows again
"""

from __future__ import annotations

import select
import socket
import threading
from types import TracebackType


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._freeze_after: int | None = None
        self._lock = threading.Lock()
        self.frozen = threading.Event()
        self.black_hole = threading.Event()
        self._sockets: list[socket.socket] = []

    def freeze_after(self, downstream_bytes: int) -> None:
        """From now on, each new connection passes this many upstream bytes, then nothing more."""
        with self._lock:
            self._freeze_after = downstream_bytes

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        while self.black_hole.is_set() and not self._stop.is_set():
            self._stop.wait(0.1)
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self._lock:
            self._sockets += [client, upstream]
            budget = self._freeze_after
        self._pump(client, upstream, budget)

    def _pump(self, client: socket.socket, upstream: socket.socket, budget: int | None) -> None:
        try:
            self._forward(client, upstream, budget)
        finally:
            for sock in (client, upstream):
                try:
                    sock.close()
                except OSError:
                    pass

    def _forward(self, client: socket.socket, upstream: socket.socket, budget: int | None) -> None:
        passed = 0
        while not self._stop.is_set():
            if self.black_hole.is_set():
                self._stop.wait(0.1)
                continue
            readable, _, _ = select.select([client, upstream], [], [], 0.1)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if sock is client:
                    upstream.sendall(data)
                    continue
                if budget is not None and passed + len(data) > budget:
                    client.sendall(data[: max(0, budget - passed)])
                    self.frozen.set()
                    self._hold(client)
                    return
                passed += len(data)
                client.sendall(data)

    def _hold(self, client: socket.socket) -> None:
        """Keep the connection open and silent until the client hangs up or the proxy stops."""
        while not self._stop.is_set():
            readable, _, _ = select.select([client], [], [], 0.1)
            if readable:
                try:
                    if not client.recv(65536):
                        return
                except OSError:
                    return
