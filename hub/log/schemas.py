"""The Avro schemas of the dossier topic: the current version, every published version, fingerprints.

Layout: ``schemas/dossier/<namespace>.<Name>.avsc`` holds one named type per file (fastavro resolves
references between them); ``schemas/history/dossier/DossierEvent.vN.avsc`` holds each published version
as one self-contained schema, so data written by any of them can still be read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro.schema

from hub.errors import ConfigError

__all__ = [
    "ENVELOPE",
    "NAMESPACE",
    "SchemaSet",
    "SchemaVersion",
    "default_schemas_root",
    "named_types",
]

NAMESPACE = "vn.motcua.events"
ENVELOPE = f"{NAMESPACE}.DossierEvent"
_VERSION_FILE = re.compile(r"^DossierEvent\.v(\d+)\.avsc$")


def default_schemas_root() -> Path:
    """Schemas shipped inside the wheel, or the repository's ``schemas/`` in a source checkout."""
    packaged = Path(str(resources.files("hub").joinpath("_schemas")))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"


def named_types(schema: Any, into: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Every named type (record, enum, fixed) defined in an expanded schema, by full name."""
    found = {} if into is None else into
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed") and schema["name"] not in found:
            found[schema["name"]] = schema
            for f in schema.get("fields", []):
                named_types(f["type"], found)
        elif kind == "array":
            named_types(schema["items"], found)
        elif kind == "map":
            named_types(schema["values"], found)
    return found


@dataclass(frozen=True)
class SchemaVersion:
    """One version of the envelope schema, expanded to a self-contained JSON document."""

    version: int | None  # None: the working copy in schemas/dossier, not yet published
    schema: dict[str, Any]

    @cached_property
    def parsed(self) -> Any:
        return fastavro.schema.parse_schema(self.schema)

    @cached_property
    def canonical(self) -> str:
        return str(fastavro.schema.to_parsing_canonical_form(self.parsed))

    @cached_property
    def fingerprint(self) -> bytes:
        """CRC-64-AVRO of the parsing canonical form, little-endian, as single-object encoding wants."""
        return bytes.fromhex(fastavro.schema.fingerprint(self.canonical, "CRC-64-AVRO"))

    @cached_property
    def json(self) -> str:
        """Full JSON (logical types and docs kept), what a schema registry stores."""
        return json.dumps(self.schema, ensure_ascii=False, separators=(",", ":"))


class SchemaSet:
    """The current envelope schema and every published one, loaded once and reused (parsing is slow)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_schemas_root()
        envelope_file = self.root / "dossier" / f"{ENVELOPE}.avsc"
        if not envelope_file.is_file():
            raise ConfigError(f"no envelope schema at {envelope_file} (check HUB_SCHEMAS_DIR)")
        try:
            expanded = fastavro.schema.load_schema(str(envelope_file), _write_hint=False)
        except (ValueError, KeyError, OSError, fastavro.schema.SchemaParseException) as exc:
            raise ConfigError(f"cannot load the schemas under {self.root}: {exc}") from exc
        self.current = SchemaVersion(None, json.loads(json.dumps(expanded)))
        self.history = self._load_history()
        self.types = named_types(self.current.schema)
        self.payload_types: dict[str, dict[str, Any]] = {
            name.rsplit(".", 1)[-1]: self.types[name] for name in self._payload_branches(self.current.schema)
        }

    @property
    def history_dir(self) -> Path:
        return self.root / "history" / "dossier"

    def _load_history(self) -> list[SchemaVersion]:
        versions: list[SchemaVersion] = []
        if self.history_dir.is_dir():
            for path in self.history_dir.iterdir():
                match = _VERSION_FILE.match(path.name)
                if match:
                    versions.append(SchemaVersion(int(match[1]), json.loads(path.read_text(encoding="utf-8"))))
        return sorted(versions, key=lambda v: v.version or 0)

    @staticmethod
    def _payload_branches(schema: dict[str, Any]) -> list[str]:
        payload = next(f for f in schema["fields"] if f["name"] == "payload")
        return [b if isinstance(b, str) else b["name"] for b in payload["type"]]

    def by_fingerprint(self) -> dict[bytes, SchemaVersion]:
        """Every version a reader may meet on the topic, current one included."""
        found = {v.fingerprint: v for v in self.history}
        found[self.current.fingerprint] = self.current
        return found

    @property
    def latest_published(self) -> SchemaVersion | None:
        return self.history[-1] if self.history else None

    def freeze(self) -> SchemaVersion | None:
        """Publish the working copy as the next version if it differs from the latest; return it."""
        latest = self.latest_published
        if latest is not None and latest.canonical == self.current.canonical and latest.schema == self.current.schema:
            return None
        number = (latest.version or 0) + 1 if latest else 1
        self.history_dir.mkdir(parents=True, exist_ok=True)
        path = self.history_dir / f"DossierEvent.v{number}.avsc"
        path.write_text(json.dumps(self.current.schema, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        version = SchemaVersion(number, self.current.schema)
        self.history.append(version)
        return version
