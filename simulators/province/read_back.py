"""Helpers for projection tests: stores, in-process runs, and row-for-row snapshots of read models."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from connectors.dvcqg.mirror.payload import step_item, step_key
from hub.bootstrap import make_codec, make_engine, make_log, make_projection_runner
from hub.domain.dossier_fold import STEP_TYPES
from hub.domain.events import Event
from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.ports import Projection, Record
from hub.runtime.projection_runner import RunTotals
from hub.settings import Settings
from hub.store.projection_store import activate_first_generation
from projections.registry import PROJECTIONS, projection
from simulators.local.postgres import create_database

LOG_COLUMNS = {"log_partition", "log_offset"}


def fresh_topic(settings: Settings, partitions: int = 3) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    fresh = settings.model_copy(
        update={"dossier_topic": f"test.events.{suffix}", "dead_letter_topic": f"test.dlq.{suffix}"}
    )
    ensure_topics(fresh, [TopicSpec(fresh.dossier_topic, partitions, 1), TopicSpec(fresh.dead_letter_topic, 1, 1)])
    return fresh


def publish(settings: Settings, events: Iterable[Event], batch: int = 5000) -> int:
    log = make_log(settings)
    count = 0
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= batch:
            log.append(chunk)
            count += len(chunk)
            chunk = []
    log.append(chunk)
    log.close()
    return count + len(chunk)


def project(
    settings: Settings,
    url: str,
    *,
    expected: int,
    projections: Sequence[Projection] | None = None,
    timeout_s: float = 120,
    batch: int = 5000,
) -> RunTotals:
    """Run the projections in-process (standalone) until ``expected`` records were consumed."""
    import time

    chosen = list(projections or PROJECTIONS.values())
    settings = settings.model_copy(update={"database_url": url})
    engine = make_engine(settings)
    for p in chosen:
        activate_first_generation(engine, p)
    log = make_log(settings)
    runner = make_projection_runner(settings, log, engine, chosen, name="test")
    source = KafkaRecordSource(settings, [settings.dossier_topic])
    runner.seek(source, sorted(source.assignment()))
    deadline = time.monotonic() + timeout_s
    try:
        runner.run(
            source,
            should_stop=lambda: runner.totals.records >= expected or time.monotonic() > deadline,
            commit_to_kafka=False,
            max_records=batch,
        )
    finally:
        source.close()
        log.close()
        engine.dispose()
    return runner.totals


def snapshot(url: str, *, without: set[str] | frozenset[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read models (views, plus the stored folds), ordered, minus ``without`` columns."""
    engine = sa.create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        generation = conn.execute(
            sa.text("SELECT active_generation FROM hub_projections WHERE name = 'dossier_state'")
        ).scalar_one()
        queries = {
            "timeline": "SELECT * FROM v_timeline ORDER BY dossier_code, occurred_at, type_rank, event_id",
            "dossier": "SELECT * FROM v_dossier ORDER BY dossier_code",
            "fold": f"SELECT dossier_code, fold FROM dossier_state_g{generation} ORDER BY dossier_code",
        }
        for name, query in queries.items():
            result = conn.exec_driver_sql(query)
            keep = [i for i, column in enumerate(result.keys()) if column not in without]
            out[name] = [tuple(row[i] for i in keep) for row in result]
    engine.dispose()
    return out


def count_rows(url: str, view: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = int(conn.exec_driver_sql(f"SELECT count(*) FROM {view}").scalar_one())
    engine.dispose()
    return value


class Projector:
    """The projections running in a background thread (standalone, all partitions) while a test acts;
    ``records`` counts what they consumed."""

    def __init__(self, settings: Settings, url: str, projections: Sequence[Projection] | None = None) -> None:
        import threading

        self.settings = settings.model_copy(update={"database_url": url})
        self.engine = make_engine(self.settings)
        chosen = list(projections or PROJECTIONS.values())
        for p in chosen:
            activate_first_generation(self.engine, p)
        self.log = make_log(self.settings)
        self.runner = make_projection_runner(self.settings, self.log, self.engine, chosen, name="test")
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)

    def _run(self) -> None:
        source = KafkaRecordSource(self.settings, [self.settings.dossier_topic])
        try:
            self.runner.seek(source, sorted(source.assignment()))
            self.runner.run(source, should_stop=lambda: self._stop, commit_to_kafka=False)
        finally:
            source.close()

    @property
    def records(self) -> int:
        return self.runner.totals.records

    def __enter__(self) -> Projector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(timeout=30)
        self.log.close()
        self.engine.dispose()


def read_records(settings: Settings, topic: str, quiet_s: float = 2.0) -> list[Record]:
    """Every record of ``topic``, in partition order (until nothing came for ``quiet_s``, as Tansu's
    end offsets cannot say when the end is reached)."""
    import time

    source = KafkaRecordSource(settings, [topic])
    records: list[Record] = []
    try:
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            batch = source.poll(max_records=5000, timeout_s=0.5)
            if batch:
                last = time.monotonic()
                records += batch
    finally:
        source.close()
    return records


def read_log(settings: Settings, quiet_s: float = 2.0) -> list[Event]:
    """Every event on the dossier topic, in partition order."""
    codec = make_codec(settings)
    return [codec.decode(r.value) for r in read_records(settings, settings.dossier_topic, quiet_s)]


def read_store(request: Any, database: str, tmp_path: Any) -> str:
    """A fresh read store: a SQLite file, or a new database on the test PostgreSQL server."""
    if database == "postgresql":
        return create_database(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path}/read.sqlite3"


def timeline_steps(url: str) -> dict[str, Counter[tuple[Any, ...]]]:
    """Per dossier, the steps the portal should hold: one per timeline row of a step event type."""
    table = projection("timeline").tables(1)[0]  # typed columns: times come back as datetimes
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.select(table).where(table.c.event_type.in_([t.value for t in STEP_TYPES]))))
    engine.dispose()
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for r in found:
        row = dict(r._mapping)
        out.setdefault(row["dossier_code"], Counter())[step_key(step_item(row["dossier_code"], row))] += 1
    return out
