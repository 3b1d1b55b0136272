"""The national portal's API as the hub calls it: bearer tokens renewed transparently when they
expire, a timeout on every call, library errors converted to UpstreamError. ``DvcqgUpstream`` reads
the change feed of online submissions and ratings for the connector runtime."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from connectors.common.json_api import DEFAULT_MAX_BYTES, JsonApi
from connectors.common.record_fields import redact_identities
from connectors.dvcqg.mapping import map_portal_record
from hub.domain.events import Event
from hub.domain.identity import redact
from hub.errors import HubError, UpstreamError
from hub.ports import Page, UpstreamRecord

__all__ = ["DvcqgClient", "DvcqgUpstream", "PortalError"]


class PortalError(HubError):
    """One call to the portal, or a check of its answer, failed: the portal's error code (or
    "transport"), why, whether the portal may have applied it, and whether trying again can help."""

    def __init__(self, error_code: str, reason: str, *, uncertain: bool = False, retryable: bool = True) -> None:
        super().__init__(reason)
        self.error_code, self.reason, self.uncertain, self.retryable = error_code, reason, uncertain, retryable


class DvcqgClient:
    """Authenticated JSON calls. A 401 gets one fresh token and one retry; anything else is the caller's."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 10.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.api = JsonApi("DVCQG", url, timeout_s=timeout_s, max_bytes=max_bytes)
        self.url = self.api.url
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self._token: str | None = None
        self._lock = threading.Lock()
        self.renewals = 0

    def _renew(self) -> str:
        with self._lock:
            reply = self.api.send("POST", "/oauth/token", json=self._credentials)
            if reply.status_code != 200:
                raise UpstreamError(
                    f"DVCQG refused the hub's credentials: HTTP {reply.status_code} {redact(reply.text[:200])}"
                )
            self._token = str(reply.json()["access_token"])
            self.renewals += 1
            return self._token

    def _send(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return self.api.send(
            method, path, headers={**(headers or {}), "Authorization": f"Bearer {self._token}"}, **kwargs
        )

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON body of a successful call (HTTP 200); UpstreamError otherwise. Pass
        ``idempotency_key=`` on every call that changes the portal: a retry then cannot apply twice."""
        if self._token is None:
            self._renew()
        reply = self._send(method, path, **kwargs)
        if reply.status_code == 401:  # expired or revoked: renew once, transparently
            self._renew()
            reply = self._send(method, path, **kwargs)
        return self.api.body(reply, path)

    def attempt(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """``call`` as the policies make it: a transport failure is a PortalError, uncertain unless the
        call only read (the portal may have applied a write whose answer was lost)."""
        try:
            return self.call(method, path, **kwargs)
        except UpstreamError as exc:
            raise PortalError("transport", str(exc), uncertain=method != "GET") from exc

    def stream_call(
        self, method: str, path: str, content: Callable[[], Iterator[bytes]], **kwargs: Any
    ) -> dict[str, Any]:
        """``call`` with a streamed body: ``content()`` makes a fresh stream for the retry after a 401."""
        if self._token is None:
            self._renew()
        reply = self._send(method, path, content=content(), **kwargs)
        if reply.status_code == 401:
            self._renew()
            reply = self._send(method, path, content=content(), **kwargs)
        return self.api.body(reply, path)

    def close(self) -> None:
        self.api.close()


class DvcqgUpstream:
    """The portal's change feed (online submissions, ratings) as an Upstream for the connector runtime."""

    name = "dvcqg"

    def __init__(self, client: DvcqgClient, identity_key: bytes) -> None:
        self.client = client
        self.endpoint = client.url
        self.identity_key = identity_key

    def fetch(self, cursor: str | None, limit: int) -> Page:
        after = int(cursor) if cursor else 0
        body = self.client.call("GET", "/api/thaydoi", params={"tu": after, "so_luong": limit})
        if str(body.get("error_code")) != "0":
            raise UpstreamError(f"DVCQG feed error {body.get('error_code')}: {body.get('message')}")
        data = body.get("data") or []
        records = [
            UpstreamRecord(
                str(item.get("Id", "?")), item, item.get("MaHoSo") if isinstance(item.get("MaHoSo"), str) else None
            )
            for item in data
            if isinstance(item, dict)
        ]
        last = body.get("tiep_theo")
        return Page(
            records, str(last if isinstance(last, int) and last >= after else after), bool(body.get("con_du_lieu"))
        )

    def map(self, record: UpstreamRecord) -> Sequence[Event]:
        return [map_portal_record(record.raw, self.identity_key)]

    def redact(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        redacted: Mapping[str, Any] = redact_identities(raw)
        return redacted
