"""The PostgreSQL fixture gives a real, writable server (the production read store)."""

from __future__ import annotations

import sqlalchemy as sa


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
