"""Events to bytes and back. Avro single-object encoding by default; Confluent framing with a registry.

Single object: ``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint + body (Avro spec).
Confluent: ``00`` + 4-byte big-endian schema id + body. Decoding accepts both, always.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

import fastavro
import fastavro.schema
import fastavro.utils
import fastavro.validation

from hub.domain.epoch_millis import utc_of_ms
from hub.domain.events import Event, EventType, SourceSystem
from hub.errors import DecodeError, EventValidationError, UpstreamError
from hub.log.schemas import NAMESPACE, SchemaSet
from hub.ports import SchemaRegistry

__all__ = ["SINGLE_OBJECT_MAGIC", "EventCodec", "WireFormat"]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_CONFLUENT_MAGIC = 0


_TYPES_BY_RECORD = {f"{NAMESPACE}.{kind.value}": kind for kind in EventType}
_SYSTEMS = {system.value: system for system in SourceSystem}


class WireFormat(StrEnum):
    SINGLE_OBJECT = "single-object"
    CONFLUENT = "confluent"


class EventCodec:
    """Stateless apart from caches: safe to share within a process; build one per topic."""

    def __init__(self, schemas: SchemaSet, registry: SchemaRegistry | None = None, subject: str | None = None) -> None:
        if registry is not None and not subject:
            raise ValueError("a registry needs the subject to register under (TopicNameStrategy: <topic>-value)")
        self.schemas = schemas
        self.registry = registry
        self.subject = subject
        self._writer = schemas.current.parsed
        self._header = SINGLE_OBJECT_MAGIC + schemas.current.fingerprint
        # Decoding reads event_id and the top-level times as plain text and longs (see _Decoding);
        # encoding keeps the real schema.
        self._reader = _Decoding.of(schemas.current.schema)
        self._by_fingerprint = {
            fp: self._reader.parsed if v is schemas.current else _Decoding.of(v.schema).parsed
            for fp, v in schemas.by_fingerprint().items()
        }
        self._registered_id: int | None = None
        self._by_id: dict[int, Any] = {}

    @property
    def wire_format(self) -> WireFormat:
        return WireFormat.CONFLUENT if self.registry is not None else WireFormat.SINGLE_OBJECT

    # -- encoding -------------------------------------------------------------------------------

    def header(self) -> bytes:
        """The framing bytes this codec writes before every body."""
        if self.registry is None:
            return self._header
        if self._registered_id is None:
            assert self.subject is not None
            self._registered_id = self.registry.register(self.subject, self.schemas.current.json)
            self._by_id[self._registered_id] = self._reader.parsed
        return bytes([_CONFLUENT_MAGIC]) + self._registered_id.to_bytes(4, "big")

    def schema_ref(self) -> str:
        """What the ``schema`` header says: the fingerprint (hex) or ``id:N`` for the registry."""
        head = self.header()
        return head[2:].hex() if self.registry is None else f"id:{int.from_bytes(head[1:5], 'big')}"

    def encode(self, event: Event) -> bytes:
        record = self.to_record(event)
        buf = io.BytesIO()
        buf.write(self.header())
        try:
            fastavro.schemaless_writer(buf, self._writer, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise self._explain(record, exc) from exc
        return buf.getvalue()

    def to_record(self, event: Event) -> dict[str, Any]:
        """The Avro datum of an event; the payload goes in as (record name, value) to pick its branch."""
        return {
            "event_id": event.id_text,
            "dossier_code": event.dossier_code,
            "source_system": event.source_system.value,
            "source_ref": event.source_ref,
            "occurred_at": event.occurred_at,
            "recorded_at": event.recorded_at,
            "agency_code": event.agency_code,
            "procedure_code": event.procedure_code,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "payload": (f"{NAMESPACE}.{event.event_type.value}", dict(event.payload)),
        }

    def _explain(self, record: dict[str, Any], exc: Exception) -> EventValidationError:
        try:
            fastavro.validation.validate(record, self._writer, raise_errors=True)
        except fastavro.validation.ValidationError as invalid:
            return EventValidationError("", "; ".join(str(e) for e in invalid.errors))
        return EventValidationError("", f"cannot encode: {exc}")

    # -- decoding -------------------------------------------------------------------------------

    def decode(self, data: bytes | None) -> Event:
        """The event in ``data``, or DecodeError saying why not. UpstreamError if the registry is down."""
        if not data:
            raise DecodeError("empty message (tombstone or missing value)")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise DecodeError("truncated single-object header")
            writer = self._by_fingerprint.get(bytes(data[2:10]))
            if writer is None:
                raise DecodeError(f"unknown schema fingerprint {bytes(data[2:10]).hex()}")
            start = 10
        elif data[0] == _CONFLUENT_MAGIC:
            if len(data) < 5:
                raise DecodeError("truncated Confluent header")
            writer = self._writer_for_id(int.from_bytes(data[1:5], "big"))
            start = 5
        else:
            raise DecodeError(f"not Avro single-object or Confluent framing (starts with {bytes(data[:4]).hex()})")
        return self._read(data, start, writer)

    def _read(self, data: bytes, start: int, writer: Any) -> Event:
        buf = io.BytesIO(data)
        buf.seek(start)
        decoding = self._reader
        try:
            # Another writer's schema (an older version, another producer's) is resolved against ours.
            datum = decoding.read(buf) if writer is decoding.parsed else _schemaless_read(buf, writer, decoding.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt input; all mean the same here
            raise DecodeError(f"corrupt or truncated Avro body: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise DecodeError(f"{len(data) - buf.tell()} trailing bytes after the Avro body")
        try:
            decoding.make_times(datum)
            return self.from_record(datum)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise DecodeError(f"decoded datum is not a valid event: {exc}") from exc

    def _writer_for_id(self, schema_id: int) -> Any:
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        if self.registry is None:
            raise DecodeError(f"Confluent-framed message (schema id {schema_id}) but HUB_SCHEMA_REGISTRY_URL is unset")
        text = self.registry.schema_by_id(schema_id)
        if text is None:
            raise DecodeError(f"unknown schema id {schema_id}")
        try:
            parsed = _Decoding.of(json.loads(text)).parsed
        except Exception as exc:
            raise UpstreamError(f"registry returned an unparsable schema for id {schema_id}: {exc}") from exc
        self._by_id[schema_id] = parsed
        return parsed

    @staticmethod
    def from_record(datum: dict[str, Any]) -> Event:
        name, payload = datum["payload"]
        id_text = datum["event_id"]
        if not (isinstance(id_text, str) and _CANONICAL_UUID(id_text)):
            # any other spelling uuid.UUID accepts (as fastavro's uuid reader did), in canonical form
            id_text = str(id_text if isinstance(id_text, uuid.UUID) else uuid.UUID(id_text))
        return Event.trusted(  # in Event's field order; the UUID is made from id_text when first read
            _TYPES_BY_RECORD.get(name) or EventType(name.rsplit(".", 1)[-1]),
            datum["dossier_code"],
            _SYSTEMS.get(datum["source_system"]) or SourceSystem(datum["source_system"]),
            datum["source_ref"],
            datum["occurred_at"],
            datum["recorded_at"],
            payload,
            datum["agency_code"],
            datum["procedure_code"],
            datum["correlation_id"],
            datum["causation_id"],
            id_text,
        )


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


_MILLIS = "timestamp-millis"


def _schemaless_read(buf: IO[bytes], writer: Any, reader: Any) -> Any:
    """fastavro's public reader as the codec reads: a payload's union branch comes named by its record."""
    return fastavro.schemaless_reader(buf, writer, reader, return_record_name=True, return_record_name_override=True)


def _public_reader(parsed: Any) -> Callable[[IO[bytes]], Any]:
    def read(buf: IO[bytes]) -> Any:
        return _schemaless_read(buf, parsed, None)

    return read


def _direct_reader(parsed: Any) -> Callable[[IO[bytes]], Any] | None:
    """fastavro's record reader called with its named-type table and options built once, or None.

    ``schemaless_reader`` builds both on every call: it copies the 44 named types of the dossier
    schema into a new table, 1.2 of the 8.6 us it takes an event here (fastavro issue #444 is the
    same cost, earlier). ``_read_data`` is fastavro's internal reader (its Block reader calls it
    this way), so it is used only where it reads generated data exactly as ``schemaless_reader``
    does; otherwise the codec keeps the public call, slower and the same.
    """
    try:
        from fastavro._read import _default_named_schemas, _read_data  # type: ignore[attr-defined]

        named = _default_named_schemas()
        fastavro.parse_schema(parsed, named["writer"])
        options = {"return_record_name": True, "return_record_name_override": True, "handle_unicode_errors": "strict"}

        def direct(buf: IO[bytes]) -> Any:
            return _read_data(buf, parsed, named, None, options)

        public = _public_reader(parsed)
        for datum in fastavro.utils.generate_many(parsed, 20):
            body = io.BytesIO()
            fastavro.schemaless_writer(body, parsed, datum)
            one, other = io.BytesIO(body.getvalue()), io.BytesIO(body.getvalue())
            if direct(one) != public(other) or one.tell() != other.tell():
                return None
    except Exception:  # any other fastavro: its internals differ, the public reader is right
        return None
    return direct


@dataclass(frozen=True)
class _Decoding:
    """A schema parsed for decoding, without the logical types of ``event_id`` and of the top-level
    times of the envelope and of each payload record (the bytes are the same: a uuid is a string, a
    timestamp-millis a long); ``make_times`` turns those longs into datetimes afterwards.

    fastavro made a UUID of the id, and the read models key on its text, so the decoder formatted it
    straight back (1.6 us an event of a replay, against 0.9 us to check the text and make the UUID),
    and it makes a time as epoch + timedelta, ~0.4 us, where ``utc_of_ms`` takes ~0.2: fastavro's
    read of 30,000 province events went from 13.4 to 11.4 us an event with these types dropped.
    Times nested deeper, and payload records another type refers to by name, keep their logical type.
    """

    parsed: Any
    envelope_times: tuple[str, ...]
    payload_times: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, schema: dict[str, Any]) -> _Decoding:
        plain = copy.deepcopy(schema)
        namespace = plain.get("namespace", "")
        envelope_times = []
        payload_times: dict[str, tuple[str, ...]] = {}
        for item in plain["fields"]:
            if item["name"] == "event_id" and isinstance(item["type"], dict):
                item["type"] = {k: v for k, v in item["type"].items() if k != "logicalType"}
            elif _strip_millis(item):
                envelope_times.append(item["name"])
            elif item["name"] == "payload" and isinstance(item["type"], list):
                referenced = _names_referred_to(plain)
                for branch in item["type"]:
                    if not isinstance(branch, dict) or branch.get("type") != "record":
                        continue
                    name = _full_name(branch, namespace)
                    if name in referenced or branch["name"] in referenced:
                        continue
                    times = tuple(f["name"] for f in branch["fields"] if _strip_millis(f))
                    if times:
                        payload_times[name] = times
        return cls(fastavro.schema.parse_schema(plain), tuple(envelope_times), payload_times)

    @functools.cached_property
    def read(self) -> Callable[[IO[bytes]], Any]:
        """Reads one datum of ``parsed`` (and nothing else) from a buffer. Made on first use: only the
        current schema's is used (other writers' data is resolved by ``schemaless_reader``)."""
        return _direct_reader(self.parsed) or _public_reader(self.parsed)

    def make_times(self, datum: dict[str, Any]) -> None:
        """Datetimes from the longs read in place of timestamp-millis (OverflowError beyond year 9999).
        Only ints: a writer's schema (an older version, another producer's) may still carry the logical
        type where this one drops it, and fastavro then hands over a datetime already."""
        for name in self.envelope_times:
            if isinstance(value := datum[name], int):
                datum[name] = utc_of_ms(value)
        branch = datum["payload"]
        names = self.payload_times.get(branch[0]) if isinstance(branch, tuple) else None
        if names:
            payload = branch[1]
            for name in names:
                if isinstance(value := payload.get(name), int):
                    payload[name] = utc_of_ms(value)


def _strip_millis(item: dict[str, Any]) -> bool:
    """Drop the field's timestamp-millis logical type (alone or beside null in a union); True if it had one."""
    kind = item["type"]
    branches = kind if isinstance(kind, list) else [kind]
    found = False
    for i, branch in enumerate(branches):
        if isinstance(branch, dict) and branch.get("logicalType") == _MILLIS and branch.get("type") == "long":
            branches[i] = "long"
            found = True
    if found and not isinstance(kind, list):
        item["type"] = "long"
    return found


def _full_name(named: dict[str, Any], namespace: str) -> str:
    name = named["name"]
    return name if "." in name else f"{named.get('namespace', namespace)}.{name}"


def _names_referred_to(schema: Any) -> set[str]:
    """Every type name used as a reference (a bare string other than a primitive type) in ``schema``."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, str):
            if node not in _PRIMITIVES:
                found.add(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind == "record" or kind == "error":
                for item in node.get("fields", ()):
                    walk(item["type"])
            elif kind == "array":
                walk(node["items"])
            elif kind == "map":
                walk(node["values"])
            elif kind not in ("enum", "fixed"):
                walk(kind)

    walk(schema)
    return found


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
