"""The national data store's feed of changes made there by others, as an Upstream for the connector
runtime (``hub connectors run dvcqg-store``): a revocation becomes ResultRevoked, an edit a
DivergenceDetected about the result (which the results sync then repairs: the hub is authoritative
for the results it issued). Malformed entries are parked by the runtime with their reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.common.record_fields import local_time, text
from connectors.dvcqg.client import DvcqgClient
from hub.domain.divergence import divergence_event
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError, UpstreamError
from hub.ports import Page, UpstreamRecord

__all__ = ["StoreFeedUpstream", "map_store_change"]


def map_store_change(raw: Mapping[str, Any]) -> Event:
    code, dossier, kind = text(raw, "Ma"), text(raw, "MaHoSo"), text(raw, "Loai")
    at = local_time(raw.get("ThoiDiem"), "ThoiDiem")
    if kind == "THU_HOI":
        return new_event(
            EventType.RESULT_REVOKED,
            dossier_code=dossier,
            source_system=SourceSystem.DVCQG,
            source_ref=f"kho:{raw.get('Id')}",
            occurred_at=at,
            payload={"result_code": code, "revoked_by": raw.get("NguoiThucHien"), "reason": raw.get("LyDo")},
        )
    if kind == "SUA_DOI":
        return divergence_event(
            dossier,
            f"kho:{raw.get('Id')}",
            str(raw.get("TruongThayDoi") or "ThongTin"),
            "changed in the store",
            None,
            "changed-on-national-store",
            source_system=SourceSystem.DVCQG,
            about=code,
            occurred_at=at,
        )
    raise MappingError(f"Loai {kind!r} is not THU_HOI or SUA_DOI")


class StoreFeedUpstream:
    name = "dvcqg-store"

    def __init__(self, client: DvcqgClient) -> None:
        self.client = client
        self.endpoint = client.url

    def fetch(self, cursor: str | None, limit: int) -> Page:
        after = int(cursor) if cursor else 0
        body = self.client.call("GET", "/api/kho/thaydoi", params={"tu": after, "so_luong": limit})
        if str(body.get("error_code")) != "0":
            raise UpstreamError(f"store feed error {body.get('error_code')}: {body.get('message')}")
        records = [
            UpstreamRecord(
                str(item.get("Id", "?")), item, item.get("MaHoSo") if isinstance(item.get("MaHoSo"), str) else None
            )
            for item in body.get("data") or []
            if isinstance(item, dict)
        ]
        last = body.get("tiep_theo")
        return Page(
            records, str(last if isinstance(last, int) and last >= after else after), bool(body.get("con_du_lieu"))
        )

    def map(self, record: UpstreamRecord) -> Sequence[Event]:
        return [map_store_change(record.raw)]

    def redact(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        return raw  # store feed entries carry no identity numbers (owners are keyed hashes)
