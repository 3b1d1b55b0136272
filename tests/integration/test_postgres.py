"""The PostgreSQL fixture gives a real, writable server (the production read store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.connector_state import ConnectorState, ConnectorStateStore
from hub.local.postgres import create_database
from hub.sql_store import insert_rows, make_engine, migrate, policy_marks_table, upsert


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


def test_bulk_inserts_take_rows_missing_columns_and_one_column_tables(engine: sa.Engine) -> None:
    wide = sa.Table("wide", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True), sa.Column("note", sa.Text))
    narrow = sa.Table("narrow", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True))
    with engine.begin() as conn:
        wide.create(conn)
        narrow.create(conn)
        insert_rows(conn, wide, [{"k": 1, "note": "đủ"}, {"k": 2}, {"k": 3, "note": None}])
        insert_rows(conn, narrow, [{"k": 7}, {"k": 8}])
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(sa.select(wide).order_by(wide.c.k))] == [(1, "đủ"), (2, None), (3, None)]
        assert conn.execute(sa.select(narrow.c.k).order_by(narrow.c.k)).scalars().all() == [7, 8]
