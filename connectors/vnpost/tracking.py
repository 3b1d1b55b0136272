"""VNPost tracking as events, from pushed callbacks and from queries alike.

Each status becomes PostalStatusChanged (event id from item, code and time: a callback and a query
of the same status give one event); a delivered result also becomes ResultReturned (channel
POSTAL). Callbacks are checked before anything is read: a JSON content type (``content_type``, 415),
the X-Signature HMAC in constant time (``bad_signature``, 401), then the fields (``malformed``, 400),
the message time against the freshness window (``stale``, 400) and that the order is one the hub
placed (``unknown_order``, 404); each refusal is recorded. A message already taken is acknowledged
without being appended to the log again. The dossier is the OrderNumber and the direction the
OrderType, both vouched for by the signature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.common.callback_guard import CallbackGuard, is_json
from connectors.common.record_fields import local_time, text
from connectors.common.security_log import record_refusal
from connectors.vnpost.codes import ORDER_TYPES, TRACKING, signature_ok
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError, UpstreamError
from hub.ports import EventLog
from hub.store.sql_store import vnpost_table

__all__ = ["TrackingReceiver", "tracking_events"]

SOURCE = "VNPOST"
_DIRECTIONS = {order_type: direction for direction, order_type in ORDER_TYPES.items()}


def tracking_events(raw: Mapping[str, Any]) -> list[Event]:
    """The events one tracking status stands for; MappingError naming the field when it is unusable."""
    item, code, dossier = text(raw, "ItemCode"), text(raw, "StatusCode"), text(raw, "OrderNumber")
    if code not in TRACKING:
        raise MappingError(f"StatusCode {code!r} is not a known tracking code")
    direction = _DIRECTIONS.get(str(raw.get("OrderType")))
    if direction is None:
        raise MappingError(f"OrderType {raw.get('OrderType')!r} is not NHAN_HO_SO or TRA_KET_QUA")
    at = local_time(raw.get("Time"), "Time")
    status = TRACKING[code][0]
    location, note = raw.get("Location"), raw.get("Note")
    events = [
        new_event(
            EventType.POSTAL_STATUS_CHANGED,
            dossier_code=dossier,
            source_system=SourceSystem.VNPOST,
            source_ref=f"{item}:{code}:{raw['Time']}",
            occurred_at=at,
            payload={
                "item_code": item,
                "status": status,
                "status_code": code,
                "location": location if isinstance(location, str) else None,
                "note": note if isinstance(note, str) else None,
            },
            correlation_id=item,
        )
    ]
    if status == "DELIVERED" and direction == "DELIVERY":
        events.append(
            new_event(
                EventType.RESULT_RETURNED,
                dossier_code=dossier,
                source_system=SourceSystem.VNPOST,
                source_ref=item,
                occurred_at=at,
                payload={"channel": "POSTAL", "returned_by": f"VNPost {item}"},
                correlation_id=item,
            )
        )
    return events


@dataclass
class TrackingReceiver:
    engine: Engine
    events: EventLog
    key: str
    """The callback verification key (X-Signature), not the API token the hub calls VNPost with."""
    guard: CallbackGuard = field(default_factory=CallbackGuard)
    counters: Counter[str] = field(default_factory=Counter)

    def _refuse(self, kind: str, detail: str, status: int, item: Any, remote: str | None) -> tuple[int, dict[str, str]]:
        self.counters[f"refused_{kind}"] += 1
        record_refusal(
            self.engine, SOURCE, kind, detail, reference=item if isinstance(item, str) else None, remote=remote
        )
        return status, {"Status": str(status), "Message": detail}

    def _not_ordered(self, raw: Mapping[str, Any]) -> str | None:
        """Why the hub never placed this item's order (no order for the dossier and direction, or one
        under another ItemCode), or None when it did. An order still awaiting VNPost's answer has no
        ItemCode yet: its callbacks are taken."""
        direction = _DIRECTIONS[str(raw["OrderType"])]
        item, dossier = str(raw["ItemCode"]), str(raw["OrderNumber"])
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(vnpost_table.c.item_code).where(vnpost_table.c.order_key == f"{dossier}:{direction}")
            ).first()
        if found is None:
            return f"the hub placed no {direction} order for {dossier}"
        if found.item_code is not None and found.item_code != item:
            return f"item {item} is not the {direction} order of {dossier} ({found.item_code} is)"
        return None

    def throttled(self, remote: str | None) -> tuple[int, dict[str, str]]:
        """The answer to a caller over its rate: refused (and counted) before its body is read."""
        return self._refuse("rate_limited", "too many callbacks from this address", 429, None, remote)

    def receive(
        self,
        body: bytes,
        signature: str | None,
        remote: str | None = None,
        content_type: str | None = "application/json",
    ) -> tuple[int, dict[str, str]]:
        self.counters["received"] += 1
        if not is_json(content_type):
            detail = f"the callback must be application/json, not {str(content_type)[:60]!r}"
            return self._refuse("content_type", detail, 415, None, remote)
        if not signature_ok(body, signature, self.key):
            return self._refuse("bad_signature", "X-Signature does not verify", 401, None, remote)
        given = (signature or "").strip().lower()
        if self.guard.recent.seen(given):
            self.counters["replayed"] += 1
            return 200, {"Status": "100", "Message": "OK"}
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._refuse("malformed", "the callback body is not JSON", 400, None, remote)
        if not isinstance(raw, dict):
            return self._refuse("malformed", "the callback body is not a JSON object", 400, None, remote)
        try:
            events = tracking_events(raw)
        except MappingError as exc:
            return self._refuse("malformed", str(exc), 400, raw.get("ItemCode"), remote)
        # Time is when the item was scanned, as VNPost's clock (and the simulator's compressed one) says:
        # an old one is a replay; one ahead of the hub's clock cannot be forged without the key.
        stale = self.guard.stale(events[0].occurred_at, ahead_ok=True)
        if stale:
            return self._refuse("stale", stale, 400, raw.get("ItemCode"), remote)
        unknown = self._not_ordered(raw)
        if unknown:
            return self._refuse("unknown_order", unknown, 404, raw.get("ItemCode"), remote)
        try:
            self.events.append(events)
        except UpstreamError as exc:  # nothing recorded: VNPost must send it again
            self.counters["not_recorded"] += 1
            return 503, {"Status": "503", "Message": f"not recorded, send again: {exc}"}
        self.guard.recent.remember(given)
        self.counters["recorded"] += 1
        return 200, {"Status": "100", "Message": "OK"}
