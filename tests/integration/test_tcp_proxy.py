"""The test proxy between the hub and its broker: it passes bytes both ways, keeps quiet connections
open (it once cut any the broker left silent for its 5 s connect timeout), and cuts on demand."""

from __future__ import annotations

import socket
import threading
import time

from simulators.local.tcp_proxy import TcpProxy


def _echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(
                target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(4096), b"")], daemon=True
            ).start()

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_quiet_connection_stays_open_and_a_cut_ends_it() -> None:
    server = _echo_server()
    with TcpProxy(server.getsockname()[1], connect_timeout_s=0.2) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        client.sendall(b"ping")
        assert client.recv(16) == b"ping"
        time.sleep(0.6)  # three times the connect timeout without a byte either way
        client.sendall(b"still there")
        assert client.recv(16) == b"still there"
        proxy.cut()
        assert client.recv(16) == b"", "a cut closes the connection"
        refused = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        assert refused.recv(16) == b"", "while cut, new connections die at once"
        proxy.restore()
        again = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        again.sendall(b"back")
        assert again.recv(16) == b"back"
        for s in (client, refused, again):
            s.close()
    server.close()
