"""migrate(): Alembic only when the database is behind; hub.store.migrations.HEAD names the newest revision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

import hub.store.migrations
from hub.store.migrations import HEAD
from hub.store.sql_store import (
    make_engine,
    migrate,
    monitor_dossiers_table,
    monitor_marks_table,
    monitor_outbox_table,
    monitor_state_table,
    redrives_table,
    schema_version,
)


def test_head_is_the_newest_revision_alembic_finds() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(hub.store.migrations.__file__).parent))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert heads == [HEAD], f"a new migration: set hub.store.migrations.HEAD to {heads}"


def test_a_database_at_head_is_not_handed_to_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    engine = make_engine(url)
    assert schema_version(engine) is None
    migrate(engine)
    assert schema_version(engine) == HEAD
    assert "hub_projections" in sa.inspect(engine).get_table_names()
    engine.dispose()
    # A second start on the migrated database: a fresh interpreter, so imports tell what ran.
    check = (
        "import sys\nfrom hub.store.sql_store import make_engine, migrate\n"
        f"migrate(make_engine({url!r}))\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_database_behind_head_is_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    migrate(engine)
    with engine.begin() as conn:  # as a database left by the hub before 0006 (monitoring) would be
        for table in (redrives_table, monitor_state_table, monitor_marks_table, monitor_outbox_table):
            table.drop(conn)
        monitor_dossiers_table.drop(conn)
        conn.execute(sa.text("ALTER TABLE hub_security_events DROP COLUMN count"))  # 0007's column
        conn.execute(sa.text("UPDATE hub_schema_version SET version_num = '0005'"))
    migrate(engine)
    assert schema_version(engine) == HEAD
    assert {redrives_table.name, monitor_state_table.name} <= set(sa.inspect(engine).get_table_names())
    assert "count" in {c["name"] for c in sa.inspect(engine).get_columns("hub_security_events")}
