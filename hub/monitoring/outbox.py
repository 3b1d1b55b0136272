"""The monitors' outbox: records are written in the transaction of the state change that caused them
and deleted once the broker acknowledged them, so a crash between the two sends them again (same
record_id) rather than never."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.monitoring.records import MonitoringCodec
from hub.store.sql_store import monitor_outbox_table

__all__ = ["Sender", "flush", "put"]

OUT = monitor_outbox_table
Sender = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]
"""send(topic, key, value) -> an awaitable of the broker's acknowledgement (faust's Topic.send shape)."""


def put(conn: Connection, codec: MonitoringCodec, prefix: str, kind: str, key: str, record: Mapping[str, Any]) -> None:
    """Queue ``record`` for topic ``prefix + kind`` (kind: a key of records.TOPICS)."""
    conn.execute(sa.insert(OUT).values(topic=prefix + kind, record_key=key, value=codec.encode(kind, record)))


def _pending(engine: Engine, limit: int) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(OUT.c.id, OUT.c.topic, OUT.c.record_key, OUT.c.value).order_by(OUT.c.id).limit(limit)
            )
        )


def _delete(engine: Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(OUT).where(OUT.c.id.in_(ids)))


async def flush(engine: Engine, send: Sender, batch: int = 500) -> int:
    """Publish every pending record in id order (so per key in order) and forget the acknowledged ones."""
    sent = 0
    while rows := await asyncio.to_thread(_pending, engine, batch):
        acks = [await send(row.topic, row.record_key.encode(), bytes(row.value)) for row in rows]
        await asyncio.gather(*acks)
        await asyncio.to_thread(_delete, engine, [row.id for row in rows])
        sent += len(rows)
    return sent
