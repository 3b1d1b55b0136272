"""The PostgreSQL fixture gives a real, writable server (the production read store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.store.connector_state import ConnectorState, ConnectorStateStore
from hub.store.projection_store import lock_offsets, store_offsets
from hub.store.sql_store import insert_rows, make_engine, migrate, policy_marks_table, replace_rows, select_in, upsert
from simulators.local.postgres import create_database


def test_postgres_is_real_and_transactional(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("show server_version")).scalar_one().startswith(("15", "16", "17"))
            conn.execute(sa.text("create table if not exists probe (id int primary key, note text)"))
            conn.execute(sa.text("insert into probe values (1, 'hồ sơ') on conflict (id) do nothing"))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("insert into probe values (2, 'rolled back')"))
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select id, note from probe order by id")).all()
        assert [tuple(r) for r in rows] == [(1, "hồ sơ")]
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, postgres_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """A new, empty database on each store."""
    url = create_database(postgres_url) if request.param == "postgresql" else f"sqlite:///{tmp_path}/s.sqlite3"
    made = make_engine(url)
    yield made
    made.dispose()


def test_stores_that_upsert_insert_then_overwrite_on_both_databases(engine: sa.Engine) -> None:
    migrate(engine)
    states = ConnectorStateStore(engine)
    state = ConnectorState("onestop", cursor="10")
    states.save(state)
    state.cursor, state.breaker_state = "25", "open"
    states.save(state)
    again = states.load("onestop")
    assert (again.cursor, again.breaker_state) == ("25", "open") and len(states.all()) == 1
    with engine.begin() as conn:
        upsert(conn, policy_marks_table, [{"policy": "p", "topic": "t", "partition": 0, "next_offset": 5}])
        upsert(conn, policy_marks_table, [{"policy": "p", "topic": "t", "partition": 0, "next_offset": 9}])
        assert conn.execute(sa.select(policy_marks_table.c.next_offset)).scalars().all() == [9]


def test_bulk_inserts_take_rows_missing_columns_tuples_and_one_column_tables(engine: sa.Engine) -> None:
    wide = sa.Table("wide", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True), sa.Column("note", sa.Text))
    narrow = sa.Table("narrow", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True))
    with engine.begin() as conn:
        wide.create(conn)
        narrow.create(conn)
        insert_rows(conn, wide, [{"k": 1, "note": "đủ"}, {"k": 2}, {"k": 3, "note": None}, (4, "a tuple")])
        insert_rows(conn, narrow, [{"k": 7}, {"k": 8}])
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(wide).order_by(wide.c.k))] == [
            (1, "đủ"),
            (2, None),
            (3, None),
            (4, "a tuple"),
        ]
        assert conn.execute(sa.select(narrow.c.k).order_by(narrow.c.k)).scalars().all() == [7, 8]


def test_select_in_and_replace_rows_find_exactly_the_keys_asked_for(engine: sa.Engine) -> None:
    """Text keys go to PostgreSQL as one joined string; a key holding the separator, or keys that are
    not text, must take the array path and find the same rows."""
    by_text = sa.Table(
        "by_text", sa.MetaData(), sa.Column("k", sa.String(64), primary_key=True), sa.Column("v", sa.Integer)
    )
    by_int = sa.Table("by_int", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True), sa.Column("v", sa.Integer))
    keys = ["000.00.20.H56-260601-0001", "a\x1fb", "", "đủ,{x}", "a", "b"]
    with engine.begin() as conn:
        by_text.create(conn)
        by_int.create(conn)
        insert_rows(conn, by_text, [{"k": k, "v": 1} for k in keys])
        insert_rows(conn, by_int, [{"k": k, "v": 1} for k in range(5)])

        def found(table: sa.Table, asked: list[object]) -> set[object]:
            return {row[0] for row in select_in(conn, sa.select(table.c.k), table.c.k, asked)}

        assert found(by_text, ["000.00.20.H56-260601-0001", "đủ,{x}", "missing"]) == {
            "000.00.20.H56-260601-0001",
            "đủ,{x}",
        }
        assert found(by_text, ["a\x1fb", "a"]) == {"a\x1fb", "a"}  # not "a" and "b" apart
        assert found(by_text, [""]) == {""}
        assert found(by_text, []) == set()
        assert found(by_int, [1, 3, 9]) == {1, 3}
        replace_rows(conn, by_text, "k", [{"k": "a\x1fb", "v": 2}, {"k": "", "v": 3}], {"a\x1fb", ""})
        replace_rows(conn, by_int, "k", [{"k": 4, "v": 5}, {"k": 7, "v": 7}], {4})
    with engine.connect() as conn:
        assert dict(conn.execute(sa.select(by_text.c.k, by_text.c.v)).tuples().all()) == {
            **{k: 1 for k in keys},
            "a\x1fb": 2,
            "": 3,
        }
        assert dict(conn.execute(sa.select(by_int.c.k, by_int.c.v)).tuples().all()) == {
            0: 1,
            1: 1,
            2: 1,
            3: 1,
            4: 5,
            7: 7,
        }


def test_a_batch_locks_the_offsets_of_its_own_partitions_only(postgres_url: str) -> None:
    """Runners splitting a topic's partitions write side by side; two on one partition take turns."""
    engine = make_engine(create_database(postgres_url))
    migrate(engine)
    try:
        with engine.begin() as holder:  # a batch of partitions 0 and 1, not yet committed
            assert lock_offsets(holder, "timeline", 1, [("t", 1), ("t", 0)]) == {("t", 0): 0, ("t", 1): 0}
            store_offsets(holder, "timeline", 1, {("t", 0): 5, ("t", 1): 7})
            with engine.begin() as other:
                other.exec_driver_sql("SET LOCAL lock_timeout = '3s'")
                assert lock_offsets(other, "timeline", 1, [("t", 2)]) == {("t", 2): 0}
                assert lock_offsets(other, "dossier_state", 1, [("t", 0)]) == {("t", 0): 0}
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"), engine.begin() as same:
                same.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                lock_offsets(same, "timeline", 1, [("t", 0)])
        with engine.begin() as after:
            assert lock_offsets(after, "timeline", 1, [("t", 0)]) == {("t", 0): 5}
    finally:
        engine.dispose()
