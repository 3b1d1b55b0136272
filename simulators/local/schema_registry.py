"""An in-memory, Confluent-compatible schema registry for the embedded demo and tests.

It speaks the subset of the REST API that producers and consumers use (register, look up by id,
list subjects and versions) with the same status and error codes, so the hub's HTTP client is
exercised over a real socket. Production points HUB_SCHEMA_REGISTRY_URL at a real registry.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import fastavro.schema
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["make_registry_app"]


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def make_registry_app() -> FastAPI:
    app = FastAPI(title="schema registry stand-in")
    lock = threading.Lock()
    schemas: list[str] = []  # id - 1 -> schema text
    ids_by_canonical: dict[str, int] = {}
    subjects: dict[str, list[int]] = {}

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> Any:
        try:
            body = await request.json()
            text = body["schema"]
            canonical = fastavro.schema.to_parsing_canonical_form(fastavro.schema.parse_schema(json.loads(text)))
        except (ValueError, KeyError, TypeError, fastavro.schema.SchemaParseException) as exc:
            return _error(422, 42201, f"Invalid schema: {exc}")
        with lock:
            # Identity is the full text: logical types matter to readers but not to canonical form.
            key = canonical + "\x00" + text
            schema_id = ids_by_canonical.get(key)
            if schema_id is None:
                schemas.append(text)
                schema_id = ids_by_canonical[key] = len(schemas)
            versions = subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        return {"id": schema_id}

    @app.get("/schemas/ids/{schema_id}")
    async def by_id(schema_id: int) -> Any:
        if not 1 <= schema_id <= len(schemas):
            return _error(404, 40403, "Schema not found")
        return {"schema": schemas[schema_id - 1]}

    @app.get("/subjects")
    async def list_subjects() -> Any:
        return sorted(subjects)

    @app.get("/subjects/{subject}/versions")
    async def versions(subject: str) -> Any:
        if subject not in subjects:
            return _error(404, 40401, "Subject not found")
        return list(range(1, len(subjects[subject]) + 1))

    @app.get("/subjects/{subject}/versions/{version}")
    async def version(subject: str, version: str) -> Any:
        ids = subjects.get(subject)
        if not ids:
            return _error(404, 40401, "Subject not found")
        index = len(ids) if version == "latest" else int(version) if version.isdigit() else 0
        if not 1 <= index <= len(ids):
            return _error(404, 40402, "Version not found")
        schema_id = ids[index - 1]
        return {"subject": subject, "version": index, "id": schema_id, "schema": schemas[schema_id - 1]}

    return app
