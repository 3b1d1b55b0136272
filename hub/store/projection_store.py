"""Where projections keep their bookkeeping: active and building generations, offsets per generation,
and the atomic swap that makes a rebuilt generation the one the views read.

Locking (PostgreSQL): a batch holds the projection's row FOR SHARE and the offset rows of its own
partitions FOR UPDATE (runners that split the partitions do not wait for each other); the swap takes
the projection row FOR UPDATE, so it waits for batches in flight and batches after it see the new
generation. SQLite writers take the database lock at BEGIN, which serialises the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hub.errors import HubError
from hub.ports import Projection, TopicPartition
from hub.store.sql_store import is_postgres, offsets_table, projections_table

__all__ = [
    "ProjectionInfo",
    "activate_first_generation",
    "begin_rebuild",
    "drop_generation",
    "info",
    "lock_generation",
    "lock_offsets",
    "projection_status",
    "read_offsets",
    "store_offsets",
    "try_swap",
]

log = logging.getLogger(__name__)
PROJ, OFFSETS = projections_table, offsets_table


@dataclass(frozen=True)
class ProjectionInfo:
    name: str
    active_generation: int
    active_version: int
    building_generation: int | None


def info(conn: Connection, name: str) -> ProjectionInfo | None:
    row = conn.execute(sa.select(PROJ).where(PROJ.c.name == name)).one_or_none()
    return (
        None
        if row is None
        else ProjectionInfo(row.name, row.active_generation, row.active_version, row.building_generation)
    )


def _create_tables(conn: Connection, projection: Projection, generation: int) -> None:
    for table in projection.tables(generation):
        table.create(conn, checkfirst=True)


def _replace_views(conn: Connection, projection: Projection, generation: int) -> None:
    for view, select in projection.views(generation, conn.dialect.name):
        if is_postgres(conn):
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f"CREATE OR REPLACE VIEW {view} AS {select}")
                continue
            except sa.exc.DBAPIError:  # the columns changed shape: replace the view outright
                pass
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view}")
        conn.exec_driver_sql(f"CREATE VIEW {view} AS {select}")


def activate_first_generation(engine: Engine, projection: Projection) -> ProjectionInfo:
    """Make sure the projection has an active generation with tables and views; return its info."""
    with engine.begin() as conn:
        current = info(conn, projection.name)
        if current is not None:
            return current
        _create_tables(conn, projection, 1)
        _replace_views(conn, projection, 1)
        insert = postgresql.insert(PROJ) if is_postgres(conn) else sqlite.insert(PROJ)
        conn.execute(
            insert.values(
                name=projection.name, active_generation=1, active_version=projection.version, building_generation=None
            ).on_conflict_do_nothing()
        )
        found = info(conn, projection.name)
        assert found is not None
        return found


def begin_rebuild(engine: Engine, projection: Projection) -> int:
    """A fresh generation to rebuild into (resuming an unfinished rebuild's generation if one exists)."""
    activate_first_generation(engine, projection)
    with engine.begin() as conn:
        current = info(conn, projection.name)
        assert current is not None
        if current.building_generation is not None:
            _create_tables(conn, projection, current.building_generation)
            return current.building_generation
        used_query = sa.select(sa.func.max(OFFSETS.c.generation)).where(OFFSETS.c.projection == projection.name)
        used = conn.execute(used_query).scalar()
        generation = max(current.active_generation, used or 0) + 1
        _create_tables(conn, projection, generation)
        conn.execute(sa.update(PROJ).where(PROJ.c.name == projection.name).values(building_generation=generation))
        return generation


def lock_generation(conn: Connection, name: str) -> ProjectionInfo:
    """Read the projection's generations under a shared lock (waits for a swap in progress)."""
    query = sa.select(PROJ).where(PROJ.c.name == name)
    if is_postgres(conn):
        query = query.with_for_update(read=True)
    row = conn.execute(query).one_or_none()
    if row is None:
        raise HubError(f"projection {name} has no generation yet")
    return ProjectionInfo(row.name, row.active_generation, row.active_version, row.building_generation)


def _offset_rows(
    conn: Connection, name: str, generation: int, lock: bool, partitions: Sequence[TopicPartition] | None = None
) -> dict[TopicPartition, int]:
    """Stored next offsets (of ``partitions`` only, when given), locked FOR UPDATE on PostgreSQL if ``lock``."""
    query = sa.select(OFFSETS.c.topic, OFFSETS.c.partition, OFFSETS.c.next_offset).where(
        OFFSETS.c.projection == name, OFFSETS.c.generation == generation
    )
    if partitions is not None:
        query = query.where(sa.tuple_(OFFSETS.c.topic, OFFSETS.c.partition).in_(partitions))
    if lock and is_postgres(conn):  # in one order, so two transactions locking some of the same rows cannot deadlock
        query = query.order_by(OFFSETS.c.topic, OFFSETS.c.partition).with_for_update()
    return {(t, p): int(n) for t, p, n in conn.execute(query)}


def read_offsets(conn: Connection, name: str, generation: int) -> dict[TopicPartition, int]:
    return _offset_rows(conn, name, generation, lock=False)


def lock_offsets(
    conn: Connection, name: str, generation: int, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Stored next offsets of ``partitions``, locked for this transaction; rows are created (at 0) so
    the lock holds. Only those partitions: runners that split a topic's partitions between them lock
    rows of their own, and so run their transactions side by side. Locking every partition's row made
    each runner wait for the other's commit: two runners replaying took turns, one writing while the
    other decoded (300,000 events: 43,183 events/s, and 48,169 once each locked only its own)."""
    wanted = sorted(partitions)
    if not wanted:
        return {}
    insert = postgresql.insert(OFFSETS) if is_postgres(conn) else sqlite.insert(OFFSETS)
    rows = [
        {"projection": name, "generation": generation, "topic": t, "partition": p, "next_offset": 0} for t, p in wanted
    ]
    conn.execute(insert.on_conflict_do_nothing(), rows)
    return _offset_rows(conn, name, generation, lock=True, partitions=wanted)


def store_offsets(conn: Connection, name: str, generation: int, next_offsets: Mapping[TopicPartition, int]) -> None:
    c = OFFSETS.c
    update = (
        sa.update(OFFSETS)
        .where(c.projection == name, c.generation == generation)
        .where(c.topic == sa.bindparam("t"), c.partition == sa.bindparam("p"))
        .values(next_offset=sa.bindparam("n"))
    )
    conn.execute(update, [{"t": t, "p": p, "n": n} for (t, p), n in next_offsets.items()])


def try_swap(engine: Engine, projection: Projection, generation: int) -> bool:
    """Make ``generation`` active if it has applied at least everything the active one has.

    Atomic for readers: the views switch to the new tables in one transaction. Returns False
    (and changes nothing) when the live generation is still ahead; the caller consumes more first.
    """
    with engine.begin() as conn:
        query = sa.select(PROJ).where(PROJ.c.name == projection.name)
        row = conn.execute(query.with_for_update() if is_postgres(conn) else query).one()
        if row.building_generation != generation:
            raise HubError(f"generation {generation} of {projection.name} is not being rebuilt any more")
        live = _offset_rows(conn, projection.name, row.active_generation, lock=True)
        rebuilt = _offset_rows(conn, projection.name, generation, lock=True)
        behind = {tp: n for tp, n in live.items() if rebuilt.get(tp, 0) < n}
        if behind:
            log.info("rebuild of %s still behind the live generation on %s", projection.name, sorted(behind))
            return False
        _replace_views(conn, projection, generation)
        conn.execute(
            sa.update(PROJ)
            .where(PROJ.c.name == projection.name)
            .values(active_generation=generation, active_version=projection.version, building_generation=None)
        )
        retired = row.active_generation
    drop_generation(engine, projection, retired)
    return True


def drop_generation(engine: Engine, projection: Projection, generation: int) -> None:
    """Remove a generation nobody reads any more (after a swap, or an abandoned rebuild)."""
    with engine.begin() as conn:
        for table in projection.tables(generation):
            table.drop(conn, checkfirst=True)
        conn.execute(
            sa.delete(OFFSETS).where(OFFSETS.c.projection == projection.name, OFFSETS.c.generation == generation)
        )


def projection_status(
    engine: Engine, names: Sequence[str], ends: Mapping[TopicPartition, int] | None
) -> list[dict[str, Any]]:
    """Per projection: generation, version, rebuild in progress, stored offsets, lag (None: ends unknown)."""
    found = generations_of(engine, names)
    out: list[dict[str, Any]] = []
    for name in names:
        info_ = found.get(name)
        if info_ is None:
            out.append({"name": name, "generation": None})
            continue
        with engine.connect() as conn:
            offsets = read_offsets(conn, name, info_.active_generation)
        lag = sum(max(ends.get(tp, 0) - offsets.get(tp, 0), 0) for tp in ends) if ends else None
        partitions = [
            {"topic": topic, "partition": partition, "next": offset, "end": (ends or {}).get((topic, partition))}
            for (topic, partition), offset in sorted(offsets.items())
        ]
        out.append(
            {
                "name": name,
                "generation": info_.active_generation,
                "version": info_.active_version,
                "building_generation": info_.building_generation,
                "applied": sum(offsets.values()),
                "lag": lag,
                "partitions": partitions,
            }
        )
    return out


def generations_of(engine: Engine, names: Sequence[str]) -> dict[str, ProjectionInfo]:
    with engine.connect() as conn:
        return {name: found for name in names if (found := info(conn, name)) is not None}


def wait_for_tables(
    engine: Engine,
    names: Sequence[str],
    *,
    should_stop: Callable[[], bool],
    say: Callable[[list[str]], None],
    poll_s: float = 1.0,
    say_every_s: float = 30.0,
) -> bool:
    """Wait until the named projections have tables (``hub projections run`` creates them when it
    starts), saying which are missing now and then. False if stopped first.

    Waiting, rather than exiting for a supervisor to restart it, keeps a policy alive through a slow
    first start under a supervisor with a restart limit (``hub demo``)."""
    said = -say_every_s
    while True:
        present = generations_of(engine, names)
        missing = [n for n in names if n not in present]
        if not missing:
            return True
        if should_stop():
            return False
        if time.monotonic() - said >= say_every_s:
            say(missing)
            said = time.monotonic()
        time.sleep(poll_s)
