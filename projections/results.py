"""Digitised results: one row per result (Ma), its source file and its national copy.

Built from ResultDigitised (source file and metadata), ResultSynced / ResultSyncFailed (the sync
policy's outcomes), DivergenceDetected about the result (drift found in the national store),
ResultRevoked; a result that replaces another marks the other ``replaced``. Each column is set by
one event type with a deterministic rule, so any delivery order gives the same row.

``state``: ``revoked`` > ``replaced`` > ``drifted`` (a divergence after the last sync) > ``synced``
(the national copy is this version: metadata digest and file hash) > ``failed`` (the last attempt
failed and will not be retried) > ``pending``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.epoch_millis import utc_of_ms
from hub.domain.events import Event, EventType
from hub.ports import Record
from hub.store.sql_store import replace_rows, select_in
from hub.store.utc import aware_row

__all__ = ["RESULT_STATES", "ResultsProjection", "metadata_digest", "national_metadata"]

_TS = sa.DateTime(timezone=True)
RESULT_STATES = ("pending", "synced", "failed", "drifted", "revoked", "replaced")


def _day(value: Any) -> str | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else utc_of_ms(int(value))
    return moment.astimezone(UTC).isoformat()


def national_metadata(payload: Mapping[str, Any], procedure_code: str | None) -> dict[str, Any]:
    """The metadata (ThongTin) the national store gets for a ResultDigitised payload: what the hub
    sends, compares in the store's echo, and digests to know which version is synced."""
    return {
        "SoKyHieu": payload.get("document_number"),
        "CoQuanBanHanh": payload.get("issuing_agency"),
        "NguoiKy": payload.get("signer"),
        "NgayBanHanh": _day(payload.get("issued_at")),
        "TrichYeuNoiDung": payload.get("summary"),
        "ThoiHanHieuLuc": _day(payload.get("valid_until")),
        "PhamViHieuLuc": payload.get("scope"),
        "LoaiSoHoa": payload.get("kind"),
        "MaTTHC": procedure_code,
        "ChuSoHuuMaHoa": payload["owner"]["masked"],
        "ThayTheCho": payload.get("replaces_result_code"),
    }


def metadata_digest(metadata: Mapping[str, Any], owner_hash: str, sha256: str) -> str:
    canonical = json.dumps([metadata, owner_hash, sha256], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@cache
def _table(generation: int) -> sa.Table:
    s = sa.String(64)
    name = f"results_g{generation}"
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("result_code", s, primary_key=True),
        *(sa.Column(n, s) for n in ("dossier_code", "agency_code", "procedure_code", "owner_hash", "owner_masked")),
        *(sa.Column(n, sa.Text) for n in ("document_number", "issuing_agency", "source_uri", "metadata")),
        sa.Column("media_type", s),
        sa.Column("source_sha256", s),
        sa.Column("source_size", sa.BigInteger),
        sa.Column("metadata_digest", s),
        *(sa.Column(n, s) for n in ("replaces_result_code", "replaced_by")),
        sa.Column("digitised_at", _TS),
        sa.Column("national_code", s),
        sa.Column("national_sha256", s),
        sa.Column("synced_digest", s),
        sa.Column("synced_at", _TS),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", _TS),
        sa.Column("parked", sa.Boolean, nullable=False),
        sa.Column("drifted_at", _TS),
        sa.Column("drift", sa.Text),
        sa.Column("revoked_at", _TS),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Index(f"ix_{name}_state", "state", "digitised_at"),
        sa.Index(f"ix_{name}_dossier", "dossier_code"),
    )


def _newer(row: dict[str, Any], column: str, at: datetime) -> bool:
    return row.get(column) is None or at > row[column]


def _state(row: dict[str, Any]) -> str:
    synced = row.get("synced_at")
    if row.get("revoked_at"):
        return "revoked"
    if row.get("replaced_by"):
        return "replaced"
    if row.get("drifted_at") and (synced is None or row["drifted_at"] > synced):
        return "drifted"
    if row.get("synced_digest") and row.get("synced_digest") == row.get("metadata_digest"):
        return "synced"
    if row.get("parked"):
        return "failed"
    return "pending"


def _fold(row: dict[str, Any], event: Event) -> None:
    p, at, kind = event.payload, event.occurred_at, event.event_type
    if kind is EventType.RESULT_DIGITISED:
        if row.get("digitised_at") is None or at >= row["digitised_at"]:  # a re-digitised result: the latest wins
            metadata = national_metadata(p, event.procedure_code)
            row.update(
                dossier_code=event.dossier_code,
                agency_code=event.agency_code,
                procedure_code=event.procedure_code,
                owner_hash=p["owner"]["hash"],
                owner_masked=p["owner"]["masked"],
                document_number=p.get("document_number"),
                issuing_agency=p.get("issuing_agency"),
                source_uri=p["file"]["uri"],
                media_type=p["file"]["media_type"],
                source_sha256=p["file"]["sha256"],
                source_size=int(p["file"]["size_bytes"]),
                metadata=json.dumps(metadata, sort_keys=True, ensure_ascii=False),
                metadata_digest=metadata_digest(metadata, p["owner"]["hash"], p["file"]["sha256"]),
                replaces_result_code=p.get("replaces_result_code"),
                digitised_at=at,
            )
    elif kind is EventType.RESULT_SYNCED:
        if _newer(row, "synced_at", at):
            row.update(
                synced_at=at,
                synced_digest=p["metadata_digest"],
                national_sha256=p["sha256"],
                national_code=p.get("national_code"),
            )
    elif kind is EventType.RESULT_SYNC_FAILED:
        if _newer(row, "last_error_at", at):
            row.update(
                last_error_at=at, last_error=f"{p['error_code']}: {p['reason']}"[:500], parked=not p["will_retry"]
            )
        row["attempts"] = max(int(row.get("attempts") or 0), int(p["attempt"]))
    elif kind is EventType.DIVERGENCE_DETECTED:
        if _newer(row, "drifted_at", at):
            row.update(drifted_at=at, drift=f"{p['field']}: store {p.get('portal_value')}, hub {p.get('hub_value')}")
    elif kind is EventType.RESULT_REVOKED and (row.get("revoked_at") is None or at < row["revoked_at"]):
        row["revoked_at"] = at


def _digitised(event: Event) -> list[str]:
    p = event.payload
    return [p["result_code"], *([p["replaces_result_code"]] if p.get("replaces_result_code") else [])]


def _own_result(event: Event) -> list[str]:
    return [event.payload["result_code"]]


def _divergence(event: Event) -> list[str]:
    subject = event.payload.get("subject")
    return [subject] if event.source_system == "DVCQG" and subject else []


_CODES: dict[EventType, Callable[[Event], list[str]]] = {
    EventType.RESULT_DIGITISED: _digitised,
    EventType.RESULT_SYNCED: _own_result,
    EventType.RESULT_SYNC_FAILED: _own_result,
    EventType.RESULT_REVOKED: _own_result,
    EventType.DIVERGENCE_DETECTED: _divergence,
}
"""The result rows an event touches, by its type; other types touch none (and cost no call)."""


class ResultsProjection:
    name = "results"
    version = 1

    def tables(self, generation: int) -> Sequence[sa.Table]:
        return [_table(generation)]

    def views(self, generation: int, dialect: str) -> Sequence[tuple[str, str]]:
        return [("v_results", f"SELECT * FROM results_g{generation}")]

    def apply(self, conn: Connection, generation: int, batch: Sequence[tuple[Record, Event]]) -> None:
        table = _table(generation)
        touched: dict[str, list[Event]] = {}
        for _, event in batch:
            codes_of = _CODES.get(event.event_type)
            if codes_of is not None:
                for code in codes_of(event):
                    touched.setdefault(code, []).append(event)
        if not touched:
            return
        stored = {
            r.result_code: aware_row(r._mapping)
            for r in select_in(conn, sa.select(table), table.c.result_code, touched)
        }
        rows = []
        for code, events in touched.items():
            row = stored.get(code) or {"result_code": code, "dossier_code": events[0].dossier_code, "attempts": 0}
            before = dict(row)
            for event in events:
                if event.event_type is EventType.RESULT_DIGITISED and event.payload["result_code"] != code:
                    row["replaced_by"] = max(row.get("replaced_by") or "", event.payload["result_code"])
                else:
                    _fold(row, event)
            row.setdefault("parked", False)
            row["state"] = _state(row)
            if row != before:
                rows.append({c.name: row.get(c.name) for c in table.columns})
        replace_rows(conn, table, "result_code", rows, stored)
