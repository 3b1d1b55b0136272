"""A loopback TCP proxy that can cut every connection and refuse new ones until restored: the way
tests take the network away between the hub and its broker (the test broker keeps data only in
memory, so it cannot simply be restarted)."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(
        self, target_port: int, port: int = 0, host: str = "127.0.0.1", connect_timeout_s: float = 5.0
    ) -> None:
        self.target = (host, target_port)
        self.connect_timeout_s = connect_timeout_s
        self._server = socket.create_server((host, port))
        self.port = int(self._server.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._stopping = False
        self.cuts = 0

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                refused = self._cut
            if refused:
                client.close()  # the network is down: the connection dies at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=self.connect_timeout_s)
            except OSError:
                client.close()
                continue
            # The timeout is for connecting only: kept, it cut every connection the broker left quiet
            # that long (an idle client's), and the hub's logs filled with "socket disconnected".
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until restore()."""
        with self._lock:
            self._cut = True
            self.cuts += 1
            live = list(self._open)
        for s in live:
            self._close(s)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self._stopping = True
        self.cut()
        self._server.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
