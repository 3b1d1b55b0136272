"""Alembic environment: always run with a connection handed over by hub.store.sql_store.migrate."""

from __future__ import annotations

from alembic import context

from hub.store.sql_store import METADATA, VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
