"""JSON over HTTP as every REST connector calls it: a timeout on each call, an Idempotency-Key on
calls that change something, an answer read up to a byte cap (decompressed: 150 KB of gzip can be
150 MB of text), library errors and unexpected answers turned into UpstreamError."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
import tenacity

from hub.domain.identity import redact
from hub.errors import UpstreamError

__all__ = ["DEFAULT_MAX_BYTES", "JsonApi", "read_retrying"]

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
# Headers that describe the bytes on the wire, not the body handed on (already decompressed).
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

T = TypeVar("T")


def read_retrying(read: Callable[..., T], *args: Any, attempts: int = 5, **kwargs: Any) -> T:
    """A read (a lookup, a page of a list) retried on UpstreamError with jittered backoff: reads are
    safe to repeat, and one 500 must not end a reconciliation of thousands of records."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential_jitter(multiplier=0.2, max=5.0),
        retry=tenacity.retry_if_exception_type(UpstreamError),
        reraise=True,
    )
    return retrying(read, *args, **kwargs)


class JsonApi:
    def __init__(
        self,
        system: str,
        url: str,
        *,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.system = system
        self.url = url.rstrip("/")
        self.max_bytes = max_bytes
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, headers=dict(headers or {}))

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        try:
            request = self._http.build_request(method, path, headers=sent, **kwargs)
            reply = self._http.send(request, stream=True)
            try:
                body = bytearray()
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise UpstreamError(
                            f"{self.system} {path} answered more than {self.max_bytes} bytes: not read further"
                        )
            finally:
                reply.close()
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.system} {path} failed: {type(exc).__name__}: {exc}") from exc
        headers_read = [(k, v) for k, v in reply.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
        return httpx.Response(reply.status_code, headers=headers_read, content=bytes(body), request=request)

    def body(self, reply: httpx.Response, path: str) -> dict[str, Any]:
        """The JSON object of an HTTP 200 answer; UpstreamError otherwise."""
        if reply.status_code != 200:
            raise UpstreamError(f"{self.system} {path} answered HTTP {reply.status_code}: {redact(reply.text[:200])}")
        try:
            found = reply.json()
        except ValueError as exc:
            raise UpstreamError(
                f"{self.system} {path} sent a body that is not JSON: {redact(reply.text[:200])!r}"
            ) from exc
        if not isinstance(found, dict):
            raise UpstreamError(f"{self.system} {path} sent an unexpected body: {redact(repr(found)[:200])}")
        return found

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Pass ``idempotency_key=`` on every call that changes the other side: a retry cannot apply twice."""
        return self.body(self.send(method, path, **kwargs), path)

    def close(self) -> None:
        self._http.close()
