"""The PostgreSQL fixture gives a real, writable server (the production read store)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.connector_state import ConnectorState, ConnectorStateStore
from hub.local.postgres import create_database
from hub.sql_store import make_engine, migrate, policy_marks_table, upsert


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


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_stores_that_upsert_insert_then_overwrite_on_both_databases(
    database: str, postgres_url: str, tmp_path: Path
) -> None:
    url = create_database(postgres_url) if database == "postgresql" else f"sqlite:///{tmp_path}/u.sqlite3"
    engine = make_engine(url)
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
    engine.dispose()
