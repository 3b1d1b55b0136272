"""The monitoring topics, their Avro schemas (``schemas/monitoring/``) and their wire format.

Records are Avro single-object encoded (``C3 01`` + CRC-64-AVRO fingerprint + body), like the dossier
events, so any consumer holding the .avsc files can decode them without a registry.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from hub.errors import ConfigError, DecodeError
from hub.log.codec import SINGLE_OBJECT_MAGIC
from hub.log.schemas import SchemaVersion, default_schemas_root

__all__ = ["TOPICS", "MonitoringCodec", "default_codec", "record_id"]

_NS = "vn.motcua.monitoring"
TOPICS: Mapping[str, str] = {  # topic (after HUB_MONITOR_TOPIC_PREFIX, default hub.monitoring.) -> record type
    "sla": f"{_NS}.SlaCondition",
    "health": f"{_NS}.HealthAlert",
    "health-samples": f"{_NS}.HealthSample",
    "security": f"{_NS}.SecurityRefusal",
}


def record_id(*parts: object) -> str:
    """Deterministic id of a monitoring record: the same transition always gets the same id."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


class MonitoringCodec:
    """Encodes and decodes every monitoring record type; topic names map to types through TOPICS."""

    def __init__(self, root: Path | None = None) -> None:
        folder = (root or default_schemas_root()) / "monitoring"
        self.versions: dict[str, SchemaVersion] = {}
        for name in set(TOPICS.values()):
            path = folder / f"{name}.avsc"
            try:
                self.versions[name] = SchemaVersion(None, json.loads(path.read_text(encoding="utf-8")))
                self.versions[name].parsed  # noqa: B018  # parse now: a broken schema must fail at start
            except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
                raise ConfigError(f"cannot load monitoring schema {path}: {exc}") from exc
        self._by_fingerprint = {v.fingerprint: (name, v) for name, v in self.versions.items()}

    def encode(self, kind: str, record: Mapping[str, Any]) -> bytes:
        """``kind``: a key of TOPICS."""
        version = self.versions[TOPICS[kind]]
        out = io.BytesIO()
        out.write(SINGLE_OBJECT_MAGIC + version.fingerprint)
        fastavro.schemaless_writer(out, version.parsed, dict(record), strict_allow_default=True)
        return out.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """(record type, record); DecodeError for anything that is not one of ours."""
        if data is None or data[:2] != SINGLE_OBJECT_MAGIC or len(data) < 10:
            raise DecodeError("not an Avro single-object record")
        found = self._by_fingerprint.get(data[2:10])
        if found is None:
            raise DecodeError(f"unknown schema fingerprint {data[2:10].hex()}")
        name, version = found
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[10:]), version.parsed, version.parsed)
        except (EOFError, ValueError, IndexError) as exc:
            raise DecodeError(f"{name}: corrupt body: {exc}") from exc
        return name, dict(record)  # type: ignore[arg-type]  # a record schema reads as a dict


@cache
def default_codec() -> MonitoringCodec:
    return MonitoringCodec()
