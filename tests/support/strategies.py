"""Hypothesis strategies derived from the Avro schemas, so every event type is covered as it grows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from hub.domain.events import Event, EventType, SourceSystem, event_id_for
from hub.log.schemas import NAMESPACE, SchemaSet

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=24)
codes = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), min_size=1, max_size=30)
# Avro timestamp-millis: whole milliseconds, UTC.
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)


def datum(schema: Any, schemas: SchemaSet) -> st.SearchStrategy[Any]:
    """Any valid Python datum for ``schema`` (an expanded schema or a named reference)."""
    if isinstance(schema, str):
        named = schemas.types.get(schema) or schemas.types.get(f"{NAMESPACE}.{schema}")
        if named is not None:
            return datum(named, schemas)
        return {
            "null": st.none(),
            "string": texts,
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "boolean": st.booleans(),
        }[schema]
    if isinstance(schema, list):
        return st.one_of(*(datum(branch, schemas) for branch in schema))
    if schema.get("logicalType") == "timestamp-millis":
        return moments
    kind = schema["type"]
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: datum(f["type"], schemas) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(datum(schema["items"], schemas), max_size=3)
    return datum(kind, schemas)


def events(schemas: SchemaSet, event_type: EventType | None = None) -> st.SearchStrategy[Event]:
    kinds = st.just(event_type) if event_type else st.sampled_from(list(EventType))

    @st.composite
    def build(draw: st.DrawFn) -> Event:
        kind = draw(kinds)
        system = draw(st.sampled_from(list(SourceSystem)))
        ref = draw(codes)
        optional = st.one_of(st.none(), texts)
        return Event(
            event_type=kind,
            event_id=event_id_for(system.value, ref, kind.value),
            dossier_code=draw(codes),
            source_system=system,
            source_ref=ref,
            occurred_at=draw(moments),
            recorded_at=draw(moments),
            payload=draw(datum(schemas.payload_types[kind.value], schemas)),
            agency_code=draw(optional),
            procedure_code=draw(optional),
            correlation_id=draw(optional),
            causation_id=draw(optional),
        )

    return build()
