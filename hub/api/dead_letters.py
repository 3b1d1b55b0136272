"""Dead letters: list, inspect, re-drive by filter (operator).

Values are shown as text with identity-shaped numbers masked: a parked upstream record may carry a
citizen's raw number. Only records parked from a hub topic (header ``dlq.topic``) can be re-driven,
back to that topic with their key and headers; upstream records that never became events cannot
(fix the source, then reset the connector's cursor). Each dead letter is re-driven at most once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, Field

from hub.api.auth import requires
from hub.api.unavailable import unavailable
from hub.bootstrap import make_log
from hub.domain.identity import redact
from hub.errors import HubError
from hub.log.kafka_source import KafkaRecordSource, follow
from hub.ports import Record
from hub.settings import Settings
from hub.store.sql_store import redrives_table

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])
_MAX_SCAN = 100_000


def _text(value: bytes | None, limit: int | None) -> str:
    text = redact((value or b"").decode("utf-8", errors="replace"))
    return text if limit is None or len(text) <= limit else text[:limit] + "…"


def _describe(record: Record, preview: int | None = 200) -> dict[str, Any]:
    def header(name: str) -> str | None:
        found = record.header(name)
        return found.decode("utf-8", errors="replace") if found is not None else None

    origin = header("dlq.topic")
    return {
        "partition": record.partition,
        "offset": record.offset,
        "reason": redact(header("dlq.reason") or "") or None,
        "source": header("dlq.source"),
        "parked_at": header("dlq.parked_at"),
        "origin": {"topic": origin, "partition": header("dlq.partition"), "offset": header("dlq.offset")}
        if origin
        else None,
        "upstream_record_id": header("dlq.record_id"),
        "redrivable": bool(origin),
        "key": _text(record.key, 200) if record.key else None,
        "size": len(record.value or b""),
        "value": _text(record.value, preview),
    }


def _scan(settings: Settings) -> Iterator[Record]:
    """The dead-letter topic from its start, one record at a time (at most _MAX_SCAN)."""
    try:
        source = KafkaRecordSource(settings, [settings.dead_letter_topic])
    except HubError as exc:
        raise unavailable(exc, "the dead-letter topic") from exc
    try:
        for n, record in enumerate(follow(source, idle_exit_s=0.5), 1):
            yield record
            if n >= _MAX_SCAN:
                break
    finally:
        source.close()


def _matches(record: Record, reason: str | None, source: str | None) -> bool:
    found_reason = (record.header("dlq.reason") or b"").decode("utf-8", errors="replace")
    found_source = (record.header("dlq.source") or b"").decode("utf-8", errors="replace")
    return (reason is None or reason.lower() in found_reason.lower()) and (source is None or source == found_source)


@router.get("", summary="List dead letters", dependencies=[Depends(requires("viewer"))])
def list_dead_letters(
    request: Request,
    reason: Annotated[str | None, Query(max_length=200, description="Part of the reason (any case).")] = None,
    source: Annotated[str | None, Query(max_length=64, description="What parked it (dlq.source).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Newest first, with the reason, where it came from and a masked preview. Only the ``limit`` newest
    matches are kept while the topic is read: a request holds a page, never the topic's values."""
    settings: Settings = request.app.state.settings
    newest: deque[dict[str, Any]] = deque(maxlen=limit)
    total = 0
    for record in _scan(settings):
        if _matches(record, reason, source):
            total += 1
            newest.append(_describe(record))
    return {"total": total, "items": list(reversed(newest))}


@router.get("/{partition}/{offset}", summary="Inspect one dead letter", dependencies=[Depends(requires("viewer"))])
def inspect(
    request: Request, partition: Annotated[int, Path(ge=0, le=100_000)], offset: Annotated[int, Path(ge=0)]
) -> dict[str, Any]:
    """One dead letter, read at its place in the topic (not found by scanning it)."""
    settings: Settings = request.app.state.settings
    topic = settings.dead_letter_topic
    try:
        with closing(KafkaRecordSource(settings, [topic])) as everything:
            exists = (topic, partition) in everything.assignment()
        record = None
        if exists:  # a partition the topic does not have is a 404, not a broker failure
            with closing(KafkaRecordSource(settings, [topic], partitions=[partition])) as source:
                source.seek(topic, partition, offset)
                record = next((r for r in source.poll(max_records=1, timeout_s=5) if r.offset == offset), None)
    except HubError as exc:
        raise unavailable(exc, "the dead-letter topic") from exc
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter at partition {partition} offset {offset}")
    return _describe(record, preview=None)


class RedriveFilter(BaseModel):
    reason: str | None = Field(None, max_length=200, description="Part of the reason (any case).")
    source: str | None = Field(None, max_length=64, description="What parked it (dlq.source).")
    partition: int | None = Field(None, ge=0, le=100_000)
    from_offset: int = Field(0, ge=0)
    to_offset: int | None = Field(None, ge=0, description="Inclusive.")
    dry_run: bool = Field(False, description="Only say what would be re-driven.")


@router.post(
    "/redrive", summary="Re-drive dead letters matching a filter", dependencies=[Depends(requires("operator"))]
)
def redrive(request: Request, wanted: RedriveFilter) -> dict[str, Any]:
    """Send matching dead letters back to the topic they were parked from, each at most once."""
    settings: Settings = request.app.state.settings
    engine: sa.Engine = request.app.state.engine
    dlq = settings.dead_letter_topic
    matching = [
        r
        for r in _scan(settings)
        if _matches(r, wanted.reason, wanted.source)
        and (wanted.partition is None or r.partition == wanted.partition)
        and wanted.from_offset <= r.offset <= (wanted.to_offset if wanted.to_offset is not None else r.offset)
    ]
    t = redrives_table
    with engine.connect() as conn:
        done = {
            (p, o) for p, o in conn.execute(sa.select(t.c.dlq_partition, t.c.dlq_offset).where(t.c.dlq_topic == dlq))
        }
    upstream = [r for r in matching if not r.header("dlq.topic")]
    again = [r for r in matching if r.header("dlq.topic") and (r.partition, r.offset) in done]
    todo = [r for r in matching if r.header("dlq.topic") and (r.partition, r.offset) not in done]
    if todo and not wanted.dry_run:
        log = make_log(settings)
        try:
            for record in todo:
                target = (record.header("dlq.topic") or b"").decode()
                headers = [(k, v) for k, v in record.headers if not k.startswith("dlq.")]
                headers.append(("dlq.redriven_from", f"{dlq}[{record.partition}]@{record.offset}".encode()))
                log.send_raw(target, record.key, record.value, headers)
                row = {
                    "dlq_topic": dlq,
                    "dlq_partition": record.partition,
                    "dlq_offset": record.offset,
                    "target_topic": target,
                    "redriven_at": datetime.now(UTC),
                    "redriven_by": "operator",
                }
                with engine.begin() as conn:  # after the send: a crash in between re-sends (event ids dedupe)
                    conn.execute(sa.insert(t).values(**row))
        finally:
            log.close()
    return {
        "dry_run": wanted.dry_run,
        "matched": len(matching),
        "redriven": 0 if wanted.dry_run else len(todo),
        "would_redrive": len(todo) if wanted.dry_run else 0,
        "already_redriven": len(again),
        "not_redrivable_upstream": len(upstream),
        "items": [{"partition": r.partition, "offset": r.offset} for r in todo],
    }
