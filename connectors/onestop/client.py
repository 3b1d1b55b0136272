"""The one-stop as an Upstream: a zeep client built from the saved WSDL, with timeouts on every call,
library errors converted to UpstreamError, and digitised results enriched with their file metadata."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import zeep
import zeep.exceptions
from requests.adapters import HTTPAdapter
from zeep.helpers import serialize_object
from zeep.loader import parse_xml
from zeep.transports import Transport

from connectors.common.json_api import DEFAULT_MAX_BYTES, read_retrying
from connectors.common.record_fields import redact_identities
from connectors.onestop.fast_reply import NotPlainError, read_reply
from connectors.onestop.mapping import ENRICHMENT_KEY, map_change
from hub.domain.events import Event
from hub.errors import UpstreamError
from hub.ports import Page, UpstreamRecord

__all__ = ["WSDL", "OnestopUpstream"]

WSDL = Path(__file__).with_name("mot_cua_dien_tu.wsdl")
_SERVICE_BINDING = "{urn:motcua:mot-cua-dien-tu:v1}MotCuaDienTu"

_FAILURES: tuple[type[BaseException], ...] = (
    zeep.exceptions.Error,  # Fault, TransportError, XMLSyntaxError, ValidationError...
    requests.RequestException,  # timeouts, refused and dropped connections
    OSError,
)


# A lookup is retried where it failed (reads are safe to repeat): ending the page at it instead
# threw away the page's other lookups, made side by side, and nearly doubled the calls under faults.
_LOOKUP_ATTEMPTS = 3


def _seq(raw: Mapping[str, Any]) -> int:
    value = raw.get("MaThayDoi")
    return value if isinstance(value, int) else 0


class CappedTransport(Transport):  # type: ignore[misc]  # zeep is untyped here
    """zeep's transport reading each SOAP reply up to ``max_bytes`` (decompressed): a reply past it is
    an UpstreamError before it is parsed, however small it was on the wire."""

    def __init__(self, *args: Any, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response: requests.Response = self.session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
        )
        body = bytearray()
        try:
            for chunk in response.iter_content(65_536):
                body += chunk
                if len(body) > self.max_bytes:
                    raise UpstreamError(f"one-stop answered more than {self.max_bytes} bytes: not read further")
        finally:
            response.close()
        response._content = bytes(body)  # what requests itself keeps once a body is read
        return response


class OnestopUpstream:
    """Reads the change feed (LayDanhSachThayDoi) page by page; maps each ThayDoi to one event."""

    name = "onestop"

    def __init__(
        self,
        url: str,
        identity_key: bytes,
        *,
        timeout_s: float = 10.0,
        parallel_calls: int = 8,
        wsdl: Path = WSDL,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if parallel_calls < 1:
            raise ValueError("parallel_calls must be at least 1")
        self.endpoint = url.rstrip("/") + "/"
        self.identity_key = identity_key
        # A page's digitised results are looked up side by side: one by one, a page of 200 changes
        # with a few slow or timed-out lookups took tens of seconds (zeep clients share safely).
        self._lookups = ThreadPoolExecutor(parallel_calls, thread_name_prefix="onestop-lookup")
        session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=parallel_calls + 1)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        transport = CappedTransport(
            session=session, timeout=timeout_s, operation_timeout=timeout_s, max_bytes=max_bytes
        )
        # Offline: never fetch remote schemas; a reply carrying a DTD is refused (entity and DTD tricks).
        settings = zeep.Settings(strict=False, forbid_external=True, forbid_dtd=True)
        client = zeep.Client(str(wsdl), transport=transport, settings=settings)
        self._client, self._transport = client, transport
        self._service = client.create_service(_SERVICE_BINDING, self.endpoint)
        self._feed_operation = client.wsdl.bindings[_SERVICE_BINDING].get("LayDanhSachThayDoi")

    def _call(self, operation: str, *args: Any) -> Any:
        try:
            if operation == "LayDanhSachThayDoi":
                return self._read_feed(*args)
            return serialize_object(getattr(self._service, operation)(*args), dict)
        except zeep.exceptions.Fault as exc:
            raise UpstreamError(f"one-stop refused {operation}: {exc.message}") from exc
        except _FAILURES as exc:
            raise UpstreamError(f"one-stop {operation} failed: {type(exc).__name__}: {exc}") from exc
        except (AttributeError, ValueError, TypeError, LookupError) as exc:
            # zeep trips over replies it cannot parse (an empty 200, a cut-off body): still the upstream's fault
            raise UpstreamError(f"one-stop {operation} sent an unreadable reply: {type(exc).__name__}: {exc}") from exc

    def _read_feed(self, *args: Any) -> Any:
        """The change feed's reply read by fast_reply (the hot path); zeep reads anything else (Faults)."""
        with self._client.settings(raw_response=True):
            response = self._service.LayDanhSachThayDoi(*args)
        if response.status_code == 200 and response.content:
            envelope = parse_xml(response.content, self._transport, settings=self._client.settings)
            try:
                return read_reply(envelope, self._feed_operation)
            except NotPlainError:
                pass
        binding = self._client.wsdl.bindings[_SERVICE_BINDING]
        return serialize_object(binding.process_reply(self._client, self._feed_operation, response), dict)

    def fetch(self, cursor: str | None, limit: int) -> Page:
        after = int(cursor) if cursor else 0
        page = self._call("LayDanhSachThayDoi", after, limit) or {}
        wrapper = page.get("DanhSachThayDoi") or {}
        items = wrapper.get("ThayDoi") or [] if isinstance(wrapper, dict) else wrapper
        last = page.get("MaThayDoiCuoi")
        next_cursor = last if isinstance(last, int) and last >= after else after
        raws = sorted(({k: v for k, v in item.items() if v is not None} for item in items), key=_seq)
        lookups: dict[int, Future[dict[str, Any] | None]] = {
            i: self._lookups.submit(read_retrying, self.result_metadata, str(raw["Ma"]), attempts=_LOOKUP_ATTEMPTS)
            for i, raw in enumerate(raws)
            if raw.get("LoaiThayDoi") == "SO_HOA" and raw.get("Ma")
        }
        records: list[UpstreamRecord] = []
        for i, raw in enumerate(raws):
            if i in lookups:
                try:
                    raw[ENRICHMENT_KEY] = lookups[i].result()
                except UpstreamError:
                    for later in lookups.values():
                        later.cancel()
                    if not records or _seq(raw) <= after:
                        raise
                    # Keep what is complete; the cursor stops before this record, which is asked for again.
                    return Page(records, str(_seq(records[-1].raw)), more=True)
            code = raw.get("MaHoSo")
            key = code if isinstance(code, str) and code else None
            records.append(UpstreamRecord(str(raw.get("MaThayDoi", "?")), raw, key))
        return Page(records, str(next_cursor), bool(page.get("ConDuLieu")))

    def result_metadata(self, code: str) -> dict[str, Any] | None:
        """LayKetQuaSoHoa: metadata, SHA-256 and link of a digitised result; None if the one-stop has none."""
        try:
            return self._call("LayKetQuaSoHoa", code)  # type: ignore[no-any-return]
        except UpstreamError as exc:
            if "not found" in str(exc).lower() or "khong tim thay" in str(exc).lower():
                return None
            raise

    def results(self, page_size: int = 500) -> Iterator[dict[str, Any]]:
        """LayDanhSachKetQuaSoHoa: every digitised result the one-stop holds (metadata, hash, link)."""
        page = 1
        while True:
            found = read_retrying(self._call, "LayDanhSachKetQuaSoHoa", page, page_size) or {}
            wrapper = found.get("DanhSach") or {}
            items = wrapper.get("KetQuaSoHoa") or [] if isinstance(wrapper, dict) else wrapper
            yield from items
            if not items or page * page_size >= int(found.get("TongSo") or 0):
                return
            page += 1

    def dossier(self, code: str) -> dict[str, Any]:
        """LayChiTietHoSo: a dossier with its processing history."""
        return self._call("LayChiTietHoSo", code)  # type: ignore[no-any-return]

    def map(self, record: UpstreamRecord) -> Sequence[Event]:
        return [map_change(record.raw, self.identity_key)]

    def redact(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        redacted: Mapping[str, Any] = redact_identities(raw)
        return redacted
