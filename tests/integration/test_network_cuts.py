"""Kafka connections cut and restored while the projections run: a loopback TCP
proxy stands between every client and a broker that advertises the proxy, so a cut really takes the
network away. The read model after the cuts equals one built in a single clean pass."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.process.supervisor import Supervisor
from hub.runtime.stall_watchdog import EXIT_STALLED
from hub.settings import Settings
from simulators.local.free_ports import free_port
from simulators.local.tansu import EmbeddedBroker
from simulators.local.tcp_proxy import TcpProxy
from simulators.province.read_back import LOG_COLUMNS, count_rows, project, publish, snapshot
from simulators.synthetic import province_events
from tests.support.processes import hub_env


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Settings, TcpProxy]]:
    front = free_port()
    with EmbeddedBroker(advertised_port=front) as broker, TcpProxy(broker.port, port=front) as proxy:
        settings = Settings(
            kafka_bootstrap=f"127.0.0.1:{proxy.port}",
            dossier_topic="cuts.dossier-events",
            dead_letter_topic="cuts.dead-letter",
            kafka_session_timeout_ms=6000,
            kafka_request_timeout_ms=10_000,
        )
        ensure_topics(settings, [TopicSpec(settings.dossier_topic, 3, 1), TopicSpec(settings.dead_letter_topic, 1, 1)])
        yield settings, proxy


def test_projections_ride_out_network_cuts_and_end_equal_to_a_clean_pass(
    proxied: tuple[Settings, TcpProxy], tmp_path: Path
) -> None:
    settings, proxy = proxied
    events = list(province_events(20_000))
    publish(settings, events)
    cut_url, clean_url = f"sqlite:///{tmp_path}/cut.sqlite3", f"sqlite:///{tmp_path}/clean.sqlite3"
    env = hub_env(
        settings,
        database_url=cut_url,
        projection_batch="200",  # slow enough that the cuts fall mid-run
        kafka_session_timeout_ms="6000",
        kafka_stall_exit_s="8",
    )
    runner = Supervisor(env, max_restarts=None, backoff_s=0.2)  # as compose's restart: or `hub demo` do
    child = runner.add("projections", ["projections", "run"], tmp_path / "projections.log")
    runner.start()
    recovered: list[float] = []

    def progress_after(before: int, since: float) -> float:
        while _applied(cut_url) <= before:
            runner.tend()
            assert time.monotonic() - since < 90, "no progress 90 s after the network came back"
            time.sleep(0.2)
        return time.monotonic() - since

    try:
        progress_after(0, time.monotonic())
        for _ in range(4):
            proxy.cut()
            time.sleep(3)
            before = _applied(cut_url)
            proxy.restore()
            if before >= len(events):
                break
            recovered.append(progress_after(before, time.monotonic()))
        deadline = time.monotonic() + 180
        while _applied(cut_url) < len(events):
            runner.tend()
            assert time.monotonic() < deadline, f"stuck at {_applied(cut_url)} of {len(events)}"
            time.sleep(0.5)
    finally:
        runner.stop()
    print(
        f"\n{proxy.cuts} network cuts of 3 s; progress again {', '.join(f'{s:.1f}' for s in recovered)} s after "
        f"each; the runner exited {len(child.exits)} time(s) (codes {child.exits}) and was started again"
    )
    assert proxy.cuts >= 2 and recovered, "the cuts happened while there was work left"
    said = (tmp_path / "projections.log").read_text().splitlines()
    reasons = [line for line in said if line.startswith("error: ") or "HUB_KAFKA_STALL_EXIT_S" in line]
    print("exit reasons:", reasons)
    # Exits are the crash-only kind, each with its reason: an UpstreamError the CLI reports (2) or the
    # stall watchdog (75)
    assert set(child.exits) <= {2, EXIT_STALLED} and len(reasons) >= len(child.exits), said[-20:]
    project(settings, clean_url, expected=len(events))
    assert snapshot(cut_url, without=LOG_COLUMNS) == snapshot(clean_url, without=LOG_COLUMNS)


def _applied(url: str) -> int:
    try:
        return count_rows(url, "v_timeline")
    except Exception:  # the store is not created yet
        return 0
