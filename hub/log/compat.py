"""BACKWARD compatibility of the dossier schema: the current reader must resolve data of every
published version (Avro schema resolution rules), with each problem named by its field path.

One rule goes beyond Avro's BACKWARD: a field may be removed only if it had a default, because
consumers still on an older version keep reading new data during a rolling upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.log.schemas import SchemaSet, SchemaVersion, named_types

__all__ = ["Incompatibility", "check_compatibility", "check_schema_set", "unpublished"]

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


@dataclass(frozen=True, slots=True)
class Incompatibility:
    path: str
    problem: str
    version: int | None = None

    def __str__(self) -> str:
        where = f"v{self.version}: " if self.version is not None else ""
        return f"{where}{self.path}: {self.problem}"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class _Checker:
    def __init__(self, reader: dict[str, Any], writer: dict[str, Any]) -> None:
        self.reader_types = named_types(reader)
        self.writer_types = named_types(writer)
        self.problems: list[Incompatibility] = []
        self._seen: set[tuple[str, str]] = set()

    def resolve(self, schema: Any, types: dict[str, dict[str, Any]]) -> Any:
        if isinstance(schema, str) and schema in types:
            return types[schema]
        if isinstance(schema, dict) and schema.get("type") not in ("record", "enum", "fixed", "array", "map"):
            return schema["type"]  # a primitive with a logical type: resolution looks at the primitive only
        return schema

    def kind(self, schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        return schema if isinstance(schema, str) else str(schema["type"])

    def describe(self, schema: Any) -> str:
        kind = self.kind(schema)
        return _short(schema["name"]) if kind in ("record", "enum", "fixed") else kind

    def matches(self, reader: Any, writer: Any) -> bool:
        """Would resolution pick this reader branch for this writer type (ignoring deeper problems)?"""
        r, w = self.kind(reader), self.kind(writer)
        if r in ("record", "enum", "fixed") or w in ("record", "enum", "fixed"):
            return r == w and _short(reader["name"]) == _short(writer["name"])
        return r == w or r in _PROMOTIONS.get(w, set())

    def check(self, reader: Any, writer: Any, path: str) -> None:
        reader = self.resolve(reader, self.reader_types)
        writer = self.resolve(writer, self.writer_types)
        r, w = self.kind(reader), self.kind(writer)
        if w == "union":
            for branch in writer:
                self.check(reader, branch, path)
            return
        if r == "union":
            branches = [self.resolve(b, self.reader_types) for b in reader]
            chosen = next((b for b in branches if self.matches(b, writer)), None)
            if chosen is None:
                self.fail(path, f"old data of type {self.describe(writer)} has no matching branch in the new union")
            else:
                self.check(chosen, writer, path)
            return
        if not self.matches(reader, writer):
            self.fail(path, f"type changed from {self.describe(writer)} to {self.describe(reader)}")
            return
        if r == "record":
            self.check_record(reader, writer, path)
        elif r == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self.fail(path, f"enum symbols removed without an enum default: {', '.join(missing)}")
        elif r == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif r == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")
        elif r == "fixed" and reader["size"] != writer["size"]:
            self.fail(path, f"fixed size changed from {writer['size']} to {reader['size']}")

    def check_record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> None:
        key = (reader["name"], writer["name"])
        if key in self._seen:
            return
        self._seen.add(key)
        path = _short(reader["name"])  # named types are global: name them, not the route to them
        written = {f["name"]: f for f in writer["fields"]}
        for alias_owner in writer["fields"]:
            for alias in alias_owner.get("aliases", []):
                written.setdefault(alias, alias_owner)
        for field in reader["fields"]:
            old = written.get(field["name"]) or next(
                (written[a] for a in field.get("aliases", []) if a in written), None
            )
            if old is None:
                if "default" not in field:
                    self.fail(f"{path}.{field['name']}", "field added without a default")
            else:
                self.check(field["type"], old["type"], f"{path}.{field['name']}")
        readable = {f["name"] for f in reader["fields"]} | {a for f in reader["fields"] for a in f.get("aliases", [])}
        for field in writer["fields"]:
            if field["name"] not in readable and "default" not in field:
                self.fail(f"{path}.{field['name']}", "field removed but it had no default (older readers need it)")

    def fail(self, path: str, problem: str) -> None:
        self.problems.append(Incompatibility(path, problem))


def check_compatibility(reader: dict[str, Any], writer: dict[str, Any]) -> list[Incompatibility]:
    """Problems a reader of ``reader`` would have with data written with ``writer``; empty if none."""
    checker = _Checker(reader, writer)
    checker.check(reader, writer, "")
    return checker.problems


def check_schema_set(schemas: SchemaSet) -> list[Incompatibility]:
    """The working schema against every published version (BACKWARD_TRANSITIVE)."""
    problems: list[Incompatibility] = []
    for old in schemas.history:
        for p in check_compatibility(schemas.current.schema, old.schema):
            problems.append(Incompatibility(p.path, p.problem, old.version))
    return problems


def unpublished(schemas: SchemaSet) -> SchemaVersion | None:
    """The working copy when it differs from the latest published version."""
    latest = schemas.latest_published
    if latest is None or latest.schema != schemas.current.schema:
        return schemas.current
    return None
