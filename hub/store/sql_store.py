"""The SQL read store: engines for SQLite (embedded default, WAL) and PostgreSQL, the hub's own tables,
migrations, and the few bulk operations whose fast form differs per database.

Projection tables are not migrated: each projection generation creates its tables from code, and a
changed projection is rebuilt from the log into a new generation (``hub projections rebuild``).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Container, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hub.errors import ConfigError
from hub.store.migrations import HEAD

__all__ = [
    "METADATA",
    "VERSION_TABLE",
    "connector_state_table",
    "dumps",
    "insert_rows",
    "is_postgres",
    "loads",
    "make_engine",
    "migrate",
    "mirror_table",
    "monitor_dossiers_table",
    "monitor_marks_table",
    "monitor_outbox_table",
    "monitor_state_table",
    "offsets_table",
    "paygov_table",
    "policy_marks_table",
    "projections_table",
    "redrives_table",
    "replace_rows",
    "results_sync_table",
    "schema_version",
    "security_events_table",
    "select_in",
    "upsert",
    "vnpost_table",
]

METADATA = sa.MetaData()

projections_table = sa.Table(
    "hub_projections",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("active_generation", sa.Integer, nullable=False),
    sa.Column("active_version", sa.Integer, nullable=False),
    sa.Column("building_generation", sa.Integer, nullable=True),
    comment="Which generation of each projection's tables the views read, and which one a rebuild is filling.",
)

offsets_table = sa.Table(
    "hub_projection_offsets",
    METADATA,
    sa.Column("projection", sa.String(64), primary_key=True),
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    comment="Next Kafka offset to apply, per projection generation; written in the same transaction as its rows.",
)


connector_state_table = sa.Table(
    "hub_connector_state",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=True),
    sa.Column("breaker_state", sa.String(16), nullable=False),
    sa.Column("counters", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Each connector's durable cursor (saved after its events are acknowledged), breaker and counters.",
)


mirror_table = sa.Table(
    "hub_dvcqg_mirror",
    METADATA,
    sa.Column("dossier_code", sa.String(64), primary_key=True),
    sa.Column("sent_version", sa.Integer, nullable=False),
    sa.Column("sent_digest", sa.String(64), nullable=True),
    sa.Column("on_portal", sa.Boolean, nullable=False),
    sa.Column("acked_steps", sa.Text, nullable=False),
    sa.Column("uncertain", sa.Boolean, nullable=False),
    sa.Column("attempt_version", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Per dossier, what the national portal acknowledged (version, payload digest, step event ids) "
    "and the retry state of the mirror policy. Not rebuilt from the log: it records calls made.",
)

policy_marks_table = sa.Table(
    "hub_policy_marks",
    METADATA,
    sa.Column("policy", sa.String(64), primary_key=True),
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    comment="How far into the log each policy has acted; read models below it are replaying, so it sends nothing.",
)


paygov_table = sa.Table(
    "hub_paygov",
    METADATA,
    sa.Column("payment_ref", sa.String(64), primary_key=True),
    sa.Column("dossier_code", sa.String(64), nullable=False),
    sa.Column("amount_vnd", sa.BigInteger, nullable=False),
    sa.Column("initiated", sa.Boolean, nullable=False, default=False),
    sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("payment_url", sa.Text, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("transaction_id", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("queries", sa.Integer, nullable=False, default=0),
    sa.Column("last_query_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Per payment reference, what PayGov acknowledged (INIT) and the outcome the hub recorded "
    "(once per reference); the payment policy's retry and re-query state. Records calls made.",
)

vnpost_table = sa.Table(
    "hub_vnpost",
    METADATA,
    sa.Column("order_key", sa.String(80), primary_key=True),
    sa.Column("dossier_code", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("item_code", sa.String(32), nullable=True),
    sa.Column("reply_status", sa.String(8), nullable=True),
    sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_query_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Per dossier and direction (PICKUP, DELIVERY), the VNPost order the postal policy created "
    "(ItemCode), its retry state, and whether its tracking was read in full once final (closed). Records calls made.",
)

security_events_table = sa.Table(
    "hub_security_events",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(64), nullable=True),
    sa.Column("dossier_code", sa.String(64), nullable=True),
    sa.Column("remote", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_hub_security_events_at", "at"),
    comment="Callbacks refused for security reasons (bad signature, amount mismatch, unknown reference): "
    "never payments nor tracking; a row counts the refusals of one kind from one address it stands for. "
    "No raw identity numbers: callbacks carry none, details are ours.",
)


results_sync_table = sa.Table(
    "hub_results_sync",
    METADATA,
    sa.Column("result_code", sa.String(64), primary_key=True),
    sa.Column("dossier_code", sa.String(64), nullable=False),
    sa.Column("synced_digest", sa.String(64), nullable=True),
    sa.Column("file_id", sa.String(64), nullable=True),
    sa.Column("file_sha256", sa.String(64), nullable=True),
    sa.Column("attempt_digest", sa.String(64), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("uncertain", sa.Boolean, nullable=False, default=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Per digitised result, what the national data store acknowledged (metadata digest, stored file "
    "id and hash) and the sync policy's retry state. Records calls made.",
)


monitor_dossiers_table = sa.Table(
    "hub_monitor_dossiers",
    METADATA,
    sa.Column("dossier_code", sa.String(64), primary_key=True),
    sa.Column("fold", sa.Text, nullable=False),
    sa.Column("active", sa.Text, nullable=False),
    sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_hub_monitor_dossiers_next_check_at", "next_check_at"),
    comment="The SLA monitor's own fold of each dossier (the dossier_state fold), the conditions it has "
    "raised (JSON: key -> raised at) and when time alone can next change them.",
)

monitor_outbox_table = sa.Table(
    "hub_monitor_outbox",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(128), nullable=False),
    sa.Column("record_key", sa.String(128), nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    comment="Monitoring records written with the state change that caused them, deleted once the broker "
    "acknowledged them: nothing is lost between the database and the topic.",
)

monitor_marks_table = sa.Table(
    "hub_monitor_marks",
    METADATA,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("mark", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    comment="What the monitor counts exactly under redelivery: divergence events by id (source: system) "
    "and unreadable dossier-topic messages by partition:offset (source: reason).",
)

monitor_state_table = sa.Table(
    "hub_monitor_state",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    comment="The health monitor's previous sample and alert states (JSON), so a restart neither repeats "
    "nor loses a transition.",
)


redrives_table = sa.Table(
    "hub_redrives",
    METADATA,
    sa.Column("dlq_topic", sa.String(255), primary_key=True),
    sa.Column("dlq_partition", sa.Integer, primary_key=True),
    sa.Column("dlq_offset", sa.BigInteger, primary_key=True),
    sa.Column("target_topic", sa.String(255), nullable=False),
    sa.Column("redriven_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("redriven_by", sa.String(64), nullable=False),
    comment="Dead letters sent back to the topic they came from (POST /api/v1/dead-letters/redrive): "
    "each at most once, whoever asks again.",
)


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """An engine with the settings each database needs; SQLite writers take the lock at BEGIN."""
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"HUB_DATABASE_URL {url!r} is not usable: {exc}") from exc
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's begin event below issues BEGIN itself
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block on the projection writer
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it consistent
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE: a writer holds the write lock for the whole transaction, so reading the
            # stored offsets and writing rows cannot interleave with another writer.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    elif engine.dialect.name != "postgresql":
        raise ConfigError(f"unsupported database {engine.dialect.name}: use sqlite or postgresql")
    return engine


def migrate(engine: Engine) -> None:
    """Bring the hub's own tables to the newest migration in hub/store/migrations (idempotent)."""
    if schema_version(engine) == HEAD:
        return
    from alembic import command  # only when there is something to do: see hub.store.migrations.HEAD
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def schema_version(engine: Engine) -> str | None:
    """The Alembic revision the database is at; None before the first migration."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


VERSION_TABLE = "hub_schema_version"
"""Where Alembic keeps the revision of the hub's tables."""


def dumps(value: Any) -> str:
    """Canonical JSON for stored documents: equal values give equal text on every database."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def loads(text: str) -> Any:
    return orjson.loads(text)


Row = dict[str, Any] | tuple[Any, ...]
"""A row to insert: by column name, or a tuple of every column's value in the table's column order
(what COPY takes: the hottest projection makes tuples, not a dict per row)."""


def insert_rows(conn: Connection, table: sa.Table, rows: Iterable[Row]) -> None:
    """Plain bulk insert: COPY on PostgreSQL (4-5x executemany), executemany on SQLite. ``rows`` may be a
    generator: COPY writes each row as it is made, so a batch's rows are never all held at once."""
    columns = [c.name for c in table.columns]
    if not is_postgres(conn):  # executemany needs every row to name every column: missing ones are NULL
        names = set(columns)
        listed = [
            dict(zip(columns, r, strict=True))
            if isinstance(r, tuple)
            else r
            if names <= r.keys()
            else {c: r.get(c) for c in columns}
            for r in rows
        ]
        if listed:
            conn.execute(table.insert(), listed)
        return
    pending = iter(rows)
    first = next(pending, None)
    if first is None:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    types = _binary_types(table)
    binary = " (FORMAT BINARY)" if types else ""
    # Dict rows: made a tuple in C; one missing a column (None there) takes the slower path below.
    values = operator.itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN{binary}'
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            if types:
                copy.set_types(types)
            for row in itertools.chain((first,), pending):
                if isinstance(row, tuple):
                    copy.write_row(row)  # psycopg adapts values in C
                    continue
                try:
                    copy.write_row(values(row))
                except KeyError:
                    copy.write_row([row.get(c) for c in columns])
    except conn.dialect.loaded_dbapi.IntegrityError as exc:  # as SQLAlchemy raises it for executemany
        raise sa.exc.IntegrityError(statement, None, exc) from exc


_PG_TYPES = {  # subclasses before their bases: Text is a String, SmallInteger an Integer
    sa.Text: "text",
    sa.String: "varchar",
    sa.SmallInteger: "int2",
    sa.BigInteger: "int8",
    sa.Integer: "int4",
    sa.Boolean: "bool",
    sa.DateTime: "timestamptz",
}


@functools.lru_cache(maxsize=256)
def _binary_types(table: sa.Table) -> tuple[str, ...] | None:
    """PostgreSQL type names for a binary COPY into ``table``, or None (text COPY) if a column's type
    is not one mapped here. Binary COPY took a third of text's CPU per row (no date or number
    formatting on our side, no parsing on the server's): 5.2 -> 2.2 us a timeline row, 15.7 -> 5.2
    us a dossier_state row. Time columns must then hold aware datetimes (as the hub's always do)."""
    names = []
    for column in table.columns:
        found = next((n for cls, n in _PG_TYPES.items() if isinstance(column.type, cls)), None)
        if found is None or (found == "timestamptz" and not getattr(column.type, "timezone", False)):
            return None
        names.append(found)
    return tuple(names)


def select_in(conn: Connection, query: sa.Select[Any], column: sa.ColumnElement[Any], keys: Iterable[Any]) -> list[Any]:
    """Rows of ``query`` whose ``column`` is one of ``keys``; chunked so SQLite's parameter limit holds."""
    keys = list(keys)
    found: list[Any] = []
    if is_postgres(conn):
        if keys:
            found.extend(conn.execute(query.where(_any_of(column, keys))))
        return found
    for start in range(0, len(keys), 900):
        found.extend(conn.execute(query.where(column.in_(keys[start : start + 900]))))
    return found


_SEPARATOR = "\x1f"  # ASCII unit separator: in no code or id the hub makes; a key holding it takes the array path


def _any_of(column: sa.ColumnElement[Any], keys: list[Any]) -> sa.ColumnElement[bool]:
    """PostgreSQL's ``column = ANY(keys)``. Text keys go as one string split by the server: psycopg
    dumps a list parameter element by element in Python: ~1 us a key, ~3% of a replay's CPU."""
    try:
        joined = _SEPARATOR.join(keys)
    except TypeError:  # not all text
        joined = None
    if not joined or joined.count(_SEPARATOR) != len(keys) - 1:  # string_to_array('') is {}, not {''}
        return column == sa.func.any(sa.literal(keys, sa.ARRAY(column.type)))
    return column == sa.func.any(sa.func.string_to_array(sa.literal(joined, sa.Text), _SEPARATOR))


def upsert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, or overwrite the non-key columns of those whose primary key exists (both databases)."""
    if not rows:
        return
    conn.execute(_upsert_statement(table, is_postgres(conn), frozenset(rows[0])), rows)


@functools.lru_cache(maxsize=256)
def _upsert_statement(table: sa.Table, postgres: bool, columns: frozenset[str]) -> sa.Insert:
    # Built once per table and column set: building it for each call was a third of the monitor's CPU.
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    update = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys and c.name in columns}
    return insert.on_conflict_do_update(index_elements=keys, set_=update)


def replace_rows(
    conn: Connection, table: sa.Table, key: str, rows: Sequence[dict[str, Any]], stored: Container[Any]
) -> None:
    """Write whole rows by key inside the caller's transaction: those whose key is in ``stored`` (the
    keys the caller read in this same transaction) are deleted first, then all are bulk inserted.
    A new key costs no delete: most rows of a replay are new, and deleting them too cost PostgreSQL
    a key look-up each for nothing."""
    if not rows:
        return
    column = table.c[key]
    keys = [k for row in rows if (k := row[key]) in stored]
    if is_postgres(conn):
        if keys:
            conn.execute(table.delete().where(_any_of(column, keys)))
    else:
        for start in range(0, len(keys), 900):
            conn.execute(table.delete().where(column.in_(keys[start : start + 900])))
    insert_rows(conn, table, rows)
