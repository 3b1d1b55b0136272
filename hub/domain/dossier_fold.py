"""The state of one dossier as an order-independent fold of its events (pure domain, no I/O).

Events reach the hub out of order (a slower system, a replay, a duplicate delivery). Every field
here merges commutatively and idempotently: sets keyed by event id, and registers that keep the
value with the greatest (or least) key, the key being (time, lifecycle rank, event id). So any
order of any multiset of a dossier's events gives the same fold, and the same derived row.

Rules that are decisions, not facts (recorded here because reports depend on them):
- Outcome is judged against the *legal* due date: the appointment at acceptance, moved by the
  one-stop's new date after a supplement (NgayHenTraMoi) or else by the citizen's supplement time.
  An apology letter's new date (DueDateExtended) moves the appointment shown to the citizen
  (``due_at``) but not the legal due date: an apology admits lateness (Decision 766 counts it late).
- Dates compare by calendar day in Asia/Ho_Chi_Minh: finished on the due day is "on the due date".
- A second supplement request makes the dossier overdue, as Decision 766 does.
- Terminal statuses (3 refused, 7 withdrawn, 8 stopped, 10 returned) outrank later non-terminal
  events, and 9 (finished) outranks in-progress ones: a fee paid after the result does not reopen it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.domain.epoch_millis import EPOCH, ms, utc_of_ms
from hub.domain.events import EVENT_ORDER, LOCAL_TZ, Event, EventType

__all__ = ["HANDLERS", "PORTAL_TYPES", "STEP_TYPES", "DossierFold", "derive", "ms", "status_of"]

Key = list[Any]  # [time ms, lifecycle rank, event id] (status: [class, time, rank, id])

# TrangThaiHoSo set by each event type; None = the event does not change the status.
NATIONAL_STATUS: dict[EventType, int | None] = {
    EventType.DOSSIER_SUBMITTED: 1,
    EventType.DOSSIER_ACCEPTED: 2,
    EventType.DOSSIER_REFUSED: 3,
    EventType.DOSSIER_TRANSFERRED: 4,
    EventType.PROCESSING_STEP_RECORDED: 4,  # or the step's own TrangThai when it carries one
    EventType.SUPPLEMENT_REQUESTED: 5,
    EventType.SUPPLEMENT_PROVIDED: 4,
    EventType.FEE_ASSESSED: 6,
    EventType.PAYMENT_CONFIRMED: 4,
    EventType.DOSSIER_WITHDRAWN: 7,
    EventType.DOSSIER_STOPPED: 8,
    EventType.RESULT_ISSUED: 9,
    EventType.RESULT_RETURNED: 10,
}
_TERMINAL = {3, 7, 8, 10}

# What the national portal mirror must know. Each distinct event of these types is one step of the
# dossier's ``portal_version``, which versions the mirror (idempotency keys, NationalStatusSynced).
# Payment requests and failures, postal tracking, ratings (they come from the portal) and the
# mirror's own events are not the portal's business and do not bump it.
STEP_TYPES: frozenset[EventType] = frozenset(
    {t for t, status in NATIONAL_STATUS.items() if status is not None} - {EventType.DOSSIER_SUBMITTED}
    | {EventType.DUE_DATE_EXTENDED}
)
"""Events mirrored as processing steps (CapNhatTienDoHoSoMC): the dossier's whole handling history."""
PORTAL_TYPES: frozenset[EventType] = STEP_TYPES | {EventType.DOSSIER_SUBMITTED, EventType.RESULT_DIGITISED}


def status_of(event: Event) -> int | None:
    """The TrangThaiHoSo an event sets (a step may carry its own), or None."""
    if event.event_type is EventType.PROCESSING_STEP_RECORDED and event.payload.get("national_status"):
        return int(event.payload["national_status"])
    return NATIONAL_STATUS.get(event.event_type)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else utc_of_ms(value)


def _status_class(code: int) -> int:
    return 2 if code in _TERMINAL else 1 if code == 9 else 0


class DossierFold:
    """Mergeable state; ``to_json``/``from_json`` round-trip it through the store."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.d: dict[str, Any] = data if data is not None else {}
        self.ids: set[str] = set(self.d.get("ids", ()))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DossierFold:
        return cls(data)

    def to_json(self) -> dict[str, Any]:
        self.d["ids"] = sorted(self.ids)
        return self.d

    # -- merge primitives ------------------------------------------------------------------------

    def keep_max(self, name: str, key: Key, value: Any) -> None:
        current = self.d.get(name)
        if current is None or key > current[0]:
            self.d[name] = [key, value]

    def keep_min(self, name: str, key: Key, value: Any) -> None:
        current = self.d.get(name)
        if current is None or key < current[0]:
            self.d[name] = [key, value]

    def value(self, name: str) -> Any:
        register = self.d.get(name)
        return None if register is None else register[1]

    def add(self, name: str, member: str) -> None:
        members = self.d.setdefault(name, [])
        if member not in members:
            members.append(member)
            members.sort()

    def put(self, name: str, key: str, field: str, value: Any, pick: Callable[[Any, Any], Any] = min) -> None:
        """Set ``d[name][key][field]``; when two events disagree, ``pick`` decides deterministically."""
        entry = self.d.setdefault(name, {}).setdefault(key, {})
        if value is None:
            return
        entry[field] = value if entry.get(field) is None else pick(entry[field], value)

    def apply(self, event: Event) -> bool:
        """Fold one event in; False (and no change) if this event id was already folded."""
        event_id = event.id_text
        if event_id in self.ids:
            return False
        self.ids.add(event_id)
        at = ms(event.occurred_at)
        key: Key = [at, EVENT_ORDER[event.event_type], event_id]
        self.d["first"] = min(self.d.get("first", at), at)
        self.d["last"] = max(self.d.get("last", at), at)
        if event.agency_code:
            self.keep_max("agency", key, event.agency_code)
        if event.procedure_code:
            self.keep_max("procedure", key, event.procedure_code)
        if event.event_type in PORTAL_TYPES:
            self.d["pv"] = self.d.get("pv", 0) + 1  # once per event id: ``apply`` returned above for repeats
        status = status_of(event)
        if status is not None:
            self.keep_max("status", [_status_class(status), *key], status)
        HANDLERS.get(event.event_type, _ignore)(self, event, key)
        return True


# -- handlers: one plain function per event type that carries state beyond the status -----------

Handler = Callable[[DossierFold, Event, Key], None]


def _ignore(fold: DossierFold, event: Event, key: Key) -> None:
    """Events whose only effect is the status and the envelope (agency, procedure)."""


def _submitted(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    applicant = p.get("applicant") or {}
    fold.keep_min(
        "submitted",
        key,
        {
            "at": key[0],
            "channel": p.get("channel"),
            "online_level": p.get("online_level"),
            "service_code": p.get("service_code"),
            "applicant_kind": applicant.get("kind"),
            "due": ms(p["due_at"]) if p.get("due_at") else None,
        },
    )


def _accepted(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    fold.keep_min(
        "accepted",
        key,
        {
            "at": key[0],
            "due": ms(p["due_at"]) if p.get("due_at") else None,
            "receipt": p.get("receipt_number"),
        },
    )
    if p.get("handling_unit"):
        fold.keep_max("unit", key, p["handling_unit"])


def _transferred(fold: DossierFold, event: Event, key: Key) -> None:
    fold.keep_max("unit", key, event.payload["to_unit"])
    fold.keep_max("step", key, {"step": "TRANSFER", "text": event.payload.get("note") or event.payload["to_unit"]})
    fold.add("steps_seen", "TRANSFER")


def _step(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    fold.keep_max("step", key, {"step": p["step"], "text": p["description"]})
    fold.add("steps_seen", p["step"])
    if p.get("department"):
        fold.keep_max("unit", key, p["department"])


def _supplement_requested(fold: DossierFold, event: Event, key: Key) -> None:
    fold.put("supplements", str(event.payload["round"]), "requested", key[0])


def _supplement_provided(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    fold.put("supplements", str(p["round"]), "provided", key[0])
    if p.get("new_due_at"):
        fold.keep_max("supplement_due", key, ms(p["new_due_at"]))


def _fee(fold: DossierFold, event: Event, key: Key) -> None:
    fold.d.setdefault("fees", {})[key[2]] = int(event.payload["total_vnd"])


def _payment_requested(fold: DossierFold, event: Event, key: Key) -> None:
    fold.put("payments", event.payload["payment_ref"], "requested", int(event.payload["amount_vnd"]), max)


def _payment_confirmed(fold: DossierFold, event: Event, key: Key) -> None:
    fold.put("payments", event.payload["payment_ref"], "paid", int(event.payload["amount_vnd"]), max)


def _payment_failed(fold: DossierFold, event: Event, key: Key) -> None:
    fold.put("payments", event.payload["payment_ref"], "failed", str(event.payload["error_code"]))


def _extended(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    fold.d.setdefault("extensions", {})[key[2]] = {
        "at": key[0],
        "previous": ms(p["previous_due_at"]),
        "new": ms(p["new_due_at"]),
        "reason": p["reason"],
        "apology_ref": p.get("apology_ref"),
    }


def _closed(name: str) -> Handler:
    def handler(fold: DossierFold, event: Event, key: Key) -> None:
        fold.keep_min(name, key, {"at": key[0], "reason": event.payload.get("reason")})

    return handler


def _result_issued(fold: DossierFold, event: Event, key: Key) -> None:
    fold.keep_min("finished", key, {"at": key[0], "result_code": event.payload["result_code"]})
    fold.add("steps_seen", "RESULT")


def _digitised(fold: DossierFold, event: Event, key: Key) -> None:
    fold.add("digitised", event.payload["result_code"])


def _returned(fold: DossierFold, event: Event, key: Key) -> None:
    fold.keep_min("returned", key, {"at": key[0], "channel": event.payload["channel"]})


def _postal_order(fold: DossierFold, event: Event, key: Key) -> None:
    fold.put("postal_orders", event.payload["item_code"], "direction", event.payload["direction"])
    fold.keep_max("postal", key, {"item": event.payload["item_code"], "status": "ORDERED"})


def _postal_status(fold: DossierFold, event: Event, key: Key) -> None:
    fold.keep_max("postal", key, {"item": event.payload["item_code"], "status": event.payload["status"]})
    fold.put("postal_orders", event.payload["item_code"], "latest", [key, event.payload["status"]], max)


def _rated(fold: DossierFold, event: Event, key: Key) -> None:
    fold.keep_max("satisfaction", key, event.payload["rating"])


def _mirrored(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    version = int(p["sync_version"])
    fold.keep_max("mirror", [version, *key], {"status": int(p["national_status"]), "at": key[0], "version": version})


def _mirror_failed(fold: DossierFold, event: Event, key: Key) -> None:
    fold.add("mirror_failures", key[2])


def _divergence(fold: DossierFold, event: Event, key: Key) -> None:
    p = event.payload
    fold.add("divergences", key[2])
    fold.keep_max("divergence", key, {k: p.get(k) for k in ("field", "portal_value", "hub_value", "rule")})


HANDLERS: dict[EventType, Handler] = {
    EventType.DOSSIER_SUBMITTED: _submitted,
    EventType.DOSSIER_ACCEPTED: _accepted,
    EventType.DOSSIER_REFUSED: _closed("refused"),
    EventType.DOSSIER_TRANSFERRED: _transferred,
    EventType.PROCESSING_STEP_RECORDED: _step,
    EventType.SUPPLEMENT_REQUESTED: _supplement_requested,
    EventType.SUPPLEMENT_PROVIDED: _supplement_provided,
    EventType.FEE_ASSESSED: _fee,
    EventType.PAYMENT_REQUESTED: _payment_requested,
    EventType.PAYMENT_CONFIRMED: _payment_confirmed,
    EventType.PAYMENT_FAILED: _payment_failed,
    EventType.DUE_DATE_EXTENDED: _extended,
    EventType.DOSSIER_WITHDRAWN: _closed("withdrawn"),
    EventType.DOSSIER_STOPPED: _closed("stopped"),
    EventType.RESULT_ISSUED: _result_issued,
    EventType.RESULT_DIGITISED: _digitised,
    EventType.RESULT_RETURNED: _returned,
    EventType.POSTAL_ORDER_CREATED: _postal_order,
    EventType.POSTAL_STATUS_CHANGED: _postal_status,
    EventType.SATISFACTION_RATED: _rated,
    EventType.NATIONAL_STATUS_SYNCED: _mirrored,
    EventType.NATIONAL_SYNC_FAILED: _mirror_failed,
    EventType.DIVERGENCE_DETECTED: _divergence,
}


# -- derived columns ----------------------------------------------------------------------------


def _local_day(value: int) -> int:
    """The local calendar day of an epoch-ms time, as days since 1970-01-01 (only compared, never shown)."""
    if value >= _SINCE_1975:  # UTC+7 without DST since then: integer arithmetic, no datetimes
        return (value + _UTC7_MS) // _DAY_MS
    return utc_of_ms(value).astimezone(LOCAL_TZ).date().toordinal() - _EPOCH_ORDINAL


_DAY_MS = 86_400_000
_UTC7_MS = 7 * 3_600_000
_SINCE_1975 = ms(datetime(1975, 7, 1, tzinfo=UTC))
_EPOCH_ORDINAL = EPOCH.date().toordinal()
"""Vietnam has kept UTC+7, without DST, since mid-1975 (the SQL views assume it too); before that the
time zone database knows the offsets. A day number here only ever meets another from this function."""


def _outcome(fold: DossierFold, finished: int | None, legal_due: int | None, rounds: int) -> str:
    if finished is None:
        for closed in ("refused", "withdrawn", "stopped"):
            if fold.value(closed):
                return closed
        return "in_progress"
    if rounds >= 2:
        return "overdue"
    if legal_due is None:
        return "no_due_date"
    finished_day, due_day = _local_day(finished), _local_day(legal_due)
    return "before_due" if finished_day < due_day else "on_due" if finished_day == due_day else "overdue"


def _fee_status(fee_total: int, paid: int, payments: dict[str, dict[str, Any]]) -> str:
    if fee_total == 0 and paid == 0:
        return "none"
    if paid >= fee_total > 0:
        return "paid"
    if paid > 0:
        return "partly_paid"
    if any(p.get("failed") for p in payments.values()):
        return "failed"
    return "requested" if any(p.get("requested") for p in payments.values()) else "due"


_EMPTY: dict[str, Any] = {}  # an absent record-valued register reads as this (never written to)
_FAILED_DELIVERY = ("DELIVERY_FAILED", "RETURNED_TO_SENDER")


def _extension_order(extension: dict[str, Any]) -> tuple[int, int]:
    return extension["at"], extension["new"]


def derive(code: str, fold: DossierFold) -> dict[str, Any]:
    """The dossier_state row: what dashboards read, computed only from the fold.

    A replay derives a row per dossier per batch: what most dossiers lack (supplements, extensions,
    payments, postal items) is skipped when absent, and nothing is built only to be counted."""
    d = fold.d
    get = d.get
    submitted = fold.value("submitted") or _EMPTY
    accepted = fold.value("accepted") or _EMPTY
    finished = (fold.value("finished") or _EMPTY).get("at")
    returned = fold.value("returned") or _EMPTY
    supplements: dict[str, dict[str, int]] | None = get("supplements")
    rounds = closed_rounds = supplement_ms = 0
    if supplements:
        requested = [r for r in supplements.values() if "requested" in r]
        closed = [r for r in requested if "provided" in r]
        rounds, closed_rounds = len(requested), len(closed)
        supplement_ms = sum(max(r["provided"] - r["requested"], 0) for r in closed)
    initial_due = accepted.get("due") or submitted.get("due")
    legal_due = fold.value("supplement_due") or (initial_due + supplement_ms if initial_due is not None else None)
    recorded_extensions = get("extensions")
    extensions = sorted(recorded_extensions.values(), key=_extension_order) if recorded_extensions else []
    due = extensions[-1]["new"] if extensions else legal_due
    recorded_fees = get("fees")
    fees = sum(recorded_fees.values()) if recorded_fees else 0
    payments: dict[str, dict[str, Any]] = get("payments") or _EMPTY
    paid = sum(p.get("paid", 0) for p in payments.values()) if payments else 0
    outcome = _outcome(fold, finished, legal_due, rounds)
    postal = fold.value("postal") or _EMPTY
    mirror = fold.value("mirror") or _EMPTY
    step = fold.value("step") or _EMPTY
    portal_version = int(get("pv", 0))
    mirror_version = int(mirror.get("version", 0))
    # Mirrorable once the portal can file it: the procedure and a submission or acceptance are known.
    procedure = fold.value("procedure")
    mirror_ready = procedure is not None and bool(submitted or accepted)

    gaps = []
    if not submitted:
        gaps.append("no_submission")
    if accepted and accepted.get("due") is None:
        gaps.append("accepted_without_due_date")
    if finished is not None and not accepted:
        gaps.append("finished_without_acceptance")
    if returned and "APPROVE" not in get("steps_seen", ()):
        gaps.append("returned_without_approval")
    if returned and finished is None:
        gaps.append("returned_without_result")
    if paid and not fees:
        gaps.append("payment_without_fee")
    if paid and fees and paid != fees:
        gaps.append("payment_amount_mismatch")
    if outcome == "overdue" and not extensions:
        gaps.append("overdue_without_apology")
    items: dict[str, dict[str, Any]] | None = get("postal_orders")
    if items and any(i.get("latest", [None, None])[1] in _FAILED_DELIVERY for i in items.values()):
        gaps.append("postal_delivery_failed")  # an item's latest tracking: cleared once that item is delivered

    return {
        "dossier_code": code,
        "procedure_code": procedure,
        "agency_code": fold.value("agency"),
        "handling_unit": fold.value("unit"),
        "service_code": submitted.get("service_code"),
        "channel": submitted.get("channel"),
        "online_level": submitted.get("online_level"),
        "applicant_kind": submitted.get("applicant_kind"),
        "national_status": fold.value("status"),
        "detailed_step": step.get("step"),
        "detailed_step_text": step.get("text"),
        "submitted_at": _dt(submitted.get("at")),
        "received_at": _dt(accepted.get("at")),
        "receipt_number": accepted.get("receipt"),
        "initial_due_at": _dt(initial_due),
        "legal_due_at": _dt(legal_due),
        "due_at": _dt(due),
        "due_extensions": len(extensions),
        "due_extension_history": extensions,
        "finished_at": _dt(finished),
        "returned_at": _dt(returned.get("at")),
        "return_channel": returned.get("channel"),
        "refused_at": _closed_at(fold, "refused"),
        "withdrawn_at": _closed_at(fold, "withdrawn"),
        "stopped_at": _closed_at(fold, "stopped"),
        "supplement_rounds": rounds,
        "supplement_seconds": supplement_ms // 1000,
        "supplement_open": rounds > closed_rounds,
        "outcome": outcome,
        "fee_total_vnd": fees,
        "paid_total_vnd": paid,
        "fee_status": _fee_status(fees, paid, payments),
        "postal_item_code": postal.get("item"),
        "postal_status": postal.get("status"),
        "digitised_results": len(get("digitised", ())),
        "satisfaction": fold.value("satisfaction"),
        "rated_at": _dt(d["satisfaction"][0][0]) if get("satisfaction") else None,
        "portal_version": portal_version,
        "mirror_version": mirror_version,
        "mirror_pending": mirror_ready and portal_version > mirror_version,
        "mirror_status": mirror.get("status"),
        "mirror_synced_at": _dt(mirror.get("at")),
        "mirror_failures": len(get("mirror_failures", ())),
        "divergences": len(get("divergences", ())),
        "last_divergence": fold.value("divergence"),
        "gap_flags": ",".join(gaps),
        "event_count": len(fold.ids),
        "first_event_at": _dt(get("first")),
        "last_event_at": _dt(get("last")),
    }


def _closed_at(fold: DossierFold, name: str) -> datetime | None:
    return _dt((fold.value(name) or _EMPTY).get("at"))
