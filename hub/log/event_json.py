"""Events as JSON for people and files (``hub events publish`` / ``tail --json``), checked against the schemas.

Timestamps are ISO-8601 with an offset, or the upstream systems' ``yyyyMMddHHmmss`` local time
(Asia/Ho_Chi_Minh). Where the schema wants a CitizenIdentity, a raw ``{"id_number": ..., "id_type": ...}``
is accepted and protected with the hub's identity key before anything leaves this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.domain.events import LOCAL_TZ, Event, EventType, SourceSystem, event_id_for
from hub.domain.identity import protect_identity, redact_free_text
from hub.errors import EventValidationError
from hub.log.schemas import NAMESPACE, SchemaSet

__all__ = ["event_from_json", "event_to_json", "parse_timestamp"]

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_ENVELOPE_KEYS = {
    "event_type",
    "event_id",
    "dossier_code",
    "source_system",
    "source_ref",
    "occurred_at",
    "recorded_at",
    "agency_code",
    "procedure_code",
    "correlation_id",
    "causation_id",
    "payload",
}


def parse_timestamp(value: Any, path: str) -> datetime:
    """ISO-8601 with offset, or ``yyyyMMddHHmmss`` in Vietnam's local time, as UTC."""
    if not isinstance(value, str):
        raise EventValidationError(path, f"expected a timestamp string, got {type(value).__name__}")
    text = value.strip()
    if len(text) == 14 and text.isdigit():
        try:
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=LOCAL_TZ).astimezone(UTC)
        except ValueError as exc:
            raise EventValidationError(path, f"invalid yyyyMMddHHmmss time {text!r}: {exc}") from exc
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventValidationError(path, f"not an ISO-8601 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        raise EventValidationError(path, f"{text!r} has no UTC offset (write +07:00 or Z)")
    return moment.astimezone(UTC)


class _Converter:
    """Walks a JSON value alongside its Avro schema, producing the Python datum or a precise error."""

    def __init__(self, schemas: SchemaSet, identity_key: bytes | None) -> None:
        self.types = schemas.types
        self.identity_key = identity_key

    def convert(self, value: Any, schema: Any, path: str) -> Any:
        if isinstance(schema, str):
            if schema in self.types:
                return self.convert(value, self.types[schema], path)
            if f"{NAMESPACE}.{schema}" in self.types:
                return self.convert(value, self.types[f"{NAMESPACE}.{schema}"], path)
            return self._primitive(value, schema, path)
        if isinstance(schema, list):
            return self._union(value, schema, path)
        kind = schema["type"]
        if schema.get("logicalType") == "timestamp-millis":
            return parse_timestamp(value, path)
        handler: Callable[[Any, dict[str, Any], str], Any] | None = {
            "record": self._record,
            "enum": self._enum,
            "array": self._array,
        }.get(kind)
        if handler is not None:
            return handler(value, schema, path)
        return self.convert(value, kind, path)

    def _primitive(self, value: Any, kind: str, path: str) -> Any:
        if kind == "null":
            if value is not None:
                raise EventValidationError(path, "expected null")
            return None
        if kind == "string":
            if not isinstance(value, str):
                raise EventValidationError(path, f"expected a string, got {type(value).__name__}")
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise EventValidationError(path, f"expected true or false, got {value!r}")
            return value
        if kind in _INT_RANGE:
            if isinstance(value, bool) or not isinstance(value, int):
                raise EventValidationError(path, f"expected a whole number, got {value!r}")
            low, high = _INT_RANGE[kind]
            if not low <= value <= high:
                raise EventValidationError(path, f"{value} is out of range for {kind}")
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EventValidationError(path, f"expected a number, got {value!r}")
            return float(value)
        raise EventValidationError(path, f"schema type {kind} is not supported in JSON input")

    def _union(self, value: Any, branches: list[Any], path: str) -> Any:
        if value is None and "null" in branches:
            return None
        others = [b for b in branches if b != "null"]
        if len(others) != 1:
            raise EventValidationError(path, "unions other than [null, T] cannot be written as plain JSON")
        return self.convert(value, others[0], path)

    def _record(self, value: Any, schema: dict[str, Any], path: str) -> dict[str, Any]:
        if schema["name"] == f"{NAMESPACE}.CitizenIdentity" and isinstance(value, dict) and "id_number" in value:
            return self._identity(value, path)
        if not isinstance(value, dict):
            raise EventValidationError(path, f"expected an object, got {type(value).__name__}")
        known = {f["name"] for f in schema["fields"]}
        unknown = sorted(set(value) - known)
        if unknown:
            raise EventValidationError(_join(path, unknown[0]), f"unknown field (known: {', '.join(sorted(known))})")
        out: dict[str, Any] = {}
        for f in schema["fields"]:
            name = f["name"]
            if name in value:
                out[name] = self.convert(value[name], f["type"], _join(path, name))
            elif "default" in f:
                out[name] = f["default"]
            else:
                raise EventValidationError(_join(path, name), "required field is missing")
        return out

    def _identity(self, value: dict[str, Any], path: str) -> dict[str, Any]:
        if self.identity_key is None:
            raise EventValidationError(path, "a raw id_number needs HUB_IDENTITY_KEY to be protected")
        number, id_type = value.get("id_number"), value.get("id_type", "CCCD")
        if not isinstance(number, str) or not number.strip():
            raise EventValidationError(_join(path, "id_number"), "expected a non-empty string")
        id_type = self._enum(id_type, self.types[f"{NAMESPACE}.IdentityType"], _join(path, "id_type"))
        return protect_identity(number, self.identity_key, id_type).as_record()

    def _enum(self, value: Any, schema: dict[str, Any], path: str) -> str:
        if value not in schema["symbols"]:
            raise EventValidationError(path, f"{value!r} is not one of {', '.join(schema['symbols'])}")
        return str(value)

    def _array(self, value: Any, schema: dict[str, Any], path: str) -> list[Any]:
        if not isinstance(value, list):
            raise EventValidationError(path, f"expected a list, got {type(value).__name__}")
        return [self.convert(item, schema["items"], f"{path}[{i}]") for i, item in enumerate(value)]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise EventValidationError(key, f"expected a string or null, got {type(value).__name__}")
    return value


def _required_str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EventValidationError(key, "required non-empty string")
    return value


def event_from_json(
    obj: Any, schemas: SchemaSet, *, identity_key: bytes | None = None, now: datetime | None = None
) -> Event:
    """Validate a JSON object against the schemas and build the event (with its deterministic id)."""
    if not isinstance(obj, dict):
        raise EventValidationError("", f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _ENVELOPE_KEYS)
    if unknown:
        raise EventValidationError(unknown[0], "unknown envelope field")
    type_name = _required_str(obj, "event_type")
    if type_name not in schemas.payload_types or type_name not in EventType._value2member_map_:
        raise EventValidationError("event_type", f"unknown event type {type_name!r}")
    event_type = EventType(type_name)
    system_name = _required_str(obj, "source_system")
    if system_name not in SourceSystem.__members__:
        raise EventValidationError("source_system", f"{system_name!r} is not one of {', '.join(SourceSystem)}")
    source_system = SourceSystem(system_name)
    source_ref = _required_str(obj, "source_ref")
    converter = _Converter(schemas, identity_key)
    payload = converter.convert(obj.get("payload", {}), schemas.payload_types[type_name], "payload")
    expected_id = event_id_for(source_system.value, source_ref, event_type.value)
    if obj.get("event_id") is not None and str(obj["event_id"]) != str(expected_id):
        raise EventValidationError("event_id", f"does not match the deterministic id {expected_id}")
    recorded = obj.get("recorded_at")
    try:
        return Event(
            event_type=event_type,
            event_id=expected_id,
            dossier_code=_required_str(obj, "dossier_code"),
            source_system=source_system,
            source_ref=source_ref,
            occurred_at=parse_timestamp(obj.get("occurred_at"), "occurred_at"),
            recorded_at=parse_timestamp(recorded, "recorded_at") if recorded else (now or datetime.now(UTC)),
            payload=redact_free_text(payload),  # what an operator typed is masked as a connector's is
            agency_code=_optional_str(obj, "agency_code"),
            procedure_code=_optional_str(obj, "procedure_code"),
            correlation_id=_optional_str(obj, "correlation_id"),
            causation_id=_optional_str(obj, "causation_id"),
        )
    except ValueError as exc:
        raise EventValidationError("", str(exc)) from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON form ``event_from_json`` reads back to the same event."""
    return {
        "event_type": event.event_type.value,
        "event_id": event.id_text,
        "dossier_code": event.dossier_code,
        "source_system": event.source_system.value,
        "source_ref": event.source_ref,
        "occurred_at": _jsonable(event.occurred_at),
        "recorded_at": _jsonable(event.recorded_at),
        "agency_code": event.agency_code,
        "procedure_code": event.procedure_code,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "payload": _jsonable(event.payload),
    }
