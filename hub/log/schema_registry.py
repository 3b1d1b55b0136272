"""Client of a Confluent-compatible schema registry (Confluent, Karapace, Apicurio's ccompat API)."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from hub.errors import UpstreamError

__all__ = ["HttpSchemaRegistry"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class HttpSchemaRegistry:
    """Registers and fetches schemas over HTTP; the codec caches ids, so each is fetched once."""

    def __init__(self, url: str, timeout_s: float = 10.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(base_url=self.url, timeout=timeout_s)

    def register(self, subject: str, schema_json: str) -> int:
        """Register (or find) the schema under the subject; the registry answers with its global id."""
        reply = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", json={"schema": schema_json})
        if reply.status_code != 200:
            raise UpstreamError(f"schema registry refused {subject}: HTTP {reply.status_code} {reply.text[:300]}")
        return int(reply.json()["id"])

    def schema_by_id(self, schema_id: int) -> str | None:
        reply = self._call("GET", f"/schemas/ids/{schema_id}")
        if reply.status_code == 404:
            return None
        if reply.status_code != 200:
            raise UpstreamError(f"schema registry failed on id {schema_id}: HTTP {reply.status_code}")
        return str(reply.json()["schema"])

    def _call(self, method: str, path: str, json: object | None = None) -> httpx.Response:
        try:
            return self._client.request(method, path, json=json, headers={"Content-Type": _CONTENT_TYPE})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"schema registry at {self.url} unreachable: {exc}") from exc

    def close(self) -> None:
        self._client.close()
