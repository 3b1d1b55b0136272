"""Projections against a real broker and both read stores (SQLite, PostgreSQL): one contract, two adapters."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.bootstrap import make_codec, make_log, make_projection_runner
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource, follow
from hub.ports import Record
from hub.runtime.projection_runner import ProjectionRunner
from hub.settings import Settings
from projections import dossier_state
from projections.registry import PROJECTIONS
from simulators.local.postgres import create_database
from simulators.province.read_back import (
    LOG_COLUMNS,
    count_rows,
    fresh_topic,
    project,
    publish,
    read_records,
    snapshot,
)
from simulators.synthetic import province_events
from tests.support.processes import hub_env, kill_repeatedly, read_exactly, run_to_end

KILL_EVENTS = 50_000


@pytest.fixture(scope="module")
def big_log(kafka_bootstrap: str) -> Settings:
    """50k province-like events on a topic of their own, published once for the module."""
    base = Settings(kafka_bootstrap=kafka_bootstrap, kafka_session_timeout_ms=6000, identity_key="k" * 20)
    settings = fresh_topic(base)
    assert publish(settings, province_events(KILL_EVENTS, seed=50)) == KILL_EVENTS
    return settings


def _applied(url: str) -> int:
    """Records the timeline projection has committed (its stored offsets), 0 before it started."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT coalesce(sum(next_offset), 0) FROM hub_projection_offsets WHERE projection = 'timeline'"
                ).scalar_one()
            )
    except sa.exc.DBAPIError:  # killed before it even created its tables
        return 0
    finally:
        engine.dispose()


class ProjectionContract:
    """What every read store must do; subclasses say how to get a fresh, empty store."""

    @pytest.fixture
    def new_store(self) -> Callable[[], str]:
        raise NotImplementedError

    def test_replaying_offsets_changes_nothing_and_duplicates_add_nothing(
        self, kafka_settings: Settings, new_store: Callable[[], str]
    ) -> None:
        settings = fresh_topic(kafka_settings)
        events = list(province_events(600, seed=1))
        publish(settings, events)
        url = new_store()
        project(settings, url, expected=600)
        first = snapshot(url)
        assert len(first["timeline"]) == 600

        project(settings, url, expected=0)  # a restart: resumes at stored offsets, applies nothing
        assert snapshot(url) == first
        publish(settings, events[:100])  # the same events delivered again at new offsets
        totals = project(settings, url, expected=100)
        assert totals.records == 100
        again = snapshot(url)
        assert again == first, "duplicate deliveries changed the read models"

        # A batch that straddles the stored offsets (Kafka's group offsets behind the database's after
        # a crash; this runner has not read them yet): the part below them is skipped, the rest applied once.
        applied = read_records(settings, settings.dossier_topic)
        publish(settings, list(province_events(650, seed=1))[600:])
        seen = {(r.partition, r.offset) for r in applied}
        new = [r for r in read_records(settings, settings.dossier_topic) if (r.partition, r.offset) not in seen]
        tail: dict[int, list[Record]] = {}
        for record in applied:
            tail.setdefault(record.partition, []).append(record)
        old = [r for records in tail.values() for r in records[-3:]]
        store = settings.model_copy(update={"database_url": url})
        engine = sa.create_engine(url)
        log = make_log(store)
        runner = make_projection_runner(store, log, engine, list(PROJECTIONS.values()), name="test")
        try:
            result = runner.apply(sorted(old + new, key=lambda r: (r.partition, r.offset)))
        finally:
            log.close()
            engine.dispose()
        assert len(new) == 50 and (result.applied, result.skipped) == (50, len(old))
        assert len(snapshot(url)["timeline"]) == 650

    def test_shuffled_and_duplicated_delivery_gives_the_ordered_result(
        self, kafka_settings: Settings, new_store: Callable[[], str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        events = list(province_events(2000, seed=2))
        rng = random.Random(3)
        messy = events + rng.sample(events, 300)
        rng.shuffle(messy)
        ordered_log, messy_log = fresh_topic(kafka_settings), fresh_topic(kafka_settings)
        publish(ordered_log, events)
        publish(messy_log, messy)
        ordered_url, messy_url = new_store(), new_store()
        project(ordered_log, ordered_url, expected=len(events))
        project(messy_log, messy_url, expected=len(messy))
        ordered = snapshot(ordered_url, without=LOG_COLUMNS)
        assert len(ordered["timeline"]) == 2000 and len(ordered["dossier"]) > 300
        assert snapshot(messy_url, without=LOG_COLUMNS) == ordered
        monkeypatch.setattr(dossier_state, "_CHUNK", 7)  # a batch's ~400 dossiers in ~60 chunks: the same rows
        chunked_url = new_store()
        project(ordered_log, chunked_url, expected=len(events))
        assert snapshot(chunked_url, without=LOG_COLUMNS) == ordered

    def test_poison_messages_are_parked_and_every_valid_event_projected(
        self, kafka_settings: Settings, new_store: Callable[[], str]
    ) -> None:
        settings = fresh_topic(kafka_settings)
        events = list(province_events(500, seed=4))
        codec = make_codec(settings)
        log = KafkaEventLog(settings, codec)
        poison = {
            b"garbage": b"\x00\x01garbage",
            b"truncated": codec.encode(events[0])[:-3],
            b"foreign": b"\xc3\x01" + b"\x07" * 8 + b"\x02",
        }
        for i in range(0, 500, 50):
            log.append(events[i : i + 50])
            label = list(poison)[i // 50 % 3]
            log.send_raw(settings.dossier_topic, events[i].dossier_code.encode(), poison[label], [("label", label)])
        log.close()
        url = new_store()
        totals = project(settings, url, expected=510)
        assert totals.parked == 10
        assert count_rows(url, "v_timeline") == 500
        assert count_rows(url, "v_dossier") == len({e.dossier_code for e in events})

        project(settings, url, expected=0)  # restart: nothing parked twice
        dlq = KafkaRecordSource(settings, [settings.dead_letter_topic])
        parked = read_exactly(dlq, 10, timeout_s=10)
        assert list(follow(dlq, idle_exit_s=2.0)) == [], "nothing parked twice"  # one empty poll proves little
        dlq.close()
        assert {r.header("label") for r in parked} == set(poison)
        assert all(r.header("dlq.reason") for r in parked)

    def test_rebuild_swaps_atomically_while_a_reader_queries(
        self, kafka_settings: Settings, new_store: Callable[[], str]
    ) -> None:
        from hub.bootstrap import rebuild
        from hub.runtime.projection_rebuild import RebuildProgress

        settings = fresh_topic(kafka_settings)
        events = list(province_events(4000, seed=5))
        publish(settings, events)
        url = new_store()
        project(settings, url, expected=len(events))
        dossiers = count_rows(url, "v_dossier")
        reader = sa.create_engine(url)
        seen: list[tuple[int, int]] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                try:
                    with reader.connect() as conn:
                        timeline = conn.exec_driver_sql("SELECT count(*) FROM v_timeline").scalar_one()
                        state = conn.exec_driver_sql("SELECT coalesce(sum(event_count), 0) FROM v_dossier").scalar_one()
                    seen.append((int(timeline), int(state)))
                except BaseException as exc:  # the test fails on any error the reader meets
                    errors.append(exc)
                    return

        thread = threading.Thread(target=read)
        thread.start()
        try:
            with_url = settings.model_copy(update={"database_url": url})
            reported: list[RebuildProgress] = []
            assert rebuild(with_url, PROJECTIONS["timeline"], reported.append) == (2, 4000)
            assert rebuild(with_url, PROJECTIONS["dossier_state"]) == (2, 4000)
            assert reported[0].done == 0 and reported[-1].done == 4000, "progress is reported from the start to the end"
            assert all(p.projection == "timeline" and p.generation == 2 for p in reported)
        finally:
            stop.set()
            thread.join()
            reader.dispose()
        assert not errors, errors
        assert len(seen) > 5
        assert set(seen) == {(4000, 4000)}, f"a reader saw a partial model: {sorted(set(seen))[:5]}"
        assert count_rows(url, "v_dossier") == dossiers
        engine = sa.create_engine(url)
        names = set(sa.inspect(engine).get_table_names())
        engine.dispose()
        assert {"timeline_g2", "dossier_state_g2"} <= names and not {"timeline_g1", "dossier_state_g1"} & names

    def test_sigkill_at_random_points_then_restart_equals_a_clean_pass(
        self, big_log: Settings, new_store: Callable[[], str]
    ) -> None:
        killed_url, clean_url = new_store(), new_store()
        env = hub_env(big_log, database_url=killed_url, projection_batch="2000")
        progress = kill_repeatedly(
            ["projections", "run", "--standalone"],
            env,
            times=4,
            between_s=(0.0, 0.5),  # after a first committed batch: up to ~6 batches of 2,000 more
            seed=9,
            progress=lambda: _applied(killed_url),
            after_progress=True,
        )
        finish = run_to_end(["projections", "run", "--standalone", "--idle-exit", "3"], env)
        assert finish.returncode == 0, finish.stderr
        mid_replay = [p for p in progress if 0 < p < KILL_EVENTS]
        assert len(mid_replay) >= 2, f"kills should land mid-replay; records applied after each: {progress}"
        project(big_log, clean_url, expected=KILL_EVENTS)
        killed, clean = snapshot(killed_url), snapshot(clean_url)
        assert len(clean["timeline"]) == KILL_EVENTS
        assert killed == clean

    def test_two_runners_in_a_group_split_partitions(
        self, kafka_settings: Settings, new_store: Callable[[], str]
    ) -> None:
        from hub.store.projection_store import activate_first_generation

        settings = fresh_topic(kafka_settings)
        events = list(province_events(3000, seed=6))
        publish(settings, events)
        url = new_store()
        with_url = settings.model_copy(update={"database_url": url})
        from hub.bootstrap import make_engine

        engine = make_engine(with_url)
        for p in PROJECTIONS.values():
            activate_first_generation(engine, p)
        assigned: list[set[tuple[str, int]]] = []
        seen: list[set[tuple[str, int]]] = [set(), set()]  # every partition each member was given
        done = threading.Event()
        group = f"split-test-{uuid.uuid4().hex[:8]}"  # a group of its own: no members left from another test

        def on_assign(
            index: int, runner: ProjectionRunner, holder: list[KafkaRecordSource], tps: list[tuple[str, int]]
        ) -> None:
            seen[index] |= set(tps)
            runner.seek(holder[0], tps)

        def member(index: int) -> None:
            log = make_log(with_url)
            runner = make_projection_runner(with_url, log, engine, list(PROJECTIONS.values()), name=f"member-{index}")
            holder: list[KafkaRecordSource] = []
            source = KafkaRecordSource(
                with_url,
                [settings.dossier_topic],
                group_id=group,
                on_assign=lambda tps: on_assign(index, runner, holder, tps),
            )
            holder.append(source)
            try:
                runner.run(source, should_stop=lambda: done.is_set())
                assigned.append(source.assignment())
            finally:
                source.close()
                log.close()

        threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 90
        while count_rows(url, "v_timeline") < 3000 and time.monotonic() < deadline:
            time.sleep(0.5)
        done.set()
        for t in threads:
            t.join()
        engine.dispose()
        assert all(seen), f"a member was never given a partition: {seen}"
        assert len(assigned) == 2, assigned
        assert not (assigned[0] & assigned[1]), "each partition belongs to one runner"
        clean = new_store()
        project(settings, clean, expected=3000)
        assert snapshot(url, without=LOG_COLUMNS) == snapshot(clean, without=LOG_COLUMNS)


class TestSqliteStore(ProjectionContract):
    @pytest.fixture
    def new_store(self, tmp_path: Path) -> Callable[[], str]:
        counter = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path}/hub-{next(counter)}.sqlite3"


class TestPostgresStore(ProjectionContract):
    @pytest.fixture
    def new_store(self, postgres_url: str) -> Callable[[], str]:
        return lambda: create_database(postgres_url)
