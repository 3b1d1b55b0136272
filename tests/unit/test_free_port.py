"""free_port: loopback ports the kernel will not give to another socket, never the same one twice."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.local import free_ports


@pytest.fixture
def ephemeral(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("32768\t60999\n")
    monkeypatch.setattr(free_ports, "_RANGE_FILE", range_file)
    yield range_file


def test_ports_are_outside_the_ephemeral_range_distinct_and_free(ephemeral: Path) -> None:
    chosen = [free_ports.free_port() for _ in range(200)]
    assert len(set(chosen)) == len(chosen)
    assert all(20000 <= port < 32768 or 60999 < port <= 65535 for port in chosen)
    for port in chosen[:20]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # raises if it was not free


def test_a_port_in_use_or_inside_the_range_is_passed_over(ephemeral: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        monkeypatch.setattr(free_ports, "_ephemeral_range", lambda: (65000, 65001))
        offers = iter([taken, 65000, free])
        monkeypatch.setattr(random, "randrange", lambda *_: next(offers))
        assert free_ports.free_port() == free


def test_a_range_covering_everything_falls_back_to_the_kernel(ephemeral: Path) -> None:
    ephemeral.write_text("1024 65535\n")
    chosen = {free_ports.free_port() for _ in range(20)}
    assert len(chosen) == 20


def test_an_unreadable_range_means_linux_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(free_ports, "_RANGE_FILE", tmp_path / "missing")
    assert free_ports._ephemeral_range() == (32768, 60999)


def test_a_span_is_consecutive_free_ports_none_handed_out_again(
    ephemeral: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = free_ports.free_port(span=4)
    assert all(20000 <= port < 32768 or 60999 < port <= 65535 for port in range(first, first + 4))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    monkeypatch.setattr(free_ports, "_ephemeral_range", lambda: (65000, 65001))  # so that ``free`` counts as outside
    offers = iter([first + 1, first + 3, first + 2, free])
    monkeypatch.setattr(random, "randrange", lambda *_: next(offers))
    assert free_ports.free_port() == free  # each port of the span was passed over
