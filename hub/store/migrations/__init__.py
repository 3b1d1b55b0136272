"""The hub's own tables, migrated with Alembic (``hub.store.sql_store.migrate``)."""

HEAD = "0007"
"""The newest revision in versions/. ``migrate`` compares the database's version with it before
importing Alembic, which (with Mako and Pygments behind it) took ~0.1 s of every hub start; a test
checks it against Alembic's own reading of versions/."""
