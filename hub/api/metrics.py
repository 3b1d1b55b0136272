"""Prometheus metrics, measured when scraped from what the hub records (nothing kept in memory, so
any API replica answers the same): events in the log, connector counters and breakers, projection
lag and applied records, dead letters, results-sync states, monitor outbox backlog."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub.bootstrap import make_log_end
from hub.errors import HubError
from hub.settings import Settings
from hub.store.connector_state import ConnectorStateStore
from hub.store.projection_store import projection_status
from hub.store.sql_store import monitor_outbox_table
from projections.registry import PROJECTIONS, active_table

__all__ = ["HubCollector"]

_BREAKER = {"closed": 0, "half-open": 1, "half_open": 1, "open": 2}


class HubCollector(Collector):
    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        s = self.settings
        try:
            ends: dict[tuple[str, int], int] | None = make_log_end(s)()
            dead = sum(make_log_end(s, s.dead_letter_topic)().values())
        except HubError:
            ends, dead = None, None
        up = GaugeMetricFamily("hub_broker_up", "1 when the broker answered this scrape")
        up.add_metric([], 0 if ends is None else 1)
        yield up
        if ends is not None:
            events = CounterMetricFamily("hub_log_events", "Records on the dossier topic (end offsets)")
            events.add_metric([], sum(ends.values()))
            yield events
            dlq = CounterMetricFamily("hub_dead_letters", "Records on the dead-letter topic")
            dlq.add_metric([], dead or 0)
            yield dlq

        counters = CounterMetricFamily(
            "hub_connector",
            "Connector counters (records_read, events_produced, failures, ...)",
            labels=["connector", "counter"],
        )
        breaker = GaugeMetricFamily(
            "hub_connector_breaker_state", "0 closed, 1 half-open, 2 open", labels=["connector"]
        )
        for state in ConnectorStateStore(self.engine).all():
            for name, value in state.counters.items():
                counters.add_metric([state.name, name], value)
            breaker.add_metric([state.name], _BREAKER.get(state.breaker_state, 2))
        yield counters
        yield breaker

        applied = CounterMetricFamily("hub_projection_applied", "Records applied per projection", labels=["projection"])
        lag = GaugeMetricFamily("hub_projection_lag", "Records behind the log per projection", labels=["projection"])
        for p in projection_status(self.engine, list(PROJECTIONS), ends):
            if p["generation"] is not None:
                applied.add_metric([p["name"]], p["applied"])
                if p["lag"] is not None:
                    lag.add_metric([p["name"]], p["lag"])
        yield applied
        yield lag

        with self.engine.connect() as conn:
            try:
                t = active_table(conn, "results")
                counts: dict[str, int] = dict(
                    conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all()
                )
            except HubError:
                counts = {}
            outbox = conn.execute(sa.select(sa.func.count()).select_from(monitor_outbox_table)).scalar_one()
        results = GaugeMetricFamily("hub_results", "Digitised results by sync state", labels=["state"])
        for result_state, n in sorted(counts.items()):
            results.add_metric([result_state], n)
        yield results
        pending = GaugeMetricFamily("hub_monitor_outbox", "Monitoring records written but not yet published")
        pending.add_metric([], outbox)
        yield pending
